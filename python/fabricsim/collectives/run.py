"""Executing a collective's schedule over a fabric: each send a message through the links
and routers, in the Rust engine; results in nccl-tests terms. Reached through
``Fabric.run(collective)`` (the workload's ``run_on``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.collectives.execution import Execution
from fabricsim.collectives.fabric_facts import bandwidths, torus_shape
from fabricsim.collectives.model import alpha_beta_ns
from fabricsim.collectives.ops import SEND
from fabricsim.collectives.tuner import estimate_us, protocol_costs
from fabricsim.collectives.verify import _match, verify_schedule
from fabricsim.errors import SpecError
from fabricsim.result import Result
from fabricsim.run_contract import RunResultBase
from fabricsim.specs import HbmSpec
from fabricsim.timeline import Events, Track, link_counters
from fabricsim.traffic.messages import MessageTraffic, messages

if TYPE_CHECKING:
    from fabricsim.collectives.api import Collective
    from fabricsim.collectives.schedule import Schedule
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions


def _twice(n: int) -> float:
    return 2 * (n - 1) / n


def _once(n: int) -> float:
    return (n - 1) / n


def _one(n: int) -> float:
    return 1.0


BUSBW_FACTOR: dict[str, Callable[[int], float]] = {
    "all_reduce": _twice,
    "reduce_scatter": _once,
    "all_gather": _once,
    "all_to_all": _once,
    "broadcast": _one,
    "reduce": _one,
}
"""nccl-tests' bus-bandwidth factors: busbw = algbw x factor, comparable across rank counts
with the link bandwidth (nccl-tests doc/PERFORMANCE.md)."""


def _u64(raw: bytes) -> npt.NDArray[np.uint64]:
    return np.frombuffer(raw, dtype="<u8")


class CollectiveResult(RunResultBase):
    """The outcome of running a collective: time, algorithm and bus bandwidth (nccl-tests
    definitions), per-operation times, per-link utilization, and the network's
    :class:`~fabricsim.Result` (``run``: one message per send, or per piece of a send with
    memory)."""

    def __init__(
        self, raw: dict[str, Any], schedule: Schedule, op: Collective | None, memory: HbmSpec | None = None
    ) -> None:
        self.schedule = schedule
        self.op = op
        n = schedule.ranks
        self.message_op: npt.NDArray[np.int64] = _u64(raw["msg_op"]).astype(np.int64)
        """Per message of ``run``: the send (row of the schedule) it carries."""
        sends = self.message_op
        traffic = MessageTraffic(
            src=schedule.rank[sends].astype(np.int64),
            dst=schedule.peer[sends].astype(np.int64),
            bytes=_u64(raw["msg_bytes"]).astype(np.int64),
            inject_ps=np.zeros(len(sends), dtype=np.int64),
            vc=np.zeros(len(sends), dtype=np.int64),
        )
        self.run = Result(raw, traffic)
        """The network's result: links, and the messages (in the order sent)."""
        num, den = self.run.cycle_ps_ratio
        finish = _u64(raw["op_finish"]).astype(np.int64)
        start = _u64(raw["op_start"]).astype(np.int64)
        self.op_start_ns = start * num / den / 1000
        """Per operation: when it started (ns)."""
        self.op_finish_ns = finish * num / den / 1000
        """Per operation: when it finished (ns): a send and its receive when the message's
        last flit was delivered (with memory: when its last piece was written at the receiver),
        a reduce or copy after its compute time (and, with memory, its writes)."""
        self.complete: bool = self.run.complete
        """Every operation finished (False in a partial result)."""
        last = int(finish.max()) if len(finish) else 0
        if self.complete:
            self.time_ns: float = (last * num // den) / 1000 if len(finish) else 0.0
        else:  # cut short: the time simulated, not that of the last operation that finished
            self.time_ns = self.run.end_ps / 1000
        """From the start to the finish of the last operation."""
        self.time_us = self.time_ns / 1000
        self.bytes = int(op.bytes) if op is not None else int(schedule.piece_bytes.sum())
        self.algbw_gbyte_per_s: float = (
            self.bytes / self.time_ns if self.time_ns > 0 and self.complete else 0.0
        )
        """Size / time (nccl-tests' algorithm bandwidth), GB/s."""
        self.busbw_gbyte_per_s: float = self.algbw_gbyte_per_s * BUSBW_FACTOR[schedule.kind](n)
        """algbw x the collective's factor (2(n-1)/n for all-reduce, ...), GB/s."""
        cycles = max(self.run.cycles, 1)
        links = self.run.links
        self.link_utilization: npt.NDArray[np.float64] = links["flits"] / cycles / links["flit_rate"]
        """Per link direction (rows of ``run.links``): the fraction of its capacity it carried
        (of the cycles it carried a flit, for links at the fabric's full rate)."""

        self.protocol: str = "simple"
        """The protocol whose costs the run carried (``"simple"``, ``"ll128"``, ``"ll"``)."""
        self.library: str = ""
        """The name of the library whose costs the run carried (``"nccl"``, ``"ideal"``, ...)."""
        self.chunks: int = int(op.chunks or 1) if op is not None else 1
        """Pieces per segment the schedule was built with (chosen by the tuner unless given)."""
        self.analytical_us: float = math.nan
        """The alpha-beta estimate of the same algorithm (``fabricsim.collectives.model``)."""
        self.bottleneck: str = ""
        """Where the time went: ``latency-limited`` (the estimate's alpha terms dominate),
        ``link-limited`` (a link was busy most of the run: ``busiest_link``), ``memory-limited``
        (with memory, no link was, and a rank's HBM moved data at half its peak or more) or
        ``protocol-limited`` (none of those, and the estimate with the library's latencies and its
        protocol's wire bytes accounts for the time within 10%: LL's flags, LL128's per-hop
        latency) or ``switch-limited`` (slower than that estimate by more, no link saturated:
        contention inside the routers, or a switch's reduction throughput)."""
        self.memory: list[dict[str, Any]] = list(raw["memory"])
        """With memory: per rank, its HBM stack's counters (reads, writes, row hits, ...)."""
        self.memory_utilization: npt.NDArray[np.float64] = np.zeros(len(self.memory))
        """With memory: per rank, the bytes its stack moved over the run's time, as a fraction
        of the stack's peak bandwidth."""
        if memory is not None and self.memory and self.time_ns > 0:
            r = memory.resolved()
            moved = np.array([m["reads"] + m["writes"] for m in self.memory], dtype=np.float64)
            self.memory_utilization = (
                moved * int(r["access_bytes"]) / self.time_ns / float(r["peak_gbyte_per_s"])
            )
        busiest = int(np.argmax(self.link_utilization)) if len(links) else -1
        self.busiest_link: tuple[int, int] = (
            (int(links["src"][busiest]), int(links["dst"][busiest])) if busiest >= 0 else (-1, -1)
        )
        """(src, dst) of the busiest link direction (nodes as in ``run.links``)."""
        ranks = schedule.rank.astype(np.int64)
        done = self.op_finish_ns
        self.rank_finish_us: npt.NDArray[np.float64] = np.zeros(n)
        """Per rank: when its last operation finished (us)."""
        own = ranks < n  # helpers (switch reduction units) are not ranks
        if len(done):
            np.maximum.at(self.rank_finish_us, ranks[own], done[own] / 1000)
        sends = (schedule.op == SEND) & own
        self.rank_bytes_sent: npt.NDArray[np.int64] = np.bincount(
            ranks[sends], weights=schedule.bytes[sends], minlength=n
        ).astype(np.int64)
        """Per rank: the bytes its sends put on the fabric."""

    @property
    def simulated_time_ps(self) -> int:
        return self.run.end_ps

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``operations`` (one row an operation of the schedule: kind, rank, peer, bytes, start
        and finish), then the network's ``messages`` and ``links``."""
        s = self.schedule
        ops = np.zeros(
            len(s.op),
            dtype=[
                ("op", "U6"),
                ("rank", np.int32),
                ("peer", np.int32),
                ("bytes", np.int64),
                ("start_ns", np.float64),
                ("finish_ns", np.float64),
            ],
        )
        ops["op"] = np.array(["send", "recv", "reduce", "copy"])[s.op]
        ops["rank"], ops["peer"], ops["bytes"] = s.rank, s.peer, s.bytes
        ops["start_ns"], ops["finish_ns"] = self.op_start_ns, self.op_finish_ns
        return {"operations": ops, **self.run.tables()}

    def _timeline(self) -> list[Events]:
        """Per rank (and switch reduction unit), a span per operation of the schedule (send,
        receive, reduce, copy) from its start to its finish; per link direction, its
        utilization (per interval with ``link_samples=N``, else its mean) and, with
        ``link_spans=N``, a span per message (a send's piece) that crossed it."""
        s = self.schedule
        n = s.ranks
        units = int(s.rank.max(initial=0)) + 1 - n if len(s.rank) else 0
        tracks = [Track("ranks (operations)", f"rank {r}") for r in range(n)]
        tracks += [Track("switch reduction units", f"unit {u}") for u in range(max(units, 0))]
        kinds = np.array(["send", "recv", "reduce", "copy"])[s.op]
        peers = s.peer.tolist()
        labels = [
            f"{k} {p}" if k in ("send", "recv") else str(k)
            for k, p in zip(kinds.tolist(), peers, strict=True)
        ]
        ops = Events(
            name="operation",
            tracks=tracks,
            track_of=s.rank.astype(np.int64),
            start_ps=self.op_start_ns * 1000,
            dur_ps=(self.op_finish_ns - self.op_start_ns) * 1000,
            labels=labels,
            args={"bytes": s.bytes, "op": np.arange(len(s.op))},
        )
        num, den = self.run.cycle_ps_ratio
        links = link_counters(
            self.run.links, float(self.run.end_ps), self.run.num_endpoints, self.run.link_samples, num / den
        )
        return [ops, links, *self.run._crossings()]

    def _headline(self) -> dict[str, Any]:
        return {
            "collective": self.schedule.kind,
            "algorithm": self.schedule.algorithm,
            "protocol": self.protocol,
            "chunks": self.chunks,
            "library": self.library,
            "ranks": self.schedule.ranks,
            "bytes": self.bytes,
            "time_us": self.time_us,
            "algbw_gbyte_per_s": self.algbw_gbyte_per_s,
            "busbw_gbyte_per_s": self.busbw_gbyte_per_s,
            "analytical_us": self.analytical_us,
            "bottleneck": self.bottleneck,
            "busiest_link": self.busiest_link,
            "busiest_link_utilization": float(self.link_utilization.max(initial=0)),
        }

    def link_matrix(self) -> npt.NDArray[np.float64]:
        """Link utilization as a ``nodes x nodes`` matrix: entry ``(a, b)`` is the fraction of
        cycles the link direction from node ``a`` to node ``b`` carried a flit (nodes as in
        ``run.links``: endpoints, then routers; 0 where there is no link)."""
        links = self.run.links
        nodes = int(max(links["src"].max(initial=0), links["dst"].max(initial=0))) + 1 if len(links) else 0
        m = np.zeros((nodes, nodes))
        np.maximum.at(
            m, (links["src"].astype(np.int64), links["dst"].astype(np.int64)), self.link_utilization
        )
        return m

    def plot_links(self, path: str | Path) -> Path:
        """A heat map of :meth:`link_matrix` (rows: sending node, columns: receiving node), as
        a PNG; endpoints come first, then routers."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        m = self.link_matrix()
        fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
        image = ax.imshow(m, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        fig.colorbar(image, ax=ax, label="utilization")
        n = self.run.num_endpoints
        if n < len(m):
            for x in (n - 0.5,):
                ax.axhline(x, color="white", linewidth=0.8)
                ax.axvline(x, color="white", linewidth=0.8)
        ax.set_xlabel(f"to node (endpoints 0..{n - 1}, then routers)")
        ax.set_ylabel("from node")
        ax.set_title(f"{self.schedule.kind} ({self.schedule.algorithm}): link utilization")
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
        plt.close(fig)
        return out

    def _attribute(
        self,
        alpha_ns: float,
        gbyte_per_s: float,
        dims: tuple[int, ...] | None = None,
        out_gbyte_per_s: float | None = None,
        fab: Fabric | None = None,
    ) -> None:
        s = self.schedule
        chunks = int(self.op.chunks or 1) if self.op is not None else 1
        name = s.algorithm if self.op is None or isinstance(self.op.algorithm, str) else "custom"
        if self.op is not None and self.op.dims is not None:
            dims = self.op.dims
        local = self.op.local if self.op is not None else None
        wire = 1.0
        library_us = 0.0
        if self.op is not None and fab is not None and isinstance(self.op.algorithm, str):
            # the library's launch and hop latencies and its protocol's wire bytes, as the
            # tuner weighed them
            library = self.op.execution.library
            empty = replace(self.op, bytes=0)
            library_us = estimate_us(empty, fab, name, self.protocol, library, chunks)
            wire = (
                library.nvls_wire_bytes_per_byte(s.ranks)
                if name == "nvls"
                else library.costs(self.protocol).wire_bytes_per_byte
            )
        est = library_us * 1000 + alpha_beta_ns(
            s.kind,
            name,
            s.ranks,
            round(self.bytes * wire),
            alpha_ns,
            gbyte_per_s,
            chunks,
            dims,
            local,
            out_gbyte_per_s,
        )
        latency = library_us * 1000 + alpha_beta_ns(
            s.kind, name, s.ranks, 0, alpha_ns, gbyte_per_s, chunks, dims, local, out_gbyte_per_s
        )
        self.analytical_us = est / 1000
        if latency >= est - latency:
            self.bottleneck = "latency-limited"
        elif float(self.link_utilization.max(initial=0)) >= 0.8:
            self.bottleneck = "link-limited"
        elif float(self.memory_utilization.max(initial=0)) >= 0.5:
            self.bottleneck = "memory-limited"
        elif library_us > 0 and self.time_ns <= 1.1 * est:
            # no link saturated, and the estimate, which carries the library's latencies and
            # its protocol's wire bytes, accounts for the time: the protocol sets the pace
            self.bottleneck = "protocol-limited"
        else:
            self.bottleneck = "switch-limited"

    def summary(self) -> str:
        s = self.schedule
        return (
            f"{s.kind} ({s.algorithm}, {self.protocol}, {self.chunks} chunks) of {self.bytes} B over {s.ranks} ranks: {self.time_us:.3f} us "
            f"(alpha-beta {self.analytical_us:.3f} us), algbw {self.algbw_gbyte_per_s:.2f} GB/s, "
            f"busbw {self.busbw_gbyte_per_s:.2f} GB/s, {self.bottleneck}; busiest link "
            f"{self.busiest_link[0]}->{self.busiest_link[1]} {100 * float(self.link_utilization.max(initial=0)):.1f}% busy"
        )

    def __repr__(self) -> str:
        return f"<CollectiveResult {self.summary()}>"


def execute_schedule(
    fab: Fabric,
    schedule: Schedule,
    collective: Collective | None,
    options: RunOptions,
    execution: Execution | None = None,
    delay_ps: npt.NDArray[np.int64] | None = None,
) -> CollectiveResult:
    """Runs ``schedule`` (built from ``collective``, or given as it is) over ``fab`` with
    ``execution`` (default: the schedule's). Each send becomes a message; a reduce or copy
    takes ``bytes x *_ns_per_byte``; see :class:`~fabricsim.collectives.execution.Execution`.
    ``delay_ps``: per operation the latency it waits before it starts, in place of the
    library's (a schedule made of many calls, e.g. a whole training step, says its own)."""
    how = execution if execution is not None else schedule.execution
    units = fab.topology.reduction_units
    if schedule.ranks != fab.num_ranks or schedule.helpers not in (0, len(units)):
        raise SpecError(
            f"op: the schedule has {schedule.ranks} ranks and {schedule.helpers} helpers, the fabric "
            f"{fab.num_ranks} ranks and {len(units)} reduction units",
            path="op",
        )
    matched = _verified(schedule, collective) if how.verify else _match(schedule)
    memory_json = None
    if how.memory:
        if fab.hbm is None:
            raise SpecError(
                "memory: the fabric has no HBM; build it with Fabric(..., hbm=fs.HbmSpec.preset(...))",
                path="hbm",
            )
        memory_json = json.dumps(
            {
                "hbm": fab.hbm.to_dict(),
                "controller": fab.controller.to_dict(),
                "piece_bytes": how.piece_bytes,
            }
        )
    if (options.faults and options.fidelity != "flow") or options.watchdog_cycles != 1_000_000:
        raise SpecError(
            'options: faults (at fidelity "cycle") and watchdog_cycles are not supported for collectives yet; '
            'at fidelity "flow" link_down, link_slow and link_failed are',
            path="options",
        )

    protocol = collective.protocol if collective is not None and collective.protocol != "auto" else "simple"
    library_delay_ps, wire = protocol_costs(schedule, fab, how.library, protocol)
    if delay_ps is None:
        delay_ps = library_delay_ps
    elif len(delay_ps) != len(schedule.op):
        raise SpecError(
            f"delay_ps: must give one delay per operation ({len(schedule.op)}), got {len(delay_ps)}",
            path="delay_ps",
        )
    # each column in its own width (op u8; ranks, matches, deps i32; sizes i64): the engine
    # reads them in place
    raw = _core.run_collective(
        fab._json,
        options.engine_json(),
        _le(schedule.op, "<u1"),
        _le(schedule.rank, "<i4"),
        _le(schedule.peer, "<i4"),
        _le(schedule.bytes, "<i8"),
        _le(matched, "<i4"),
        _le(schedule.dep_ptr, "<i8"),
        _le(schedule.deps, "<i4"),
        how.reduce_ns_per_byte * 1000.0,
        how.copy_ns_per_byte * 1000.0,
        _le(delay_ps, "<i8") if delay_ps.any() else b"",
        wire,
        memory_json,
    )
    res = CollectiveResult(raw, schedule, collective, fab.hbm if how.memory else None)
    res.protocol = protocol
    res.library = how.library.name
    alpha, _ = _alpha_beta(fab)
    gbyte_per_s, out_gbyte_per_s = bandwidths(fab)
    res._attribute(alpha, gbyte_per_s, torus_shape(fab), out_gbyte_per_s, fab)
    return res


def _le(column: npt.ArrayLike, dtype: str) -> bytes:
    """A column as the engine reads it: little-endian ``dtype`` bytes."""
    return np.ascontiguousarray(column, dtype=dtype).tobytes()


_VERIFIED: dict[tuple[Any, ...], npt.NDArray[np.int64]] = {}
"""Generated schedules verified, by shape (at most :data:`VERIFIED_SHAPES`): a sweep over
sizes or fabrics verifies each algorithm's schedule once."""
VERIFIED_SHAPES = 8


def _verified(schedule: Schedule, collective: Collective | None) -> npt.NDArray[np.int64]:
    """``verify_schedule``, once per shape of a generated schedule (a named algorithm's
    schedule is fixed by its kind, algorithm, ranks, pieces, helpers, root and node size; the
    sizes of its pieces do not change what it computes). Each receive's send, as verified."""
    if collective is None or not isinstance(collective.algorithm, str):
        return verify_schedule(schedule)
    s = schedule
    key = (
        s.kind,
        s.algorithm,
        s.ranks,
        s.pieces,
        s.helpers,
        s.root,
        collective.local,
        collective.dims,
        len(s),
    )
    if key not in _VERIFIED:
        if len(_VERIFIED) >= VERIFIED_SHAPES:
            _VERIFIED.pop(next(iter(_VERIFIED)))
        _VERIFIED[key] = verify_schedule(s)
    return _VERIFIED[key]


_ALPHA_BETA: dict[str, tuple[float, float]] = {}
"""Per fabric (its canonical JSON): (alpha, beta), measured once (a sweep runs many
collectives on one fabric)."""


def _alpha_beta(fab: Fabric) -> tuple[float, float]:
    """alpha: the zero-load latency of a one-flit message from endpoint 0 to 1 (ns); beta: one
    endpoint's injection goodput over all its ports (GB/s)."""
    if fab._json in _ALPHA_BETA:
        return _ALPHA_BETA[fab._json]
    # (a lone message arrives at flow fidelity when the cycle engine delivers it, to the
    # cycle; and the flow model builds nothing per router: a 16,384-GPU fabric probes fast)
    probe = fab.run(messages(0, 1, 1), check_deadlock=False, fidelity="flow")
    alpha = float(probe.messages["latency_ps"][0]) / 1000
    gbyte_per_s, _ = bandwidths(fab)
    _ALPHA_BETA[fab._json] = (alpha, gbyte_per_s)
    return alpha, gbyte_per_s


__all__ = ["BUSBW_FACTOR", "CollectiveResult", "execute_schedule", "torus_shape"]
