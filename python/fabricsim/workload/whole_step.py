"""A training step run whole, as the result a user reads: the step's trace (every call of every
GPU, :mod:`fabricsim.workload.unreduced`) run on the fabric, with the step time, model FLOP/s,
memory and the critical GPU's breakdown of the reduced step (:class:`TrainingStepResult`).

``fab.run(step, faults=[...])`` comes here by itself when a fault holds for part of the step
(a link down from 10 ms to 60 ms): the reduced step times each distinct call once, on an idle
fabric without a clock, and cannot say which calls a window meets; the trace runs every call
at its own time. It costs what the trace costs (operations grow with every call of every GPU),
so it is refused past :data:`MAX_OPS` operations or their collectives' expansion past
:data:`fabricsim.workload.dag.MAX_OPS`.

The breakdown cuts the critical GPU's time (the GPU that finishes last; of those, the one whose
passes end last) into instants and gives each to the first of: its passes' kernels
(``compute_s`` and ``memory_bound_s`` in its stage's proportion, less what the SMs' toll added
to them, which goes to the call that took them), the optimizer, one of its calls in flight
(``tp_s``, ``cp_s``, ``ep_s``, ``dp_s``: exposed), a transfer to it in flight (``pp_s``), and
otherwise waiting: ``bubble_s`` before its last pass ends, ``replica_wait_s`` after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.errors import SpecError
from fabricsim.timeline import Events
from fabricsim.workload import pipeline
from fabricsim.workload.memory_estimate import estimate
from fabricsim.workload.step_result import BREAKDOWN, StepFigures
from fabricsim.workload.unreduced import pass_costs, run_step_taken

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.step import TrainingStep
    from fabricsim.workload.trace import Trace, TraceResult

F64 = npt.NDArray[np.float64]
MAX_OPS = 2_000_000
"""The most operations (passes, calls, transfers) a step's trace run whole may hold; its calls
expand further on the fabric, up to :data:`fabricsim.workload.dag.MAX_OPS` steps of
collectives (a trace of 75,840 operations: 9.5 million, 49 s and 4.0 GB for the two runs)."""
CALL_ORDER = ("tp", "cp", "ep", "dp")
"""Breakdown keys of calls, first first where two are in flight at once."""
KEY_OF = {"tp": "tp", "etp": "tp", "cp": "cp", "ep": "ep", "dp": "dp", "edp": "dp"}
"""A call's communicator kind (the first word of its name) -> its breakdown key."""


def run_whole(
    step: TrainingStep,
    fabric: Fabric,
    options: RunOptions,
    memory: dict[str, F64] | None = None,
    why: str = "step",
) -> WholeStepResult:
    """``step`` run whole (:func:`~fabricsim.workload.unreduced.run_step`) as a step result;
    ``memory``: the step's estimate (None: estimated here); ``why`` names what asked for it
    (an error past :data:`MAX_OPS` starts with it)."""
    if memory is None:
        plan = step.plan
        memory = estimate(
            step.model, plan, pipeline.in_flight(plan.pp, plan.virtual_stages, plan.microbatches)
        )
    try:
        res, taken, first = run_step_taken(step, fabric, options, max_ops=MAX_OPS)
    except SpecError as e:
        if e.path != "trace":
            raise
        raise SpecError(
            f"{why}: a fault for part of the step runs the step whole, and {e}; give faults for the "
            f"whole step (link_slow with its default window, link_failed), or a smaller plan",
            path=why,
        ) from e
    return WholeStepResult(step, res, taken, first, memory, options.fidelity)


class WholeStepResult(StepFigures):
    """A training step run whole: what :class:`TrainingStepResult` says (``step_time_s``,
    ``tokens_per_s``, ``model_tflops_per_gpu``, ``mfu``, ``memory``, ``breakdown`` adding up to
    the step time), from every call of every GPU on the fabric (see the module's text).
    ``critical_gpu``: the GPU the breakdown is of; ``trace_result``: the run
    (:class:`~fabricsim.workload.TraceResult`: per operation its start and finish); tables
    ``ops`` and the network's; ``to_perfetto(path)``: every GPU's operations."""

    def __init__(
        self,
        step: TrainingStep,
        res: TraceResult,
        taken: dict[int, dict[str, float]],
        first: TraceResult,
        memory: dict[str, F64],
        fidelity: str,
    ) -> None:
        self._figures(step, res.time_us / 1e6, memory, fidelity)
        self.trace_result = res
        self.fabric_runs = 2 if taken else 1
        """Runs of the trace: a second with the compute the SMs' toll lengthened."""
        self.replicas_executed = step.plan.dp
        g = _critical_gpu(res.trace, res)
        self.critical_gpu = g
        plan = step.plan
        rank = int(np.flatnonzero(plan.rank_gpus() == g)[0])
        p, d = (int(x[0]) for x in np.nonzero((plan.grid() == rank).any(axis=(2, 3))))
        self.critical = (d, p)
        """(data-parallel replica, stage) of the critical GPU."""
        b = _breakdown(step, res, taken, g, p)
        if first is not res:
            # waits as the run without the SMs' toll has them; what the toll added to them
            # (a later stage's slowed backward holds this one up) is the toll's: dp_s, as in
            # the reduced step
            free = _breakdown(step, first, {}, g, p)
            for k in ("pp_s", "bubble_s", "replica_wait_s"):
                b["dp_s"] += b[k] - free[k]
                b[k] = free[k]
        self.breakdown = b

    def _critical_text(self) -> str:
        return f"GPU {self.critical_gpu}, replica {self.critical[0]}, stage {self.critical[1]}; run whole"

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``ops`` (every operation of the step's trace: kind, GPU, bytes, start and finish),
        then the network's."""
        return self.trace_result.tables()

    def _timeline(self) -> list[Events]:
        return self.trace_result._timeline()


def _gpu_ops(trace: Trace, g: int) -> list[int]:
    return [i for i, op in enumerate(trace.ops) if (op.gpu == g and not op.gpus) or g in op.gpus]


def _critical_gpu(trace: Trace, res: TraceResult) -> int:
    """The GPU that finishes last; of those, the one whose passes end last (the cause)."""
    last: dict[int, float] = {}
    passes: dict[int, float] = {}
    finish = res.op_finish_us
    for i, op in enumerate(trace.ops):
        for g in op.gpus or (op.gpu,):
            last[g] = max(last.get(g, 0.0), float(finish[i]))
            if op.kind == "compute" and op.name != "optimizer":
                passes[g] = max(passes.get(g, 0.0), float(finish[i]))
    end = max(last.values())
    tied = [g for g, t in last.items() if t >= end * (1 - 1e-12)]
    return min(tied, key=lambda g: (-passes.get(g, 0.0), g))


def _breakdown(
    step: TrainingStep, res: TraceResult, taken: dict[int, dict[str, float]], g: int, stage: int
) -> dict[str, float]:
    ops = res.trace.ops
    start, finish = res.op_start_us, res.op_finish_us
    mine = _gpu_ops(res.trace, g)
    end = max(float(finish[i]) for i in mine)
    kinds: dict[str, list[tuple[float, float]]] = {k: [] for k in ("pass", "optimizer", "pp", *CALL_ORDER)}
    for i in mine:
        op = ops[i]
        span = (float(start[i]), float(finish[i]))
        if op.kind == "compute":
            kinds["optimizer" if op.name == "optimizer" else "pass"].append(span)
        elif op.gpus:
            kinds[KEY_OF.get(op.name.split(" ")[0], "dp")].append(span)
    for i, op in enumerate(ops):
        if op.kind == "send" and op.peer == g:
            kinds["pp"].append((float(start[i]), float(finish[i])))
    last_pass = max((e for _, e in kinds["pass"]), default=0.0)
    points = np.unique(
        np.clip([0.0, end, *(t for spans in kinds.values() for span in spans for t in span)], 0, end)
    )
    seg = np.diff(points)
    covered = {}
    for k, spans in kinds.items():
        count = np.zeros(len(points))
        for s, e in spans:
            if e > s:
                count[np.searchsorted(points, s)] += 1
                count[np.searchsorted(points, e)] -= 1
        covered[k] = np.cumsum(count)[:-1] > 0
    b: dict[str, float] = dict.fromkeys(BREAKDOWN, 0.0)
    left = np.ones(len(seg), dtype=bool)
    passes_s = 0.0
    for k in ("pass", "optimizer", *CALL_ORDER, "pp"):
        mask = left & covered[k]
        left &= ~mask
        t = float(seg[mask].sum()) / 1e6
        if k == "pass":
            passes_s = t
        else:
            b["optimizer_s" if k == "optimizer" else f"{k}_s"] += t
    waiting = seg[left]
    before = points[:-1][left] < last_pass
    b["bubble_s"] += float(waiting[before].sum()) / 1e6
    b["replica_wait_s"] += float(waiting[~before].sum()) / 1e6
    # the passes' kernels less the SMs' toll, which goes to the calls that took them
    toll = 0.0
    for i in mine:
        for name, t in taken.get(ops[i].id, {}).items():
            b[f"{KEY_OF.get(name.split(' ')[0], 'dp')}_s"] += t / 1e6
            toll += t / 1e6
    kernels = passes_s - toll
    cc = pass_costs(step.model, step.plan, step.gpu)[stage]
    math_s = sum(c.forward.compute_s + c.backward.compute_s for c in cc)
    total_s = math_s + sum(c.forward.memory_s + c.backward.memory_s for c in cc)
    share = math_s / total_s if total_s > 0 else 1.0
    b["compute_s"] = kernels * share
    b["memory_bound_s"] = kernels * (1 - share)
    return b


__all__ = ["MAX_OPS", "WholeStepResult", "run_whole"]
