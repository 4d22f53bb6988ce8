"""Pipeline schedules, executed: 1F1B and interleaved 1F1B (Megatron-LM's orders), each stage
running its forward and backward passes in its order as soon as their inputs arrive. The
bubble is what the schedule leaves idle, not a formula.

Per stage the order is Megatron-LM's: 1F1B runs ``pp - stage - 1`` warm-up forwards, then
alternates one forward and one backward, then drains the backwards. Interleaved (``v`` model
chunks per stage): ``m x v`` virtual microbatches, ``(pp - stage - 1) x 2 + (v - 1) x pp``
warm-up forwards, virtual microbatch ``k`` is microbatch ``(k // (pp v)) pp + k % pp`` of chunk
``(k // pp) % v`` going forward and of chunk ``v - 1 - (k // pp) % v`` going backward.

A forward of chunk ``c`` on stage ``p`` needs the same microbatch's forward of stage ``p - 1``
(of stage ``pp - 1``, chunk ``c - 1`` on the first stage) and the activation's transfer; a
backward, the next stage's backward and the gradient's transfer. Sends do not block the
sender (NCCL's send and receive run beside the compute)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fabricsim.errors import InternalError

F64 = npt.NDArray[np.float64]
PassClock = Callable[[int, int, bool, float, float], float]
"""``(stage, chunk, backward, start_s, duration_s) -> end_s``: when a pass begun at
``start_s`` ends (a fault window may slow or stop it)."""
LinkClock = Callable[[int, bool, float, float], float]
"""``(boundary, backward, start_s, duration_s) -> end_s``: when a transfer over a stage
boundary ends (``backward``: a gradient, going back)."""


@dataclass
class Timeline:
    """The executed schedule, one row per pass: ``stage``, ``chunk``, ``microbatch``,
    ``backward`` (bool), ``start_s``, ``end_s``; and per pass the idle time before it that
    waited on a transfer (``wait_transfer_s``) and on the schedule (``wait_bubble_s``)."""

    stage: npt.NDArray[np.int64]
    chunk: npt.NDArray[np.int64]
    microbatch: npt.NDArray[np.int64]
    backward: npt.NDArray[np.bool_]
    start_s: F64
    end_s: F64
    wait_transfer_s: F64
    wait_bubble_s: F64

    def stage_end_s(self, pp: int) -> F64:
        out = np.zeros(pp)
        np.maximum.at(out, self.stage, self.end_s)
        return out


def stage_order(pp: int, v: int, m: int, stage: int) -> list[tuple[bool, int, int]]:
    """The passes of ``stage`` in Megatron-LM's order: ``(backward, chunk, microbatch)``."""
    total = m * v
    if v == 1:
        warmup = min(pp - stage - 1, m)
    else:
        warmup = min((pp - stage - 1) * 2 + (v - 1) * pp, total)

    def fwd(k: int) -> tuple[bool, int, int]:
        return False, (k // pp) % v, (k // (pp * v)) * pp + k % pp

    def bwd(k: int) -> tuple[bool, int, int]:
        return True, v - 1 - (k // pp) % v, (k // (pp * v)) * pp + k % pp

    order = [fwd(k) for k in range(warmup)]
    for k in range(total - warmup):
        order.append(fwd(warmup + k))
        order.append(bwd(k))
    order.extend(bwd(k) for k in range(total - warmup, total))
    return order


def in_flight(pp: int, v: int, m: int) -> npt.NDArray[np.int64]:
    """Per stage, the most microbatch-chunks whose activations it holds at once: forwards
    done less backwards done, at its worst point of its order (the order alone decides it: a
    stage runs its passes one at a time, in order)."""
    out = np.zeros(pp, dtype=np.int64)
    for p in range(pp):
        steps = np.array([-1 if backward else 1 for backward, _, _ in stage_order(pp, v, m, p)])
        out[p] = int(np.cumsum(steps).max(initial=0))
    return out


def execute(
    pp: int,
    v: int,
    m: int,
    forward_s: F64,
    backward_s: F64,
    transfer_s: F64,
    extra_s: F64 | None = None,
    pass_end: PassClock | None = None,
    transfer_end: LinkClock | None = None,
) -> Timeline:
    """Runs the schedule. ``forward_s[p, c]`` / ``backward_s[p, c]``: one pass of chunk ``c``
    on stage ``p``; ``transfer_s[p]``: an activation (or its gradient) between stage ``p``
    and stage ``p + 1`` (``transfer_s[pp - 1]``: last stage to first, interleaved only), or
    ``transfer_s[0, p]`` the activation's and ``transfer_s[1, p]`` the gradient's;
    ``extra_s[p, c, mb, backward]``: time added to one pass (the SMs a collective beside it
    took); ``pass_end`` and ``transfer_end``: the clock's say on when a pass or a transfer
    begun at a time ends (None: its duration later; fault windows,
    :mod:`fabricsim.workload.fault_windows`)."""
    transfer_s = np.broadcast_to(np.asarray(transfer_s, dtype=np.float64), (2, pp))
    orders = [stage_order(pp, v, m, p) for p in range(pp)]
    n = sum(len(o) for o in orders)
    end_f = np.full((pp, v, m), np.nan)
    end_b = np.full((pp, v, m), np.nan)
    rows: dict[str, list[float] | list[int] | list[bool]] = {
        k: [] for k in ("stage", "chunk", "mb", "bwd", "start", "end", "wt", "wb")
    }
    pos = [0] * pp
    free = [0.0] * pp
    done = 0
    while done < n:
        progressed = False
        for p in range(pp):
            order = orders[p]
            while pos[p] < len(order):
                backward, c, mb = order[pos[p]]
                ready, link, boundary = _input(p, c, mb, backward, pp, v, end_f, end_b, transfer_s)
                if np.isnan(ready):
                    break
                if transfer_end is not None and link > 0:
                    link = transfer_end(boundary, backward, ready, link) - ready
                start = max(free[p], ready + link)
                # the idle gap before the pass: the part the transfer was in flight is the
                # transfer's, the rest the schedule's
                gap = start - free[p]
                sending = max(0.0, min(start, ready + link) - max(free[p], ready))
                wt = min(gap, sending)
                dur = backward_s[p, c] if backward else forward_s[p, c]
                # (the windows meet the pass's own work; the SMs' toll follows it)
                end = start + dur if pass_end is None else pass_end(p, c, backward, start, dur)
                if extra_s is not None:
                    end += extra_s[p, c, mb, int(backward)]
                (end_b if backward else end_f)[p, c, mb] = end
                for key, value in (
                    ("stage", p),
                    ("chunk", c),
                    ("mb", mb),
                    ("bwd", backward),
                    ("start", start),
                    ("end", end),
                    ("wt", wt),
                    ("wb", gap - wt),
                ):
                    rows[key].append(value)  # type: ignore[arg-type]
                free[p] = end
                pos[p] += 1
                done += 1
                progressed = True
        if not progressed:  # pragma: no cover - the orders above always make progress
            raise InternalError("pipeline schedule: no stage can run its next pass")
    return Timeline(
        stage=np.asarray(rows["stage"], dtype=np.int64),
        chunk=np.asarray(rows["chunk"], dtype=np.int64),
        microbatch=np.asarray(rows["mb"], dtype=np.int64),
        backward=np.asarray(rows["bwd"], dtype=np.bool_),
        start_s=np.asarray(rows["start"], dtype=np.float64),
        end_s=np.asarray(rows["end"], dtype=np.float64),
        wait_transfer_s=np.asarray(rows["wt"], dtype=np.float64),
        wait_bubble_s=np.asarray(rows["wb"], dtype=np.float64),
    )


def _input(
    p: int, c: int, mb: int, backward: bool, pp: int, v: int, end_f: F64, end_b: F64, transfer_s: F64
) -> tuple[float, float, int]:
    """When the pass's input is ready at its source, the transfer it takes (0: none) and the
    stage boundary it crosses."""
    if not backward:
        if p > 0:
            return float(end_f[p - 1, c, mb]), float(transfer_s[0, p - 1]), p - 1
        if c > 0:
            return float(end_f[pp - 1, c - 1, mb]), float(transfer_s[0, pp - 1]), pp - 1
        return 0.0, 0.0, 0
    if p < pp - 1:
        return float(end_b[p + 1, c, mb]), float(transfer_s[1, p]), p
    if c < v - 1:
        return float(end_b[0, c + 1, mb]), float(transfer_s[1, pp - 1]), pp - 1
    return float(end_f[p, c, mb]), 0.0, 0


__all__ = ["Timeline", "execute", "in_flight", "stage_order"]
