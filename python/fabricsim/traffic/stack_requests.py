"""Memory traffic: requests to one HBM stack (address, size, read or write, arrival).

Synthetic generators (:func:`memory`) are resolved against the stack they run on (its
capacity, its clock) and the run's seed; trace files (:func:`memory_trace`) and explicit
columns (:func:`memory_requests`) are taken as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from fabricsim.checks import one_of
from fabricsim.errors import SpecError
from fabricsim.streams import Stream

if TYPE_CHECKING:
    from fabricsim.specs import HbmSpec

I64 = npt.NDArray[np.int64]
Pattern = Literal["stream", "random", "strided"]
PATTERNS: tuple[str, ...] = ("stream", "random", "strided")


@dataclass(frozen=True)
class MemoryColumns:
    """Requests as int64 columns: byte address, size, write flag (0/1), arrival in CK cycles."""

    addr: I64
    bytes: I64
    write: I64
    arrival_cycle: I64

    def __len__(self) -> int:
        return len(self.addr)


@dataclass(frozen=True)
class MemoryTraffic:
    """Requests for :func:`fabricsim.run_memory`: a synthetic pattern, or fixed columns.

    ``outstanding`` caps the requests in the memory at once (a closed loop, like a core's
    miss-status registers); ``None`` lets every arrived request in, limited only by the
    controllers' queues.
    """

    pattern: str | None = None
    requests: int = 0
    read_ratio: float = 1.0
    bytes: int = 64
    stride: int | None = None
    start: int = 0
    footprint: int | None = None
    interval_ns: float | None = None
    outstanding: int | None = None
    fixed: MemoryColumns | None = None

    def __len__(self) -> int:
        return len(self.fixed) if self.fixed is not None else self.requests

    def columns(self, hbm: HbmSpec, seed: int = 0) -> MemoryColumns:
        """The requests this traffic makes on ``hbm`` with ``seed`` (deterministic)."""
        if self.fixed is not None:
            return self.fixed
        n, size = self.requests, self.bytes
        capacity = int(hbm.resolved()["capacity_bytes"])
        rng = Stream(seed, "memory")
        i = np.arange(n, dtype=np.int64)
        if self.pattern == "random":
            footprint = min(self.footprint or capacity, capacity - self.start)
            align = size if size & (size - 1) == 0 else int(hbm.resolved()["access_bytes"])
            slots = (footprint - size) // align + 1
            if slots < 1:
                raise SpecError(
                    f"traffic.footprint: {footprint} bytes cannot hold a {size}-byte request",
                    path="traffic.footprint",
                )
            addr = self.start + rng.integers(0, slots, n) * align
        else:
            stride = size if self.pattern == "stream" else (self.stride or size)
            span = (capacity - self.start - size) // stride + 1
            if span < 1:
                raise SpecError(
                    f"traffic.start: {self.start} leaves no room for a request", path="traffic.start"
                )
            addr = self.start + (i % span) * stride  # wraps around at the end of the stack
        write = (rng.random(n) >= self.read_ratio).astype(np.int64)
        if self.interval_ns is None:
            arrival = np.zeros(n, dtype=np.int64)
        else:
            arrival = np.floor(i * (self.interval_ns / float(hbm.tck_ns))).astype(np.int64)
        return MemoryColumns(addr.astype(np.int64), np.full(n, size, dtype=np.int64), write, arrival)


def memory(
    pattern: Pattern,
    requests: int,
    *,
    read_ratio: float = 1.0,
    bytes: int = 64,
    stride: int | None = None,
    start: int = 0,
    footprint: int | None = None,
    interval_ns: float | None = None,
    rate_gbyte_per_s: float | None = None,
    outstanding: int | None = None,
) -> MemoryTraffic:
    """Synthetic memory requests.

    - ``"stream"``: consecutive addresses from ``start``; ``"strided"``: every ``stride``
      bytes; ``"random"``: uniform over ``footprint`` bytes from ``start`` (default: the
      whole stack), aligned to the request size.
    - ``read_ratio``: probability that a request is a read (the rest are writes).
    - Arrivals: all at time 0 (as fast as the memory takes them) unless ``interval_ns``
      (one request every so many ns) or ``rate_gbyte_per_s`` (offered bandwidth, GB/s) is given.
    - ``outstanding``: at most this many requests in the memory at once (closed loop).
    """
    one_of("traffic.pattern", pattern, PATTERNS)
    checks: list[tuple[str, object, bool, str]] = [
        ("requests", requests, isinstance(requests, int) and 0 <= requests < 2**32, "an int in 0..2**32"),
        ("bytes", bytes, isinstance(bytes, int) and 1 <= bytes <= 1 << 24, "an int in 1..16777216"),
        (
            "read_ratio",
            read_ratio,
            isinstance(read_ratio, (int, float)) and 0.0 <= read_ratio <= 1.0,
            "in [0, 1]",
        ),
        ("start", start, isinstance(start, int) and start >= 0, "an int >= 0"),
        (
            "stride",
            stride,
            stride is None or (isinstance(stride, int) and stride >= 1),
            "None or an int >= 1",
        ),
        (
            "footprint",
            footprint,
            footprint is None or (isinstance(footprint, int) and footprint >= 1),
            "None or an int >= 1",
        ),
        (
            "outstanding",
            outstanding,
            outstanding is None or (isinstance(outstanding, int) and 1 <= outstanding < 2**32),
            "None or an int >= 1",
        ),
    ]
    for name, value, ok, allowed in checks:
        if not ok:
            raise SpecError(f"traffic.{name}: must be {allowed}, got {value!r}", path=f"traffic.{name}")
    if interval_ns is not None and rate_gbyte_per_s is not None:
        raise SpecError(
            "traffic.rate_gbyte_per_s: give interval_ns or rate_gbyte_per_s, not both",
            path="traffic.rate_gbyte_per_s",
        )
    if rate_gbyte_per_s is not None:
        if not (
            isinstance(rate_gbyte_per_s, (int, float))
            and np.isfinite(rate_gbyte_per_s)
            and rate_gbyte_per_s > 0
        ):
            raise SpecError(
                f"traffic.rate_gbyte_per_s: must be a finite number > 0, got {rate_gbyte_per_s!r}",
                path="traffic.rate_gbyte_per_s",
            )
        interval_ns = bytes / float(rate_gbyte_per_s)
    if interval_ns is not None and not (np.isfinite(interval_ns) and interval_ns >= 0):
        raise SpecError(
            f"traffic.interval_ns: must be a finite number >= 0, got {interval_ns!r}",
            path="traffic.interval_ns",
        )
    return MemoryTraffic(
        pattern=pattern,
        requests=requests,
        read_ratio=float(read_ratio),
        bytes=bytes,
        stride=stride,
        start=start,
        footprint=footprint,
        interval_ns=interval_ns,
        outstanding=outstanding,
    )


def memory_requests(
    addr: npt.ArrayLike,
    *,
    bytes: npt.ArrayLike = 64,
    write: npt.ArrayLike = False,
    arrival_cycle: npt.ArrayLike = 0,
    outstanding: int | None = None,
) -> MemoryTraffic:
    """Requests given as columns (scalars broadcast); ``arrival_cycle`` in CK cycles of the
    stack, non-decreasing."""
    a = np.atleast_1d(np.asarray(addr))
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise SpecError(
            f"traffic.addr: must be a 1-D array of integers, got {a.dtype} shape {a.shape}",
            path="traffic.addr",
        )
    n = len(a)

    def col(name: str, v: npt.ArrayLike) -> I64:
        arr = np.asarray(v)
        if arr.dtype.kind not in "iub":
            raise SpecError(
                f"traffic.{name}: must hold integers, got dtype {arr.dtype}", path=f"traffic.{name}"
            )
        try:
            return np.ascontiguousarray(np.broadcast_to(arr.astype(np.int64), (n,)))
        except ValueError:
            raise SpecError(
                f"traffic.{name}: has {arr.size} rows but traffic.addr has {n}", path=f"traffic.{name}"
            ) from None

    cols = MemoryColumns(
        a.astype(np.int64), col("bytes", bytes), col("write", write), col("arrival_cycle", arrival_cycle)
    )
    return MemoryTraffic(outstanding=outstanding, fixed=cols)


_OPS = {"READ": 0, "R": 0, "RD": 0, "LD": 0, "WRITE": 1, "W": 1, "WR": 1, "ST": 1}


def memory_trace(
    path: str | PathLike[str], *, bytes: int = 64, outstanding: int | None = None
) -> MemoryTraffic:
    """Requests from a trace file in DRAMsim3's format: one request a line,
    ``<address> <READ|WRITE> <cycle>`` (address in hex with ``0x`` or decimal, cycle in CK
    cycles of the stack, non-decreasing; ``R``/``W`` are accepted too). Blank lines and lines
    starting with ``#`` are skipped. Every request is ``bytes`` long. A bad line is a
    :class:`~fabricsim.SpecError` naming the file and line number."""
    p = Path(path)
    addrs: list[int] = []
    writes: list[int] = []
    cycles: list[int] = []
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{p}:{lineno}"
            parts = text.split()
            if len(parts) != 3:
                raise SpecError(
                    f"{where}: expected '<address> <READ|WRITE> <cycle>', got {text!r}", path=where
                )
            a, op, c = parts
            try:
                addr = int(a, 16) if a.lower().startswith("0x") else int(a)
            except ValueError:
                raise SpecError(
                    f"{where}: address {a!r} is not a hex (0x...) or decimal integer", path=where
                ) from None
            if op.upper() not in _OPS:
                raise SpecError(f"{where}: operation {op!r} is not READ or WRITE (or R, W)", path=where)
            try:
                cycle = int(c)
            except ValueError:
                raise SpecError(f"{where}: cycle {c!r} is not a decimal integer", path=where) from None
            if addr < 0 or cycle < 0:
                raise SpecError(f"{where}: address and cycle must be >= 0", path=where)
            if cycles and cycle < cycles[-1]:
                raise SpecError(
                    f"{where}: cycle {cycle} is before the previous line's {cycles[-1]}", path=where
                )
            addrs.append(addr)
            writes.append(_OPS[op.upper()])
            cycles.append(cycle)
    return memory_requests(
        np.array(addrs, dtype=np.int64),
        bytes=bytes,
        write=np.array(writes, dtype=np.int64),
        arrival_cycle=np.array(cycles, dtype=np.int64),
        outstanding=outstanding,
    )


__all__ = ["PATTERNS", "MemoryColumns", "MemoryTraffic", "memory", "memory_requests", "memory_trace"]
