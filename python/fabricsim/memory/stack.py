"""Running requests on one HBM stack: :func:`run_memory` and its :class:`MemoryResult`."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.errors import SpecError
from fabricsim.run_contract import RunResultBase, engine_hooks, require_complete
from fabricsim.run_options import RunOptions, resolve
from fabricsim.specs import ControllerSpec, HbmSpec, le_bytes
from fabricsim.timeline import Events, Track
from fabricsim.traffic.stack_requests import MemoryColumns, MemoryTraffic

COMMANDS = ("ACT", "PRE", "RD", "WR", "REFab", "REFsb")

STACK_TOTALS: tuple[tuple[str, str], ...] = tuple(_core.stack_total_columns())
"""An HBM stack's totals, ``(name, doc)``: declared once in the engine
(``rust/core/src/hbm/sink.rs``, ``StackTotals``)."""
"""Command names; ``COMMAND_DTYPE``'s ``command`` field indexes this tuple."""

COMMAND_DTYPE = np.dtype(
    [
        ("cycle", np.int64),
        ("channel", np.uint16),
        ("pseudo_channel", np.uint8),
        ("sid", np.uint8),
        ("bank_group", np.uint8),
        ("bank", np.uint8),
        ("command", np.uint8),  # index into COMMANDS
        ("row", np.int64),
    ]
)
"""One DRAM command of a trace: CK cycle, where, which command, which row (ACT, RD, WR)."""


def _u64(raw: bytes) -> npt.NDArray[np.uint64]:
    return np.frombuffer(raw, dtype="<u8")


class MemoryResult(RunResultBase):
    """The outcome of :func:`run_memory`. Latencies are in ns; arrays are numpy."""

    def __init__(
        self, raw: dict[str, Any], hbm: HbmSpec, controller: ControllerSpec, cols: MemoryColumns
    ) -> None:
        self._raw = raw
        self.hbm = hbm
        self.controller = controller
        arrival, nbytes, write = cols.arrival_cycle, cols.bytes, cols.write
        res = hbm.resolved()
        self.complete: bool = bool(raw["complete"])
        """Every request finished (False when a limit stopped the run)."""
        self.cycles: int = int(raw["cycles"])
        """CK cycles simulated."""
        self.tck_ns: float = float(raw["tck_ns"])
        self.time_ns: float = self.cycles * self.tck_ns
        self.wall_seconds: float = float(raw["wall_seconds"])
        """Wall time of the cycle loop (not part of the deterministic result)."""
        self.peak_gbyte_per_s: float = float(res["peak_gbyte_per_s"])
        # The engine marks "never" as u64::MAX, which reads as -1 in int64.
        admitted = _u64(raw["admitted"]).view(np.int64)
        finished = _u64(raw["finished"]).view(np.int64)
        done = finished >= 0
        self.requests: int = len(arrival)
        self.finished_requests: int = int(done.sum())
        self.arrival_cycle = arrival
        """Per request: CK cycle it arrived (as given)."""
        self.admitted_cycle = admitted.copy()
        """Per request: CK cycle the front end let it in (-1: never), later than arrival when
        ``outstanding`` requests were already in the memory."""
        self.finished_cycle = finished.copy()
        """Per request: CK cycle its last data beat finished (-1: did not)."""
        lat = (self.finished_cycle - self.admitted_cycle).astype(np.float64) * self.tck_ns
        is_write = write.astype(bool)
        self.latency_ns: npt.NDArray[np.float64] = np.where(done, lat, np.nan)
        """Per request: ns from admission to its last data beat (NaN if unfinished)."""
        self.read_latency_ns: npt.NDArray[np.float64] = lat[done & ~is_write]
        """Latencies of the finished reads, ns (admission to last data beat)."""
        self.write_latency_ns: npt.NDArray[np.float64] = lat[done & is_write]
        """Latencies of the finished writes, ns (admission to the end of the write data)."""
        self.bytes_moved: int = int(nbytes[done].sum())
        if self.finished_requests:
            span = int(self.finished_cycle[done].max()) - int(arrival.min()) if len(arrival) else 0
            self.bandwidth_gbyte_per_s: float = self.bytes_moved / max(span * self.tck_ns, 1e-30)
        else:
            self.bandwidth_gbyte_per_s = 0.0
        """Bytes of finished requests per ns (GB/s) from the first arrival to the last finish."""
        self.peak_fraction: float = self.bandwidth_gbyte_per_s / self.peak_gbyte_per_s
        self.row_hits: int = int(raw["row_hits"])
        """Accesses served from an open row (no ACT issued for them)."""
        self.row_misses: int = int(raw["row_misses"])
        """Accesses that needed an ACT on a closed bank."""
        self.row_conflicts: int = int(raw["row_conflicts"])
        """Accesses that needed a PRE of another row, then an ACT."""
        accesses = self.row_hits + self.row_misses + self.row_conflicts
        self.row_hit_rate: float = self.row_hits / accesses if accesses else 0.0
        self.reads: int = int(raw["reads"])
        """RD commands (accesses of ``access_bytes``)."""
        self.writes: int = int(raw["writes"])
        self.forwarded_reads: int = int(raw["forwarded_reads"])
        """Read accesses answered from the write queue (a queued write to the same address)."""
        self.counters: dict[str, int] = {name: int(raw[name]) for name, _ in STACK_TOTALS}
        """Every total the engine counts for the stack, by name (:data:`STACK_TOTALS`; the
        attributes below are the same numbers)."""
        self.refab: int = int(raw["refab"])
        self.refsb: int = int(raw["refsb"])
        self.precharges: int = int(raw["precharges"])
        t = hbm.timing
        shape = (hbm.channels, hbm.pseudo_channels, hbm.sids, hbm.bank_groups, hbm.banks_per_group)
        banks = int(np.prod(shape))
        busy = (
            self.refab * t["rfc"] * (banks // (hbm.channels * hbm.pseudo_channels)) + self.refsb * t["rfc_sb"]
        )
        self.refresh_time_share: float = busy / (banks * self.cycles) if self.cycles else 0.0
        """Fraction of bank time spent refreshing (tRFC per REFab for every bank of its
        pseudo-channel, tRFCsb per REFsb for one bank); about tRFC/tREFI with all-bank refresh."""
        self.bank_acts = _u64(raw["bank_acts"]).astype(np.int64).reshape(shape)
        """ACTs per bank, shaped (channel, pseudo_channel, sid, bank_group, bank)."""
        self.bank_reads = _u64(raw["bank_reads"]).astype(np.int64).reshape(shape)
        self.bank_writes = _u64(raw["bank_writes"]).astype(np.int64).reshape(shape)

    @cached_property
    def commands(self) -> npt.NDArray[Any]:
        """The command trace (``COMMAND_DTYPE``), when the run recorded it (else empty)."""
        raw = self._raw
        pc = _u64(raw["trace_pc"]).astype(np.int64)
        bank = _u64(raw["trace_bank"]).astype(np.int64)
        split = np.array(raw["bank_split"], dtype=np.int64).reshape(-1, 3)
        out = np.zeros(len(pc), dtype=COMMAND_DTYPE)
        out["cycle"] = _u64(raw["trace_cycle"])
        out["channel"] = pc // self.hbm.pseudo_channels
        out["pseudo_channel"] = pc % self.hbm.pseudo_channels
        if len(pc):
            out["sid"], out["bank_group"], out["bank"] = split[bank].T
        out["command"] = _u64(raw["trace_command"])
        out["row"] = _u64(raw["trace_row"])
        return out

    @property
    def simulated_time_ps(self) -> int:
        return round(self.time_ns * 1000)

    def _timeline(self) -> list[Events]:
        """Per pseudo-channel, an instant per DRAM command (ACT, RD, WR, PRE, REF...: the
        ``commands`` table, when the run recorded it); per request, a span from its arrival
        to its finish on one track of requests."""
        out: list[Events] = []
        tables = self.tables()
        cmds = tables.get("commands")
        if cmds is not None and len(cmds):
            pcs = sorted(set(zip(cmds["channel"].tolist(), cmds["pseudo_channel"].tolist(), strict=True)))
            index = {pc: i for i, pc in enumerate(pcs)}
            track_of = np.array(
                [
                    index[pc]
                    for pc in zip(cmds["channel"].tolist(), cmds["pseudo_channel"].tolist(), strict=True)
                ],
                dtype=np.int64,
            )
            out.append(
                Events(
                    name="command",
                    tracks=[Track("HBM pseudo-channels (commands)", f"ch {c} pc {p}") for c, p in pcs],
                    track_of=track_of,
                    start_ps=cmds["cycle"].astype(np.float64) * self.tck_ns * 1000,
                    labels=[COMMANDS[c] for c in cmds["command"].tolist()],
                    args={"bank": cmds["bank"], "row": cmds["row"]},
                )
            )
        req = tables["requests"]
        done = req["finished_cycle"] >= 0
        if done.any():
            start = req["arrival_cycle"][done].astype(np.float64) * self.tck_ns * 1000
            end = req["finished_cycle"][done].astype(np.float64) * self.tck_ns * 1000
            out.append(
                Events(
                    name="request",
                    tracks=[Track("requests", "all requests")],
                    track_of=np.zeros(int(done.sum()), dtype=np.int64),
                    start_ps=start,
                    dur_ps=end - start,
                    args={"latency_ns": req["latency_ns"][done]},
                )
            )
        return out

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``requests`` (one row a request: arrival, admission and finish in CK cycles, its
        latency in ns) and ``commands`` (the command trace, when recorded)."""
        req = np.zeros(
            self.requests,
            dtype=[
                ("arrival_cycle", np.int64),
                ("admitted_cycle", np.int64),
                ("finished_cycle", np.int64),
                ("latency_ns", np.float64),
            ],
        )
        req["arrival_cycle"], req["admitted_cycle"] = self.arrival_cycle, self.admitted_cycle
        req["finished_cycle"], req["latency_ns"] = self.finished_cycle, self.latency_ns
        return {"requests": req, "commands": self.commands}

    def _headline(self) -> dict[str, Any]:
        lat = self.read_latency_ns
        return {
            "cycles": self.cycles,
            "tck_ns": self.tck_ns,
            "requests": self.requests,
            "finished_requests": self.finished_requests,
            "bandwidth_gbyte_per_s": self.bandwidth_gbyte_per_s,
            "peak_fraction": self.peak_fraction,
            "read_latency_mean_ns": float(lat.mean()) if len(lat) else None,
            "row_hit_rate": self.row_hit_rate,
            "refresh_time_share": self.refresh_time_share,
        }

    def summary(self) -> str:
        lat = self.read_latency_ns
        mean = f"{lat.mean():.1f} ns mean read latency" if len(lat) else "no reads"
        return (
            f"{self.hbm.name or 'hbm'}: {self.finished_requests}/{self.requests} requests in {self.time_ns / 1000:.2f} us, "
            f"{self.bandwidth_gbyte_per_s:.1f} GB/s ({100 * self.peak_fraction:.1f}% of {self.peak_gbyte_per_s:.0f}), {mean}, "
            f"row hit rate {100 * self.row_hit_rate:.1f}%, refresh {100 * self.refresh_time_share:.1f}% of bank time"
        )

    def __repr__(self) -> str:
        return f"<MemoryResult {self.summary()}>"


def run_memory(
    hbm: HbmSpec,
    traffic: MemoryTraffic,
    options: RunOptions | None = None,
    *,
    controller: ControllerSpec | None = None,
    record_commands: bool = False,
    **settings: Any,
) -> MemoryResult:
    """Runs ``traffic`` on one HBM stack and returns bandwidth, latencies, row-buffer
    statistics, refresh and (with ``record_commands``) the command trace.

    ``options`` and the keyword arguments naming its fields (``seed``, ``max_cycles``,
    ``max_time_ns``, ``engine``, ``check_invariants``, ``progress``) run it as
    :meth:`Fabric.run <fabricsim.Fabric.run>` runs any workload: a limit raises
    :class:`~fabricsim.SimulationLimitError` (its ``partial`` is the result so far), Ctrl-C
    stops it. Controller settings come from ``controller`` (a :class:`ControllerSpec`) and/or
    keyword arguments naming its fields (``scheduler="fcfs"``, ``page_policy="closed"``, ...).
    """
    if not isinstance(hbm, HbmSpec):
        raise SpecError(f"hbm: expected an HbmSpec, got {type(hbm).__name__}", path="hbm")
    if not isinstance(traffic, MemoryTraffic):
        raise SpecError(
            f"traffic: expected fabricsim.traffic.memory(...), got {type(traffic).__name__}", path="traffic"
        )
    run_fields = {f.name for f in dataclasses.fields(RunOptions)}
    opts = resolve(options, {k: v for k, v in settings.items() if k in run_fields})
    controller_fields = {k: v for k, v in settings.items() if k not in run_fields}
    ctrl = controller if controller is not None else ControllerSpec()
    if controller_fields:
        ctrl = ctrl.replace(**controller_fields)
    cols = traffic.columns(hbm, opts.seed)
    with engine_hooks(opts):
        raw = _core.run_memory(
            hbm.to_json(),
            ctrl.to_json(),
            opts.engine_json(),
            le_bytes(cols.addr),
            le_bytes(cols.bytes),
            le_bytes(cols.write),
            le_bytes(cols.arrival_cycle),
            traffic.outstanding or 0,
            record_commands,
        )
    res = MemoryResult(raw, hbm, ctrl, cols)
    require_complete(res, opts)
    return res


__all__ = ["COMMANDS", "COMMAND_DTYPE", "STACK_TOTALS", "MemoryResult", "run_memory"]
