"""What a memory-fabric run returns: per requester, per device, and the fabric's links (see
:mod:`fabricsim.memory`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.result import Result
from fabricsim.run_contract import RunResultBase
from fabricsim.timeline import Events, Track
from fabricsim.traffic.messages import MessageTraffic

if TYPE_CHECKING:
    from fabricsim.memory.load import MemoryLoad


def _u64(raw: bytes) -> npt.NDArray[np.int64]:
    """A column of the engine's u64 values; "never" (u64::MAX) reads as -1."""
    col: npt.NDArray[np.int64] = np.frombuffer(raw, dtype="<u8").view(np.int64)
    return col


def _u32(raw: bytes) -> npt.NDArray[np.int64]:
    """A column of the engine's u32 ids (sent as u64); "none" (u32::MAX) reads as -1."""
    col: npt.NDArray[np.int64] = _u64(raw).copy()
    col[col == 0xFFFFFFFF] = -1
    return col


def _shares(times: list[int]) -> npt.NDArray[np.float64]:
    t = np.asarray(times, dtype=np.float64)
    total = t.sum()
    return t / total if total > 0 else t


@dataclass(frozen=True)
class RequesterResult:
    """What one requester saw. Times in ns; arrays have one entry per request it issued."""

    index: int
    endpoint: int
    target: str
    requests: int
    bytes: int
    bandwidth_gbyte_per_s: float
    """Data bytes of its completed requests over the time from its first issue to its last
    completion (GB/s = bytes/ns)."""
    latency_ns: npt.NDArray[np.float64]
    """Issue to completion."""
    fabric_ns: npt.NDArray[np.float64]
    """The part spent in the fabric: request to the device, and response back (0 for local)."""
    memory_ns: npt.NDArray[np.float64]
    """The part from reaching the device to the stack finishing the access (its queues,
    the DRAM timing, the clock crossing)."""
    write: npt.NDArray[np.bool_]
    device: npt.NDArray[np.int64]
    mean_outstanding: float
    """Requests in flight, time-averaged (measured from its tags, apart from the latencies)."""
    outstanding_share: npt.NDArray[np.float64]
    """Share of the time (first issue to last completion) with ``k`` requests in flight, for
    ``k = 0 .. outstanding``."""
    span_ns: float

    @property
    def littles_law_outstanding(self) -> float:
        """Little's law's prediction of :attr:`mean_outstanding`:
        bandwidth x mean latency / request size."""
        if not self.latency_ns.size:
            return 0.0
        return self.bandwidth_gbyte_per_s * float(self.latency_ns.mean()) / self.bytes

    def percentile_ns(self, q: float) -> float:
        return float(np.percentile(self.latency_ns, q)) if self.latency_ns.size else float("nan")


@dataclass(frozen=True)
class DeviceResult:
    """One memory device (an accelerator's HBM or an expander) after the run."""

    endpoint: int
    expander: bool
    requests: int
    """Requests its stack served (local and remote)."""
    reads: int
    writes: int
    row_hits: int
    row_misses: int
    row_conflicts: int
    refab: int
    refsb: int
    bandwidth_gbyte_per_s: float
    """Bytes its stack moved over the run's time."""


class MemoryFabricResult(RunResultBase):
    """The outcome of a memory-fabric run: per requester, per device, and the fabric's links."""

    def __init__(self, raw: dict[str, Any], load: MemoryLoad, access_bytes: dict[int, int]) -> None:
        self._raw = raw
        self.load = load
        traffic = MessageTraffic(
            *(_u64(raw[f"msg_{k}"]).copy() for k in ("src", "dst", "bytes", "inject_ps", "vc"))
        )
        self.fabric = Result(raw, traffic)
        """The network's result: links, and the request and response messages (a message
        carries one request or response, or several packed; ``message_items`` counts them)."""
        self.message_items: npt.NDArray[np.int64] = _u64(raw["msg_items"])
        self.time_ns: float = self.fabric.end_ps / 1e3
        """Simulated time, ns."""
        req = _u64(raw["row_requester"])
        self.rows: dict[str, npt.NDArray[Any]] = {
            "requester": req,
            "device": _u64(raw["row_device"]),
            "write": _u64(raw["row_write"]).astype(bool),
            "addr": _u64(raw["row_addr"]),
            "issue_ps": _u64(raw["row_issue_ps"]),
            "device_ps": _u64(raw["row_device_ps"]),
            "memory_ps": _u64(raw["row_memory_ps"]),
            "complete_ps": _u64(raw["row_complete_ps"]),
            "request_msg": _u32(raw["row_request_msg"]),
            "response_msg": _u32(raw["row_response_msg"]),
        }
        """One entry per request issued, in issue order (times in ps; -1: not reached): who
        issued it (``requester``, an index into the load), the ``device`` (endpoint) and the
        address within it, ``write``, when it was issued, reached the device, finished in the
        stack and completed, and the messages (rows of ``fabric.messages``) that carried its
        request and its response (-1 for a local request)."""
        self._access_bytes = access_bytes

    @property
    def complete(self) -> bool:  # type: ignore[override]
        """Every request of the load was issued and completed."""
        return self.fabric.complete and bool((self.rows["complete_ps"] >= 0).all())

    @property
    def simulated_time_ps(self) -> int:
        return self.fabric.end_ps

    def _timeline(self) -> list[Events]:
        """Per requester, a span per completed request from its issue to its completion (label:
        read or write, and the device); then the fabric's message spans and link counters."""
        r = self.rows
        done = r["complete_ps"] >= 0
        count = len(self.load.requesters)
        kind = np.where(r["write"][done].astype(bool), "write", "read")
        labels = [f"{k} dev {d}" for k, d in zip(kind.tolist(), r["device"][done].tolist(), strict=True)]
        requests = Events(
            name="request",
            tracks=[Track("requesters (requests)", f"requester {i}") for i in range(count)],
            track_of=r["requester"][done].astype(np.int64),
            start_ps=r["issue_ps"][done].astype(np.float64),
            dur_ps=(r["complete_ps"][done] - r["issue_ps"][done]).astype(np.float64),
            labels=labels,
            args={"device": r["device"][done], "addr": r["addr"][done]},
        )
        return [requests, *self.fabric._timeline()]

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``requests`` (one row a request issued: :attr:`rows`), then the fabric's
        ``messages`` and ``links``."""
        rows = self.rows
        table = np.zeros(len(rows["issue_ps"]), dtype=[(k, v.dtype) for k, v in rows.items()])
        for k, v in rows.items():
            table[k] = v
        return {"requests": table, **self.fabric.tables()}

    def _headline(self) -> dict[str, Any]:
        d: dict[str, Any] = {"time_ns": self.time_ns, "requests": len(self.rows["issue_ps"])}
        for q in self.requesters:
            d[f"requester{q.index}_bandwidth_gbps"] = q.bandwidth_gbyte_per_s
            d[f"requester{q.index}_latency_mean_ns"] = (
                float(q.latency_ns.mean()) if q.latency_ns.size else None
            )
        return d

    @cached_property
    def requesters(self) -> list[RequesterResult]:
        out = []
        r = self.rows
        for i, spec in enumerate(self.load.requesters):
            mine = (r["requester"] == i) & (r["complete_ps"] >= 0)
            issue, dev_t = r["issue_ps"][mine], r["device_ps"][mine]
            mem_t, done = r["memory_ps"][mine], r["complete_ps"][mine]
            latency = (done - issue) / 1e3
            memory = (mem_t - dev_t) / 1e3
            span = (done.max() - issue.min()) / 1e3 if done.size else 0.0
            bw = done.size * spec.bytes / span if span > 0 else 0.0
            out.append(
                RequesterResult(
                    index=i,
                    endpoint=spec.endpoint,
                    target=spec.target,
                    requests=int(done.size),
                    bytes=spec.bytes,
                    bandwidth_gbyte_per_s=float(bw),
                    latency_ns=latency,
                    fabric_ns=latency - memory,
                    memory_ns=memory,
                    write=r["write"][mine],
                    device=r["device"][mine],
                    mean_outstanding=float(self._raw["occupancy"][i]),
                    outstanding_share=_shares(self._raw["occupancy_time"][i]),
                    span_ns=float(span),
                )
            )
        return out

    @cached_property
    def devices(self) -> list[DeviceResult]:
        out = []
        for d in self._raw["devices"]:
            moved = (int(d["reads"]) + int(d["writes"])) * self._access_bytes[int(d["endpoint"])]
            out.append(
                DeviceResult(
                    endpoint=int(d["endpoint"]),
                    expander=bool(d["expander"]),
                    requests=int(d["requests"]),
                    reads=int(d["reads"]),
                    writes=int(d["writes"]),
                    row_hits=int(d["row_hits"]),
                    row_misses=int(d["row_misses"]),
                    row_conflicts=int(d["row_conflicts"]),
                    refab=int(d["refab"]),
                    refsb=int(d["refsb"]),
                    bandwidth_gbyte_per_s=moved / self.time_ns if self.time_ns > 0 else 0.0,
                )
            )
        return out

    def summary(self) -> str:
        lines = [f"memory fabric run: {self.time_ns:.1f} ns simulated"]
        for q in self.requesters:
            lat = q.latency_ns
            lines.append(
                f"  requester {q.index} (endpoint {q.endpoint} -> {q.target}): {q.requests} x {q.bytes} B, "
                f"{q.bandwidth_gbyte_per_s:.2f} GB/s, latency mean {lat.mean():.1f} ns "
                f"(fabric {q.fabric_ns.mean():.1f} + memory {q.memory_ns.mean():.1f}), "
                f"p99 {q.percentile_ns(99):.1f} ns, {q.mean_outstanding:.2f} in flight"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<MemoryFabricResult {len(self.rows['issue_ps'])} requests, {self.time_ns:.1f} ns>"


__all__ = ["DeviceResult", "MemoryFabricResult", "RequesterResult"]
