"""Faults for part of a training step, on the reduced step's clock.

The reduced step times each distinct collective once, on a fabric without a clock; its
pipeline schedule, gradient buckets and parameter gathers do have one (each pass, transfer and
call has a start). A fault window (``link_down``, ``link_slow`` or ``link_ber`` from ``at_ns``
for ``duration_ns``) is brought to that clock by timing the step's calls once more with the fault
held for the whole step (:class:`FaultWindow`'s ``comm``): a call that takes longer so crosses
the link. Then every piece of work the schedule runs meets the windows at its own time
(:func:`stretch`):

- a pass (its kernels and its exposed calls, the calls spread through it) runs at its
  healthy pace outside the windows and, inside one, ``factor`` times slower, where ``factor``
  is its duration with the fault held over its duration without (``link_slow``), or stops
  (``link_down``: the traffic that crosses the link waits): a pass whose calls cross it runs on
  to the first of them it meets in the window (its calls taken to end equal parts of it, as a
  layer's calls end the layer: :func:`first_stop`) and waits there until the window closes;
- a pipeline transfer, a gradient bucket and a parameter gather likewise, by their own calls.

It is a first-order account: a pass's calls are taken as spread evenly through it, and a call
that a downed link stops is taken to stop it until the window closes (not until the call, then
resumed, is done). docs/fidelity.md compares it with the step run whole, where each call
meets the fault at its own time."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fabricsim.faults import Fault, link_ber, link_slow

if TYPE_CHECKING:
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.comm import CommModel
    from fabricsim.workload.pipeline import LinkClock, PassClock, Timeline

F64 = npt.NDArray[np.float64]
PROBE_RATE = 1e-3
"""The rate a downed link is held at to find the calls that cross it (they take longer)."""
WINDOW_TYPES = ("link_down", "link_slow", "link_ber")


@dataclass
class FaultWindow:
    """One fault for part of the step: ``options.faults[index]``, from ``start_s`` to
    ``end_s`` of the step's clock; ``down``: the link carries nothing (else ``fault.rate`` of
    its capacity, or at ``fault.ber``); ``comm``: the step's calls timed with the fault held
    all step."""

    index: int
    fault: Fault
    start_s: float
    end_s: float
    down: bool
    comm: CommModel | None = None

    def held(self) -> Fault:
        """The fault held for the whole step (a downed link as a very slow one: a probe)."""
        if self.fault.type == "link_ber":
            return link_ber(self.fault.link, float(self.fault.ber or 0.0))
        rate = PROBE_RATE if self.down else float(self.fault.rate or 1.0)
        return link_slow(self.fault.link, rate)

    def factor(self, healthy: F64 | float, hit: F64 | float) -> F64:
        """How much slower work of ``healthy`` seconds runs inside the window, ``hit`` its
        time with the fault held (inf: it stops)."""
        h = np.asarray(healthy, dtype=np.float64)
        x = np.asarray(hit, dtype=np.float64)
        slower = x > h * (1 + 1e-9)
        if self.down:
            return np.where(slower, np.inf, 1.0)
        return np.where(slower, x / np.where(h > 0, h, 1.0), 1.0)


@dataclass
class StepClock:
    """The fault windows as the reduced step's schedule meets them: per window, per pass
    (``[dp, pp, v, 2]``) how much slower it runs inside it (inf: stopped) and, for a downed
    link, how many of its calls cross the link and their time (where it stops); per
    transfer (``[dp, 2, pp]``: replica, forward or back, stage boundary) how much slower."""

    windows: list[FaultWindow]
    pass_factor: list[F64]
    transfer_factor: list[F64]
    crossing: list[tuple[F64, F64] | None]

    def key(self, replica: int) -> bytes:
        """What makes replica ``replica``'s clock the same as another's."""
        crossed = [a for pair in self.crossing if pair is not None for a in pair]
        return b"".join(a[replica].tobytes() for a in (*self.pass_factor, *self.transfer_factor, *crossed))

    def of_replica(self, r: int) -> tuple[PassClock | None, LinkClock | None]:
        """``pipeline.execute``'s ``pass_end`` and ``transfer_end`` for replica ``r`` (None
        without windows)."""
        if not self.windows:
            return None, None

        def pass_end(p: int, c: int, backward: bool, start: float, dur: float) -> float:
            at = (r, p, c, int(backward))
            spans = []
            for w, f, cross in zip(self.windows, self.pass_factor, self.crossing, strict=True):
                begin = w.start_s
                if cross is not None and math.isinf(f[at]):
                    # a stopped pass runs on to its first call across the link
                    begin = first_stop(start, dur, w.start_s, int(cross[0][at]), float(cross[1][at]))
                spans.append((begin, w.end_s, float(f[at])))
            return stretch(start, dur, spans)

        def transfer_end(b: int, backward: bool, start: float, dur: float) -> float:
            spans = [
                (w.start_s, w.end_s, float(f[r, int(backward), b]))
                for w, f in zip(self.windows, self.transfer_factor, strict=True)
            ]
            return stretch(start, dur, spans)

        return pass_end, transfer_end

    def call_spans(
        self, healthy_s: float, held_s: Callable[[CommModel], float]
    ) -> list[tuple[float, float, float]]:
        """The windows as a call on its own stream (a gradient bucket, a parameter gather)
        meets them, for :func:`stretch`: ``healthy_s`` long, ``held_s(comm)`` with a window's
        fault held (``comm``: the window's)."""
        return [
            (w.start_s, w.end_s, float(w.factor(healthy_s, held_s(w.comm))))
            for w in self.windows
            if w.comm is not None
        ]


def split(options: RunOptions, whole_step_ns: float) -> tuple[RunOptions, list[FaultWindow]]:
    """The run's options without its fault windows (``link_down``, and ``link_slow`` or
    ``link_ber`` for less than the whole step), and the windows."""
    keep: list[Fault] = []
    windows: list[FaultWindow] = []
    for i, f in enumerate(options.faults):
        at = float(f.at_ns or 0.0)
        duration = float(f.duration_ns or 0.0)
        if f.type == "link_down" or (
            f.type in ("link_slow", "link_ber") and (at > 0 or duration < whole_step_ns)
        ):
            windows.append(FaultWindow(i, f, at / 1e9, (at + duration) / 1e9, f.type == "link_down"))
        else:
            keep.append(f)
    return replace(options, faults=tuple(keep)), windows


def first_stop(start_s: float, work_s: float, at_s: float, calls: int, calls_s: float) -> float:
    """When a pass begun at ``start_s`` (``work_s`` long) first stands at one of its ``calls``
    across a downed link at or after ``at_s``: the calls (``calls_s`` of its time in all) end
    ``calls`` equal parts of it, as a layer's calls end the layer's work (the one in flight at
    ``at_s``: ``at_s`` itself)."""
    if calls <= 0 or work_s <= 0:
        return at_s
    done = max(at_s - start_s, 0.0)
    part = work_s / calls
    k = min(int(done // part), calls - 1)
    call_start = (k + 1) * part - min(calls_s, work_s) / calls
    return start_s + max(done, call_start)


def stretch(start_s: float, work_s: float, windows: Sequence[tuple[float, float, float]]) -> float:
    """When ``work_s`` seconds of work begun at ``start_s`` end: at pace 1 outside the
    ``windows`` ``(start_s, end_s, factor)``, ``factor`` times slower inside one (inf:
    stopped; where windows overlap, the slowest)."""
    active = [(a, b, f) for a, b, f in windows if f > 1.0 and b > start_s and a < b]
    if not active or work_s <= 0 or start_s + work_s <= min(a for a, _, _ in active):
        return start_s + work_s
    edges = sorted({start_s, *(x for a, b, _ in active for x in (a, b) if x > start_s)})
    t, left = start_s, work_s
    for i, a in enumerate(edges):
        b = edges[i + 1] if i + 1 < len(edges) else math.inf
        f = max((w for s, e, w in active if s <= a < e), default=1.0)
        if math.isinf(f):
            t = b
            continue
        if (b - a) / f >= left:
            return a + left * f
        left -= (b - a) / f
        t = b
    return t + left  # pragma: no cover - the last segment is unbounded


def window_added_s(
    timelines: dict[int, Timeline],
    replica_of: npt.NDArray[np.int64],
    passes: F64,
    extra: dict[int, F64] | None,
    slowed: dict[str, F64],
) -> dict[str, F64]:
    """Per kind of call, per replica and stage (``[dp, pp]``): what the fault windows added to
    the passes (each pass's time past its duration), shared among the kinds of calls the
    windows' faults slowed in it."""
    dp, pp = passes.shape[:2]
    if not slowed:
        return {}
    total = sum(slowed.values(), np.zeros_like(passes))
    out = {k: np.zeros((dp, pp)) for k in slowed}
    for d, r in enumerate(replica_of):
        tl = timelines[int(r)]
        way = tl.backward.astype(np.int64)
        nominal = passes[r, tl.stage, tl.chunk, way]
        if extra is not None:
            nominal = nominal + extra[int(r)][tl.stage, tl.chunk, tl.microbatch, way]
        added = tl.end_s - tl.start_s - nominal
        added = np.where(added > 1e-9 * nominal, added, 0.0)  # (not the sums' rounding)
        weight = total[r, tl.stage, tl.chunk, way]
        for k, arr in slowed.items():
            part = np.divide(
                arr[r, tl.stage, tl.chunk, way], weight, out=np.zeros_like(added), where=weight > 0
            )
            np.add.at(out[k][d], tl.stage, added * part)
    return out


__all__ = ["FaultWindow", "StepClock", "first_stop", "split", "stretch", "window_added_s"]
