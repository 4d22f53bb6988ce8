"""Messages given row by row: the workload of a fabric at its simplest. Columns of numpy
arrays, one row a message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fabricsim.errors import SpecError
from fabricsim.run_contract import Workload

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.result import Result
    from fabricsim.run_options import RunOptions

ArrayLike = npt.ArrayLike
I64 = npt.NDArray[np.int64]

MAX_MESSAGE_BYTES = 1 << 50
"""The largest message (1 PiB): a larger one would take the engine years of wall time."""

MAX_AT_NS = 9.2e15
"""Largest injection time in ns (about 106 days): its picoseconds still fit an int64."""


@dataclass(frozen=True)
class MessageTraffic(Workload):
    """Messages as int64 columns of equal length. Build it with :func:`messages` or
    :func:`stream`; the engine validates every row when the traffic runs."""

    src: I64
    dst: I64
    bytes: I64
    inject_ps: I64
    vc: I64

    def __len__(self) -> int:
        return len(self.src)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageTraffic):
            return NotImplemented
        cols = ("src", "dst", "bytes", "inject_ps", "vc")
        return all(np.array_equal(getattr(self, c), getattr(other, c)) for c in cols)

    __hash__ = None  # type: ignore[assignment]  # holds mutable arrays

    def run_on(self, fabric: Fabric, options: RunOptions) -> Result:
        return fabric._finish(self, options)


def _int_column(name: str, values: ArrayLike, n: int, high: int | None = None) -> I64:
    """``values`` as an int64 column of ``n`` rows (a scalar broadcasts); every value must be
    a whole number that fits an int64 (and, with ``high``, be at most ``high``)."""
    try:
        arr = np.asarray(values)
    except OverflowError:
        arr = np.asarray(values, dtype=object)
    if arr.dtype.kind == "O":
        flat = [v for v in np.ravel(arr)]
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
            big = next(v for v in flat if not -(2**63) <= int(v) < 2**63)
            raise SpecError(
                f"traffic.{name}: must fit a 64-bit signed integer, got {big}", path=f"traffic.{name}"
            )
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= 2**63:
        raise SpecError(
            f"traffic.{name}: must fit a 64-bit signed integer, got {int(arr.max())}", path=f"traffic.{name}"
        )
    if high is not None and arr.dtype.kind in "iu" and arr.size and int(arr.max()) > high:
        raise SpecError(
            f"traffic.{name}: must be at most {high}, got {int(arr.max())}", path=f"traffic.{name}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.floor(arr)):
            raise SpecError(f"traffic.{name}: must hold whole numbers, got {arr!r}", path=f"traffic.{name}")
    elif arr.dtype.kind not in "iub":
        raise SpecError(f"traffic.{name}: must hold integers, got dtype {arr.dtype}", path=f"traffic.{name}")
    if arr.ndim > 1:
        raise SpecError(f"traffic.{name}: must be a scalar or a 1-D array", path=f"traffic.{name}")
    try:
        out = np.broadcast_to(arr.astype(np.int64), (n,))
    except ValueError:
        raise SpecError(
            f"traffic.{name}: has {arr.size} rows but the traffic has {n} messages",
            path=f"traffic.{name}",
        ) from None
    return np.ascontiguousarray(out)


def _times_ps(at_ns: ArrayLike | None, at_ps: ArrayLike | None, n: int) -> I64:
    if at_ns is not None and at_ps is not None:
        raise SpecError("traffic: give at_ns or at_ps, not both", path="traffic.at_ns")
    if at_ps is not None:
        return _int_column("inject_ps", at_ps, n)
    ns = np.asarray(0.0 if at_ns is None else at_ns, dtype=np.float64)
    bad = ~np.isfinite(ns) | (ns < 0) | (ns > MAX_AT_NS)
    if np.any(bad):
        i = int(np.flatnonzero(np.broadcast_to(bad, ns.shape or (1,)))[0])
        raise SpecError(
            f"traffic.at_ns[{i}]: must be a finite number in [0, {MAX_AT_NS:g}], got {np.atleast_1d(ns)[i]}",
            path=f"traffic.at_ns[{i}]",
        )
    return _int_column("inject_ps", np.rint(ns * 1000.0), n)


def messages(
    src: ArrayLike,
    dst: ArrayLike,
    bytes: ArrayLike,
    at_ns: ArrayLike | None = None,
    *,
    at_ps: ArrayLike | None = None,
    vc: ArrayLike = 0,
) -> MessageTraffic:
    """Messages given row by row. Scalars broadcast over the rows.

    ``at_ns`` (or ``at_ps``): when each message is offered to its source (default 0);
    times are rounded to whole picoseconds.
    """
    lengths = [np.size(x) for x in (src, dst, bytes, vc) if np.ndim(x) > 0]
    for t in (at_ns, at_ps):
        if t is not None and np.ndim(t) > 0:
            lengths.append(np.size(t))
    n = max(lengths, default=1)
    return MessageTraffic(
        src=_int_column("src", src, n),
        dst=_int_column("dst", dst, n),
        bytes=_int_column("bytes", bytes, n, MAX_MESSAGE_BYTES),
        inject_ps=_times_ps(at_ns, at_ps, n),
        vc=_int_column("vc", vc, n),
    )


def stream(
    src: int,
    dst: int,
    count: int,
    bytes: int,
    interval_ns: float = 0.0,
    start_ns: float = 0.0,
    vc: int = 0,
) -> MessageTraffic:
    """``count`` messages of ``bytes`` from ``src`` to ``dst``, one every ``interval_ns``
    starting at ``start_ns`` (interval 0: all offered at once, a saturating stream)."""
    if count < 0:
        raise SpecError(f"traffic.count: must be >= 0, got {count}", path="traffic.count")
    at = start_ns + interval_ns * np.arange(count, dtype=np.float64)
    return messages(
        np.full(count, src), np.full(count, dst), np.full(count, bytes), at_ns=at, vc=np.full(count, vc)
    )


def concat(*parts: MessageTraffic) -> MessageTraffic:
    """The messages of all ``parts``, in order (row indices shift accordingly)."""
    return MessageTraffic(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("src", "dst", "bytes", "inject_ps", "vc"))
    )


__all__ = ["MAX_AT_NS", "MAX_MESSAGE_BYTES", "MessageTraffic", "concat", "messages", "stream"]
