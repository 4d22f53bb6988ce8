"""Parameter sweeps over a fabric: latency against offered load."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from fabricsim.analysis.executors import Executor, run_all
from fabricsim.errors import SpecError
from fabricsim.fabric import Fabric
from fabricsim.run_options import RunOptions
from fabricsim.traffic.messages import MAX_MESSAGE_BYTES as MAX_BYTES
from fabricsim.traffic.synthetic import Injection, PacketFlits, synthetic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class LoadPoint:
    offered: float
    """Offered load, flits per endpoint per cycle."""
    accepted: float
    """Flits delivered during the measurement window, per endpoint per cycle (throughput)."""
    latency_mean: float
    """Cycles from creation to delivery of packets created in the measurement window (source
    queueing included); ``inf`` when saturated."""
    latency_p99: float
    saturated: bool


@overload
def _plot_lines(
    path: str | Path,
    lines: list[tuple[str | None, list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    log2_x: bool = False,
) -> Path: ...


@overload
def _plot_lines(
    path: None,
    lines: list[tuple[str | None, list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    log2_x: bool = False,
) -> Figure: ...


def _plot_lines(
    path: str | Path | None,
    lines: list[tuple[str | None, list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    log2_x: bool = False,
) -> Path | Figure:
    """A PNG at ``path`` with one marked line per ``(label, xs, ys)``, returning its path; or,
    without a path, the matplotlib figure (for a notebook)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")  # (a file needs no display)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, xs, ys in lines:
        ax.plot(xs, ys, "o-", label=label)
    if log2_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if any(label is not None for label, _, _ in lines):
        ax.legend()
    fig.tight_layout()
    if path is None:
        return fig
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


@dataclass
class Curve:
    pattern: str
    points: list[LoadPoint] = field(default_factory=list)

    @property
    def saturation(self) -> float:
        """Highest accepted load reached (the saturation throughput if the sweep got there)."""
        return max((p.accepted for p in self.points), default=0.0)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns, for a DataFrame."""
        names = ("offered", "accepted", "latency_mean", "latency_p99", "saturated")
        return {n: [getattr(p, n) for p in self.points] for n in names}

    @overload
    def plot(self, path: str | Path) -> Path: ...

    @overload
    def plot(self, path: None = None) -> Figure: ...

    def plot(self, path: str | Path | None = None) -> Path | Figure:
        """Latency against offered load: a PNG at ``path``, or without one the matplotlib figure."""
        ok = [p for p in self.points if not p.saturated]
        lines: list[tuple[str | None, list[float], list[float]]] = [
            (None, [p.offered for p in ok], [p.latency_mean for p in ok])
        ]
        return _plot_lines(
            path,
            lines,
            "offered load (flits/endpoint/cycle)",
            "mean packet latency (cycles)",
            f"{self.pattern} traffic; saturation at about {self.saturation:.3f}",
        )


def latency_throughput(
    fab: Fabric,
    pattern: str,
    rates: Any,
    packet_flits: PacketFlits = 1,
    warmup_cycles: int = 2000,
    measure_cycles: int = 4000,
    drain_factor: int = 4,
    seed: int = 0,
    stop_after_saturation: bool = True,
    injection: Injection = "bernoulli",
    workers: int = 1,
    executor: Executor | None = None,
    progress: bool | None = None,
    **pattern_options: Any,
) -> Curve:
    """Runs ``pattern`` at each offered rate (flits/endpoint/cycle): ``injection`` (Bernoulli or
    periodic) of packets of ``packet_flits`` (or a ``{flits: weight}`` mix) for
    ``warmup_cycles + measure_cycles``, statistics over packets created in the measurement
    window, then drain. A point is saturated when those packets are not all delivered within
    ``drain_factor`` times the injection time, or their mean latency exceeds ten times the
    lowest-load mean; the sweep stops after the first saturated point unless told not to.

    ``workers > 1`` runs the rates on that many threads (the engine releases the GIL while it
    runs), ``executor`` on a ``concurrent.futures`` executor or a ``dask.distributed.Client``
    (:mod:`fabricsim.analysis.executors`): the same curve; those run every rate and drop the
    points past the first saturated one."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpecError(f"workers: must be an integer >= 1, got {workers!r}", path="workers")
    todo = [float(r) for r in np.asarray(rates, dtype=float)]
    spec = {
        "pattern": pattern,
        "warmup_cycles": warmup_cycles,
        "measure_cycles": measure_cycles,
        "packet_flits": packet_flits,
        "seed": seed,
        "drain_factor": drain_factor,
        "injection": injection,
        **pattern_options,
    }
    stop = (lambda p: bool(p[3])) if stop_after_saturation else None
    outs = run_all(_load_point, todo, (fab, spec), executor, workers, stop, progress)
    curve = Curve(pattern)
    base: float | None = None
    for rate, (mean, p99, accepted, stopped) in zip(todo, outs, strict=False):
        if base is None and math.isfinite(mean):
            base = mean
        saturated = stopped or (base is not None and mean > 10 * base)
        curve.points.append(LoadPoint(rate, float(accepted), mean, p99, bool(saturated)))
        if saturated and stop_after_saturation:
            break
    return curve


def _load_point(rate: float, fab: Fabric, spec: dict[str, Any]) -> tuple[float, float, float, bool]:
    """(mean latency, p99 latency, accepted rate, saturated) of ``spec``'s load at ``rate``
    (a top-level function: process pools and Dask workers pickle it)."""
    load = synthetic(spec["pattern"], rate=rate, **{k: v for k, v in spec.items() if k != "pattern"})
    res = fab.run(load, seed=spec["seed"])
    lat = res.packet_latency_cycles
    mean = float(lat.mean()) if lat.size else float("inf")
    p99 = float(np.percentile(lat, 99)) if lat.size else float("inf")
    return mean, p99, res.accepted_rate, res.saturated


@dataclass(frozen=True)
class CollectivePoint:
    size: int
    algorithm: str
    time_us: float
    algbw_gbyte_per_s: float
    busbw_gbyte_per_s: float
    analytical_us: float
    bottleneck: str
    chosen: str = ""
    """What ran: ``algorithm/protocol`` (the tuner's choice where ``algorithm`` is ``auto``)."""


@dataclass
class CollectiveTable:
    """One row per (size, algorithm): nccl-tests' columns plus the alpha-beta estimate."""

    kind: str
    points: list[CollectivePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns, for a DataFrame."""
        names = (
            "size",
            "algorithm",
            "time_us",
            "algbw_gbyte_per_s",
            "busbw_gbyte_per_s",
            "analytical_us",
            "bottleneck",
            "chosen",
        )
        return {n: [getattr(p, n) for p in self.points] for n in names}

    def best(self, size: int) -> CollectivePoint:
        """The fastest algorithm at ``size``."""
        return min((p for p in self.points if p.size == size), key=lambda p: p.time_us)

    def __str__(self) -> str:
        lines = [
            f"{'size':>12} {'algorithm':>18} {'time us':>10} {'algbw':>8} {'busbw':>8} {'alpha-beta':>11}  "
            f"{'ran':<16} bottleneck"
        ]
        for p in self.points:
            lines.append(
                f"{p.size:>12} {p.algorithm:>18} {p.time_us:10.3f} {p.algbw_gbyte_per_s:8.2f} {p.busbw_gbyte_per_s:8.2f} "
                f"{p.analytical_us:11.3f}  {p.chosen:<16} {p.bottleneck}"
            )
        return "\n".join(lines)

    @overload
    def plot(self, path: str | Path) -> Path: ...

    @overload
    def plot(self, path: None = None) -> Figure: ...

    def plot(self, path: str | Path | None = None) -> Path | Figure:
        """Bus bandwidth against size, one line per algorithm: a PNG at ``path``, or without
        one the matplotlib figure."""
        lines: list[tuple[str | None, list[float], list[float]]] = []
        for alg in dict.fromkeys(p.algorithm for p in self.points):
            pts = [p for p in self.points if p.algorithm == alg]
            lines.append((alg, [float(p.size) for p in pts], [p.busbw_gbyte_per_s for p in pts]))
        return _plot_lines(path, lines, "size (bytes)", "bus bandwidth (GB/s)", self.kind, log2_x=True)


def sizes(lo: int | str, hi: int | str, factor: int = 2) -> list[int]:
    """Sizes from ``lo`` to ``hi`` (bytes, or strings like ``"1KiB"``, ``"1GiB"``),
    multiplying by ``factor`` (an integer >= 2): ``sizes("1KiB", "4KiB") == [1024, 2048, 4096]``."""

    def parse(name: str, x: int | str) -> int:
        n: int | None = None
        if isinstance(x, str):
            units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "B": 1}
            text = x.strip()
            scale = next((m for u, m in units.items() if text.endswith(u)), 1)
            number = next((text[: -len(u)] for u in units if text.endswith(u)), text)
            try:
                n = int(float(number) * scale)
            except ValueError:
                n = None
        elif not isinstance(x, bool):
            try:
                n = operator.index(x)
            except TypeError:
                n = None
        if n is None or not 1 <= n <= MAX_BYTES:
            raise SpecError(
                f"{name}: must be a size in 1..={MAX_BYTES} bytes (an integer or a string like '4KiB'), got {x!r}",
                path=name,
            )
        return n

    a, b = parse("lo", lo), parse("hi", hi)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise SpecError(f"factor: must be an integer >= 2, got {factor!r}", path="factor")
    if b < a:
        raise SpecError(f"hi: must be >= lo ({a}), got {b}", path="hi")
    out = []
    while a <= b:
        out.append(a)
        a *= factor
    return out


def collective(
    fab: Fabric,
    kind: str,
    sizes: list[int],
    algorithms: list[str] | None = None,
    chunks: int | None = None,
    options: RunOptions | None = None,
    protocol: str = "auto",
    executor: Executor | None = None,
    workers: int = 1,
    progress: bool | None = None,
    **settings: Any,
) -> CollectiveTable:
    """Runs collective ``kind`` at every size with every algorithm (default ``["auto"]``: the
    tuner's choice per size, as nccl-tests runs NCCL) over ``fab``; ``chunks`` and
    ``protocol`` default to the tuner's; ``settings`` are run options (``seed``,
    ``max_time_ns``, ...; see :class:`~fabricsim.RunOptions`) or the collective's execution
    settings (``memory=True``, ``library="ideal"``, ...). ``executor`` (a ``concurrent.futures``
    executor or a ``dask.distributed.Client``) or ``workers`` threads run the points
    (:mod:`fabricsim.analysis.executors`): the same table."""
    from fabricsim.collectives.execution import Execution

    execution = {k: v for k, v in settings.items() if k in Execution.names()}
    overrides = {k: v for k, v in settings.items() if k not in execution}
    cases = [(size, alg) for size in sizes for alg in algorithms or ["auto"]]
    spec = {"kind": kind, "chunks": chunks, "protocol": protocol, "execution": execution}
    table = CollectiveTable(kind)
    args = (fab, spec, options, overrides)
    for point in run_all(_collective_point, cases, args, executor, workers, progress=progress):
        table.points.append(point)
    return table


def _collective_point(
    case: tuple[int, str],
    fab: Fabric,
    spec: dict[str, Any],
    options: RunOptions | None,
    overrides: dict[str, Any],
) -> CollectivePoint:
    """One (size, algorithm) of a collective sweep (top-level: process pools and Dask
    workers pickle it)."""
    from fabricsim import collectives

    size, alg = case
    build = getattr(collectives, spec["kind"])
    op = build(
        bytes=size, algorithm=alg, chunks=spec["chunks"], protocol=spec["protocol"], **spec["execution"]
    )
    res = fab.run(op, options, **overrides)
    return CollectivePoint(
        size,
        alg,
        res.time_us,
        res.algbw_gbyte_per_s,
        res.busbw_gbyte_per_s,
        res.analytical_us,
        res.bottleneck,
        f"{res.schedule.algorithm}/{res.protocol}",
    )


@dataclass(frozen=True)
class LatencyPoint:
    outstanding: int
    bandwidth_gbyte_per_s: float
    latency_mean_ns: float
    latency_p50_ns: float
    latency_p99_ns: float
    fabric_mean_ns: float
    """The part of the mean latency spent in the fabric (both directions)."""
    memory_mean_ns: float


@dataclass
class LoadedLatency:
    """The loaded-latency curve of one target: latency against achieved bandwidth as the
    requests in flight rise."""

    target: str
    points: list[LatencyPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns, for a DataFrame."""
        names = (
            "outstanding",
            "bandwidth_gbyte_per_s",
            "latency_mean_ns",
            "latency_p50_ns",
            "latency_p99_ns",
            "fabric_mean_ns",
            "memory_mean_ns",
        )
        return {n: [getattr(p, n) for p in self.points] for n in names}

    def __str__(self) -> str:
        lines = [
            f"{self.target}: {'in flight':>9} {'GB/s':>9} {'mean ns':>9} {'p99 ns':>9} {'fabric':>8} {'memory':>8}"
        ]
        for p in self.points:
            lines.append(
                f"{'':>{len(self.target) + 1}} {p.outstanding:>9} {p.bandwidth_gbyte_per_s:9.2f} {p.latency_mean_ns:9.1f} "
                f"{p.latency_p99_ns:9.1f} {p.fabric_mean_ns:8.1f} {p.memory_mean_ns:8.1f}"
            )
        return "\n".join(lines)


def loaded_latency(
    fab: Fabric,
    requester: int,
    target: str | int,
    outstanding: list[int],
    pattern: Literal["random", "stream"] = "random",
    bytes: int = 64,
    requests: int = 5000,
    read_ratio: float = 1.0,
    seed: int = 0,
    executor: Executor | None = None,
    workers: int = 1,
    progress: bool | None = None,
) -> LoadedLatency:
    """Runs ``requests`` requests of ``bytes`` from ``requester`` to ``target`` with each number
    of requests in flight (a closed loop: the offered load rises with it) and records
    bandwidth and latency: the classic loaded-latency curve. ``executor`` / ``workers``: as
    :func:`collective`."""
    curve = LoadedLatency(str(target) if not isinstance(target, int) else f"peer:{target}")
    spec = {
        "requester": requester,
        "target": target,
        "pattern": pattern,
        "bytes": bytes,
        "requests": requests,
        "read_ratio": read_ratio,
        "seed": seed,
    }
    curve.points.extend(
        run_all(
            _latency_point, [int(k) for k in outstanding], (fab, spec), executor, workers, progress=progress
        )
    )
    return curve


def _latency_point(k: int, fab: Fabric, spec: dict[str, Any]) -> LatencyPoint:
    """One point of a loaded-latency curve: ``k`` requests in flight (top-level: picklable)."""
    from fabricsim.memory.load import loads

    load = loads(
        spec["requester"],
        spec["target"],
        pattern=spec["pattern"],
        bytes=spec["bytes"],
        outstanding=k,
        requests=spec["requests"],
        read_ratio=spec["read_ratio"],
    )
    q = fab.run(load, seed=spec["seed"]).requesters[0]
    return LatencyPoint(
        k,
        q.bandwidth_gbyte_per_s,
        float(q.latency_ns.mean()),
        q.percentile_ns(50),
        q.percentile_ns(99),
        float(q.fabric_ns.mean()),
        float(q.memory_ns.mean()),
    )


class LoadedLatencyTable(dict[str, LoadedLatency]):
    """Loaded-latency curves by target (local HBM, a peer's HBM, an expander, ...)."""

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.values())

    @overload
    def plot(self, path: str | Path) -> Path: ...

    @overload
    def plot(self, path: None = None) -> Figure: ...

    def plot(self, path: str | Path | None = None) -> Path | Figure:
        """Latency against achieved bandwidth, one line per target: a PNG at ``path``, or
        without one the matplotlib figure."""
        lines: list[tuple[str | None, list[float], list[float]]] = [
            (target, [p.bandwidth_gbyte_per_s for p in c.points], [p.latency_mean_ns for p in c.points])
            for target, c in self.items()
        ]
        return _plot_lines(path, lines, "achieved bandwidth (GB/s)", "mean latency (ns)", "loaded latency")


def loaded_latency_table(
    fab: Fabric, requester: int, targets: list[str], outstanding: list[int], **options: Any
) -> LoadedLatencyTable:
    """:func:`loaded_latency` for each target (e.g. ``["local", "peer:1", "expander:0"]``)."""
    return LoadedLatencyTable((t, loaded_latency(fab, requester, t, outstanding, **options)) for t in targets)


__all__ = [
    "CollectivePoint",
    "CollectiveTable",
    "Curve",
    "LatencyPoint",
    "LoadPoint",
    "LoadedLatency",
    "LoadedLatencyTable",
    "collective",
    "latency_throughput",
    "loaded_latency",
    "loaded_latency_table",
    "sizes",
]
