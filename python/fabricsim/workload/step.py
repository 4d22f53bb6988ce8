"""A training step as a workload: ``fab.run(training_step(model, plan, gpu))``.

```text
 model, plan, gpu --> per pipeline chunk: kernel times and the collectives it calls (layer_costs)
                  --> each distinct collective once on the fabric, every communicator at once (comm)
                  --> per data-parallel replica: passes = kernels / its GPUs' speed + exposed calls
                  --> the pipeline schedule executed per distinct replica (pipeline)
                  --> gradient buckets reduced as backward frees them, optimizer, parameter gather
                  --> TrainingStepResult: step time, breakdown, model FLOP/s, memory, timeline
```

Replicas that are the same (same GPU speeds, same communicator times) are executed once;
a straggler or a degraded link makes its replica's passes differ and it runs on its own: the
reuse never changes the answer (tests/test_training.py checks it against the run without it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.checks import one_of
from fabricsim.collectives.library import Library
from fabricsim.errors import SpecError
from fabricsim.run_contract import Workload
from fabricsim.workload import pipeline
from fabricsim.workload.comm import CommModel
from fabricsim.workload.fault_windows import (
    WINDOW_TYPES,
    FaultWindow,
    StepClock,
    split,
    stretch,
    window_added_s,
)
from fabricsim.workload.gpu import GpuSpec
from fabricsim.workload.layer_costs import ELEMENT_BYTES, LayerCosts
from fabricsim.workload.memory_estimate import ADAM_BYTES_PER_PARAM, StageParams, estimate, stage_params
from fabricsim.workload.model import Transformer
from fabricsim.workload.plan import Parallelism
from fabricsim.workload.step_result import TrainingStepResult
from fabricsim.workload.unreduced import pass_costs

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.trace import Trace
    from fabricsim.workload.whole_step import WholeStepResult

F64 = npt.NDArray[np.float64]
WHOLE_STEP_NS = 1e15
"""A fault window this long (``fs.faults.link_slow``'s default) lasts the whole step."""
FAULT_WINDOWS = ("auto", "whole", "reduced")
"""How a fault for part of the step (``link_down``; ``link_slow``, ``link_ber`` for a while) is run:
``"whole"``, the step's trace run whole on the fabric, every call meeting the fault at its own
time (up to :data:`fabricsim.workload.whole_step.MAX_OPS` operations); ``"reduced"``, the
reduced step on its clock (:mod:`fabricsim.workload.fault_windows`: any size, first-order);
``"auto"``, whole where the trace fits, else reduced."""


class TrainingStep(Workload):
    """One optimizer step of ``model`` trained with ``plan`` on GPUs like ``gpu``; build it
    with :func:`training_step`."""

    def __init__(
        self,
        model: Transformer,
        plan: Parallelism,
        gpu: GpuSpec,
        gpu_speed: Mapping[int, float] | npt.ArrayLike | None = None,
        library: str | Library = "nccl",
        check_memory: bool = True,
        reuse: bool = True,
        fault_windows: str = "auto",
    ) -> None:
        if not isinstance(model, Transformer):
            raise SpecError(f"model: expected a Transformer, got {type(model).__name__}", path="model")
        if not isinstance(plan, Parallelism):
            raise SpecError(f"plan: expected a Parallelism, got {type(plan).__name__}", path="plan")
        if isinstance(gpu, str):
            gpu = GpuSpec.preset(gpu)
        if not isinstance(gpu, GpuSpec):
            raise SpecError(f"gpu: expected a GpuSpec or a preset name, got {type(gpu).__name__}", path="gpu")
        plan.check_model(model)
        if plan.precision == "fp8" and gpu.fp8_matmul_efficiency is None:
            raise SpecError(
                f"plan.precision: 'fp8' needs a GPU with an FP8 peak and an FP8 GEMM measurement "
                f"(gpu.fp8_matmul_efficiency); {gpu.name} has none (presets with one: "
                f"{', '.join(n for n in GpuSpec.presets() if GpuSpec.preset(n).fp8_matmul_efficiency)}); "
                "use precision='bf16'",
                path="plan.precision",
            )
        self.model, self.plan, self.gpu = model, plan, gpu
        self.library = Library.preset(library) if isinstance(library, str) else library
        self.speed = _speeds(gpu_speed, plan.gpus)
        """Per rank, the speed of its GPU's kernels (1: as the spec)."""
        self.check_memory = bool(check_memory)
        self.reuse = bool(reuse)
        """Execute identical replicas once (off: every replica, for the cross-check)."""
        self.fault_windows = one_of("fault_windows", fault_windows, FAULT_WINDOWS)
        """How a fault for part of the step runs (:data:`FAULT_WINDOWS`)."""

    def run_on(self, fabric: Fabric, options: RunOptions) -> TrainingStepResult | WholeStepResult:
        plan, model, gpu = self.plan, self.model, self.gpu
        gpus = plan.rank_gpus()
        if plan.placement is None and plan.gpus != fabric.num_ranks:
            raise SpecError(
                f"plan: tp x pp x dp x cp = {plan.tp} x {plan.pp} x {plan.dp} x {plan.cp} = {plan.gpus} ranks, "
                f"the fabric has {fabric.num_ranks} GPUs (change dp to {fabric.num_ranks // (plan.gpus // plan.dp)} "
                f"if it divides, size the fabric with Fabric.preset(..., nodes=...), or give placement=)",
                path="plan",
            )
        if int(gpus.max()) >= fabric.num_ranks:
            raise SpecError(
                f"plan.placement: GPU {int(gpus.max())} is not on the fabric ({fabric.num_ranks} GPUs)",
                path="plan.placement",
            )
        # a fault for part of the step (a link down from 10 ms to 60 ms) meets the calls in its
        # window only: the step runs whole (whole_step.py), or the reduced step on its clock
        # (fault_windows.py); link-layer events (a corrupted flit...) only whole
        base_options, windows = split(options, WHOLE_STEP_NS)
        odd = [i for i, f in enumerate(options.faults) if f.type not in ("link_failed", *WINDOW_TYPES)]
        pp, v, m = plan.pp, plan.virtual_stages, plan.microbatches
        # memory first (the stages' in-flight microbatches follow from the schedule's order
        # alone): a plan that does not fit fails before any fabric run
        memory = estimate(model, plan, pipeline.in_flight(pp, v, m))
        worst = int(np.argmax(memory["total"]))
        if self.check_memory and memory["total"][worst] > gpu.memory_gib:
            raise SpecError(
                f"plan: stage {worst} needs {memory['total'][worst]:.1f} GiB per GPU "
                f"(parameters {memory['params'][worst]:.1f}, gradients {memory['grads'][worst]:.1f}, "
                f"optimizer {memory['optimizer'][worst]:.1f}, activations {memory['activations'][worst]:.1f}), "
                f"the {gpu.name} has {gpu.memory_gib:g}; try recompute='full', a larger tp or pp, zero=1..3, "
                f"a smaller microbatch_size, or check_memory=False to run anyway",
                path="plan",
            )
        if odd or (windows and self.fault_windows != "reduced"):
            from fabricsim.workload.whole_step import run_whole

            why = f"options.faults[{(odd or [w.index for w in windows])[0]}]"
            if odd or self.fault_windows == "whole":
                return run_whole(self, fabric, options, memory, why)
            try:
                return run_whole(self, fabric, options, memory, why)
            except SpecError as e:
                if e.path != why:  # not the trace's size: a real error
                    raise
        return self._run_reduced(fabric, base_options, windows, memory)

    def _run_reduced(
        self, fabric: Fabric, options: RunOptions, windows: list[FaultWindow], memory: dict[str, F64]
    ) -> TrainingStepResult:
        """The reduced step (the module's text), ``windows`` met on its clock."""
        if windows and options.fidelity != "flow":
            raise SpecError(
                f"options.faults[{windows[0].index}]: a fault for part of a step too large to run whole "
                f"(or with fault_windows='reduced') is met on the reduced step's clock, which holds it "
                f"as a slow link (flow fidelity only); run with fidelity='flow'",
                path=f"options.faults[{windows[0].index}]",
            )
        plan, model, gpu = self.plan, self.model, self.gpu
        pp, v, dp, m = plan.pp, plan.virtual_stages, plan.dp, plan.microbatches
        comm = CommModel(fabric, options, self.library)
        costs = pass_costs(model, plan, gpu)
        params = stage_params(model, plan)

        stage_speed = self.stage_speed()  # [dp, pp]
        share = self.sm_share
        exposed = self._exposed(comm, costs, stage_speed)  # per kind, [dp, pp, v, 2]
        comm_total = sum(exposed.values(), np.zeros((dp, pp, v, 2)))
        base = np.array(
            [
                [
                    [cc.forward.compute_s + cc.forward.memory_s, cc.backward.compute_s + cc.backward.memory_s]
                    for cc in row
                ]
                for row in costs
            ]
        )
        passes = base[None, :, :, :] / stage_speed[:, :, None, None] + comm_total  # [dp, pp, v, 2]
        transfer = self._transfer_s(comm)  # [dp, 2, pp]
        # each fault window: the calls timed with its fault held all step; per pass and
        # transfer, how much slower they run inside it (and by which kinds of calls)
        slowed: dict[str, F64] = {}  # per kind, [dp, pp, v, 2]: what the windows' faults add
        clock = StepClock(windows, [], [], [])
        for w in windows:
            w.comm = CommModel(fabric, replace(options, faults=(*options.faults, w.held())), self.library)
            hit = self._exposed(w.comm, costs, stage_speed)
            delta = {k: np.clip(hit[k] - exposed[k], 0.0, None) for k in exposed}
            for k, arr in delta.items():
                slowed[k] = slowed.get(k, np.zeros_like(arr)) + arr
            added = sum(delta.values(), np.zeros_like(passes))
            clock.pass_factor.append(w.factor(passes, passes + added))
            # (each direction its own: an uplink down holds the activations, not the gradients)
            clock.transfer_factor.append(w.factor(transfer, self._transfer_s(w.comm)))
            # a downed link stops a pass at its first call across it: where they sit in it
            clock.crossing.append(self._crossing(comm, w.comm, costs, stage_speed) if w.down else None)

        timelines: dict[int, pipeline.Timeline] = {}
        replica_of = np.zeros(dp, dtype=np.int64)
        seen: dict[bytes, int] = {}
        for d in range(dp):
            key = passes[d].tobytes() + transfer[d].tobytes() + clock.key(d)
            if self.reuse and key in seen:
                replica_of[d] = seen[key]
                continue
            seen[key] = d
            replica_of[d] = d
            pass_end, transfer_end = clock.of_replica(d)
            timelines[d] = pipeline.execute(
                pp, v, m, passes[d, :, :, 0], passes[d, :, :, 1], transfer[d], None, pass_end, transfer_end
            )

        # gradient buckets: chunk c of stage p is ready as its last backward pass frees it
        last_bwd, bwd_end = _backward_ends(timelines, replica_of, pp, v)
        reduced = self.reduced_params(params)
        dp_spans, dp_end = self._gradient_reduction(
            comm, reduced, last_bwd.max(axis=0), bwd_end.max(axis=0), clock
        )
        # the buckets' kernels take their SMs from the passes they overlap: each pass longer by
        # the share of its overlap, the schedule executed again with them (a later stage's
        # slower backward delays the earlier stages'), and the reduction again from the later
        # ends: one round (per executed replica: the others are the same)
        # (a pass's kernels are its compute and its exposed calls: only the compute share of the
        # overlap loses SMs, the pass's calls spread evenly through it)
        spans_of = [[(s, e) for q, s, e in dp_spans if q == p] for p in range(pp)]
        kernels = base[None, :, :, :] / stage_speed[:, :, None, None]
        busy = np.divide(kernels, passes, out=np.zeros_like(passes), where=passes > 0)  # [dp, pp, v, 2]
        extra = {
            r: share * _pass_overlap_s(tl, spans_of, m, v) * busy[r][:, :, None, :]
            for r, tl in timelines.items()
        }
        gathered = self._early_gathers_s(comm, self.reduced_params(params))
        if gathered is not None:
            # overlap_param_gather: each chunk's first forward waits for its parameters,
            # gathered at the step's start in chunk order; the wait is dp_s, as a toll is
            for r in timelines:
                extra[r] = extra[r] + self._gather_waits_s(
                    pp, v, m, passes[r], transfer[r], extra[r], clock.of_replica(r), gathered
                )
        contention = np.array([extra[int(r)].sum(axis=(1, 2, 3)) for r in replica_of]).reshape(dp, pp)
        # per replica and stage, its waits (on transfers, on the schedule) without the SMs'
        # toll: the breakdown counts what the toll adds to them as dp_s, its cause
        waits = _waits_s(timelines, replica_of, pp)
        if contention.any():
            timelines = {
                r: pipeline.execute(
                    pp,
                    v,
                    m,
                    passes[r, :, :, 0],
                    passes[r, :, :, 1],
                    transfer[r],
                    extra[r],
                    *clock.of_replica(r),
                )
                for r in timelines
            }
            last_bwd, bwd_end = _backward_ends(timelines, replica_of, pp, v)
            dp_spans, dp_end = self._gradient_reduction(
                comm, reduced, last_bwd.max(axis=0), bwd_end.max(axis=0), clock
            )
        optimizer_s = self.optimizer_s(params, stage_speed)
        gather_start = np.maximum(bwd_end.max(axis=0), dp_end)[None, :] + optimizer_s  # [dp, pp]
        gather_s = np.repeat(self._param_gather_s(comm, reduced)[None, :], dp, axis=0)
        if plan.overlap_param_gather:  # (gathered at the step's start: the waits above)
            gather_s = np.zeros_like(gather_s)
        if windows:  # (each window's gathers timed once, all stages at a time)
            held = {id(w.comm): self._param_gather_s(w.comm, reduced) for w in windows if w.comm is not None}
            for p in range(pp):
                healthy = float(gather_s[0, p])

                def held_at(comm: CommModel, p: int = p) -> float:
                    return float(held[id(comm)][p])

                spans = clock.call_spans(healthy, held_at)
                for d in range(dp):
                    start = float(gather_start[d, p])
                    end_s = stretch(start, healthy, spans)
                    if end_s != start + healthy:  # (untouched: keep its time exact)
                        gather_s[d, p] = end_s - start
        end = gather_start + gather_s
        step_s = float(end.max())
        window_s = window_added_s(timelines, replica_of, passes, extra if contention.any() else None, slowed)

        return TrainingStepResult(
            step=self,
            fabric=fabric,
            step_time_s=step_s,
            end_s=end,
            timelines=timelines,
            replica_of=replica_of,
            stage_speed=stage_speed,
            exposed=exposed,
            costs=costs,
            bwd_end_s=bwd_end,
            contention_s=contention,
            free_waits_s=waits,
            dp_end_s=dp_end,
            dp_spans=dp_spans,
            optimizer_s=optimizer_s,
            gather_s=gather_s,
            window_s=window_s,
            fault_windows=[
                {
                    "index": w.index,
                    "type": w.fault.type,
                    "link": w.fault.link,
                    "start_s": w.start_s,
                    "end_s": w.end_s,
                }
                for w in windows
            ],
            memory=memory,
            comm=comm,
            fidelity=options.fidelity,
        )

    def to_trace(self) -> Trace:
        """This step as a trace: every pass, call, transfer and bucket of every GPU with its
        dependencies (fabricsim.workload.unreduced), to edit, save (``to_json``) or run whole
        on a fabric (faults at given times included). Its operations grow with every call of
        every GPU: for small and medium steps."""
        from fabricsim.workload.unreduced import step_trace

        return step_trace(self)

    # -- parts ---------------------------------------------------------------------------

    def stage_speed(self) -> F64:
        """Per replica and stage: the slowest GPU of the stage's tensor and context group (they
        meet at every layer's collective), and of its expert group (every MoE layer)."""
        plan = self.plan
        g = plan.grid()  # [p, d, c, t]
        speed = self.speed[g].min(axis=(2, 3)).T  # [d, p]
        if plan.ep > 1:
            groups = speed.reshape(plan.dp // plan.ep, plan.ep, plan.pp)
            speed = np.repeat(groups.min(axis=1), plan.ep, axis=0)
        return np.asarray(speed, dtype=np.float64)

    def _pass_calls(
        self, comm: CommModel, costs: list[list[LayerCosts]], stage_speed: F64
    ) -> Iterator[tuple[int, int, int, str, F64, F64]]:
        """Every call of every pass, in order: ``(stage, chunk, backward, breakdown key, its time
        per replica, its exposed time per replica)``. A call beside compute hides behind it
        (at the replica's pace: a slower GPU's compute hides more) and takes its SMs from it; a
        ZeRO-3 prefetch, which spans a layer, also hides behind that layer's share of the
        pass's exposed calls and of the exposed parts of its other overlapped calls (tensor-
        parallel overlap's, context parallelism's) (it runs on its own stream beside them: unreduced.py's trace has
        the same), which lose no SMs to it: a call of ``t`` beside ``W`` of compute then ``E``
        of calls ends the layer at ``max(t, W + share min(t, W) + E)``."""
        plan = self.plan
        shape = (plan.dp, plan.pp, plan.virtual_stages, 2)
        share = self.sm_share

        def seen(t: F64, compute: F64, calls_beside: F64 | float = 0.0) -> F64:
            return np.maximum(t - compute - calls_beside, share * np.minimum(t, compute))

        calls = []
        # per pass, the exposed time of its calls other than the prefetches (which hide behind
        # it too: they run on their own stream beside the pass's other calls), and the prefetches
        others, prefetches = np.zeros(shape), np.zeros(shape[1:])
        for p in range(plan.pp):
            for c in range(plan.virtual_stages):
                for way, cost in enumerate((costs[p][c].forward, costs[p][c].backward)):
                    for kind, group, nbytes, overlap in cost.calls:
                        # (expert tensor groups are parts of the tensor group: tp in the breakdown)
                        key = "tp" if group == "etp" else group
                        t = self._group_time_s(comm, kind, group, nbytes)[:, p]
                        calls.append((p, c, way, key, t, overlap))
                        if overlap <= 0:
                            others[:, p, c, way] += t
                        elif key == "dp":
                            prefetches[p, c, way] += 1
                        else:
                            others[:, p, c, way] += seen(t, overlap / stage_speed[:, p])
        for p, c, way, key, t, overlap in calls:
            compute = overlap / stage_speed[:, p]
            calls_beside = (
                others[:, p, c, way] / prefetches[p, c, way] if overlap > 0 and key == "dp" else 0.0
            )
            yield p, c, way, key, t, seen(t, compute, calls_beside)

    def _exposed(self, comm: CommModel, costs: list[list[LayerCosts]], stage_speed: F64) -> dict[str, F64]:
        """Per kind of communicator, per replica, stage, chunk and direction (``[dp, pp, v,
        2]``): the time of its calls a pass does not hide behind its compute."""
        plan = self.plan
        exposed: dict[str, F64] = {}
        for p, c, way, key, _, seen in self._pass_calls(comm, costs, stage_speed):
            arr = exposed.setdefault(key, np.zeros((plan.dp, plan.pp, plan.virtual_stages, 2)))
            arr[:, p, c, way] += seen
        return exposed

    def _crossing(
        self, comm: CommModel, held: CommModel, costs: list[list[LayerCosts]], stage_speed: F64
    ) -> tuple[F64, F64]:
        """Per pass (``[dp, pp, v, 2]``), how many of its calls the fault ``held`` slows (they
        cross its link) and their exposed time without it."""
        shape = (self.plan.dp, self.plan.pp, self.plan.virtual_stages, 2)
        count, exposed = np.zeros(shape), np.zeros(shape)
        calls = zip(
            self._pass_calls(comm, costs, stage_speed),
            self._pass_calls(held, costs, stage_speed),
            strict=True,
        )
        for (p, c, way, _, t, seen), (*_, t_held, _) in calls:
            hit = t_held > t * (1 + 1e-9)
            count[:, p, c, way] += hit
            exposed[:, p, c, way] += np.where(hit, seen, 0.0)
        return count, exposed

    def _group_time_s(self, comm: CommModel, kind: str, group: str, nbytes: int) -> F64:
        """Per replica and stage, one call's time (s): the slowest communicator of that stage
        and replica."""
        plan = self.plan
        rows = plan.groups(group)
        t = comm.collective_ns(kind, group, nbytes, rows) / 1e9
        pp, dp, cp, tp = plan.pp, plan.dp, plan.cp, plan.tp
        if group == "tp":
            per = t.reshape(pp, dp, cp).max(axis=2)
        elif group == "etp":
            per = t.reshape(pp, dp, -1).max(axis=2)
        elif group == "cp":
            per = t.reshape(pp, dp, tp).max(axis=2)
        elif group == "ep":
            per = np.repeat(t.reshape(pp, cp * tp, dp // plan.ep).max(axis=1), plan.ep, axis=1)
        elif group == "edp":  # one communicator spans the replicas at one place in their groups
            per = np.repeat(t.reshape(pp, tp * plan.ep).max(axis=1)[:, None], dp, axis=1)
        else:  # dp: one communicator spans every replica
            per = np.repeat(t.reshape(pp, tp).max(axis=1)[:, None], dp, axis=1)
        return np.asarray(per.T, dtype=np.float64)  # [dp, pp]

    def _transfer_s(self, comm: CommModel) -> F64:
        """Per replica, direction and stage boundary ``p`` (stage ``p`` to ``p + 1``; the last:
        stage ``pp - 1`` to stage 0 for interleaving), ``[dp, 2, pp]``: the activation's
        transfer forward (direction 0) and its gradient's back (1), in seconds, every pair
        sending both ways at once."""
        plan, model = self.plan, self.model
        pp, dp = plan.pp, plan.dp
        out = np.zeros((dp, 2, pp))
        if pp == 1:
            return out
        g = plan.grid()
        gpus = plan.rank_gpus()
        nxt = np.roll(g, -1, axis=0)
        boundaries = pp if plan.virtual_stages > 1 else pp - 1
        src, dst = gpus[g[:boundaries]].ravel(), gpus[nxt[:boundaries]].ravel()
        nbytes = plan.microbatch_size * model.seq_len // plan.cp * model.hidden * ELEMENT_BYTES // plan.tp
        for way in (0, 1):
            t = comm.p2p_ns(src, dst, nbytes, way).reshape(boundaries, dp, -1).max(axis=2) / 1e9
            out[:, way, :boundaries] = t.T
        return out

    @property
    def sm_share(self) -> float:
        """The share of a GPU's SMs a collective's kernel holds while it runs (the library's
        ``kernel_sms`` over the GPU's ``sms``): what compute overlapped with it loses."""
        return min(self.library.kernel_sms / self.gpu.sms, 1.0)

    def buckets(self, nbytes: float) -> list[int]:
        """``nbytes`` of gradients (or parameters) cut into the plan's buckets, in order."""
        size = self.plan.bucket_bytes
        full, rest = divmod(int(nbytes), size)
        return [size] * full + ([rest] if rest else [])

    def chunk_buckets(self, parts: list[tuple[F64, str]], stage: int, chunk: int) -> list[tuple[int, str]]:
        """The gradient buckets chunk ``chunk`` of stage ``stage`` frees, in order, each with its
        group: its dense gradients', then its experts' (``parts``: :meth:`reduced_params`)."""
        grad = self.plan.grad_bytes_per_param
        return [(size, group) for arr, group in parts for size in self.buckets(arr[stage, chunk] * grad)]

    def layer_gathers(
        self, parts: list[tuple[F64, str]], stage: int, chunk: int
    ) -> tuple[int, list[tuple[int, str]]]:
        """``overlap_param_gather``: the chunk's layers (at least one) and the buckets, each
        with its group, that gather one layer's share of its updated parameters (bf16)."""
        n = max(self.plan.slice_layers(self.model.layers)[chunk * self.plan.pp + stage], 1)
        return n, [
            (size, group)
            for arr, group in parts
            for size in self.buckets(arr[stage, chunk] * ELEMENT_BYTES / n)
        ]

    def reduced_params(self, params: StageParams) -> list[tuple[F64, str]]:
        """The parameters whose gradients are reduced, each with its data-parallel group:
        dense ones over ``dp`` (``dp x cp`` ranks), experts over ``edp`` (the ``dp x cp / ep``
        ranks holding the same experts; with ``ep = 1`` the same group, in the same buckets).
        Groups of one rank reduce nothing and are left out."""
        plan = self.plan
        if plan.ep == 1:
            parts = [(params.dense + params.expert, "dp", plan.dp * plan.cp)]
        else:
            parts = [
                (params.dense, "dp", plan.dp * plan.cp),
                (params.expert, "edp", plan.dp * plan.cp // plan.ep),
            ]
        return [(arr, group) for arr, group, ranks in parts if ranks > 1]

    def _gradient_reduction(
        self,
        comm: CommModel,
        parts: list[tuple[F64, str]],
        last_bwd: F64,
        bwd_end: F64,
        clock: StepClock | None = None,
    ) -> tuple[list[tuple[int, float, float]], F64]:
        """Per stage, buckets of gradients reduced in order (all-reduce, or reduce-scatter with
        ZeRO) on their own stream, each once its layers' gradients are done (overlapped with
        backward) or after backward: a chunk's dense buckets over its data-parallel group,
        then its experts' over theirs (:meth:`reduced_params`); each meets the fault windows
        of ``clock`` at its start. Returns the spans
        ``(stage, start_s, end_s)`` and per stage the end."""
        plan = self.plan
        pp, v = plan.pp, plan.virtual_stages
        spans: list[tuple[int, float, float]] = []
        end = np.zeros(pp)
        if not parts:
            return spans, end
        kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"
        for p in range(pp):
            free = 0.0
            # the last chunk's backward finishes first (interleaving runs chunks in reverse)
            for c in sorted(range(v), key=lambda c: last_bwd[p, c, 1]):
                buckets = self.chunk_buckets(parts, p, c)
                start_s, end_s = last_bwd[p, c]
                total = float(sum(size for size, _ in buckets))
                done = 0.0
                for size, group in buckets:
                    done += size
                    ready = (
                        start_s + (end_s - start_s) * done / total if plan.overlap_grad_reduce else bwd_end[p]
                    )
                    t = self._bucket_s(kind, group, size, p, comm)
                    s = max(free, ready)
                    free = s + t
                    if clock is not None:
                        free = stretch(
                            s, t, clock.call_spans(t, partial(self._bucket_s, kind, group, size, p))
                        )
                    spans.append((p, s, free))
            end[p] = free
        return spans, end

    def _bucket_s(self, kind: str, group: str, nbytes: int, stage: int, comm: CommModel) -> float:
        """One gradient bucket's call on ``stage``'s data-parallel group (s)."""
        return float(self._group_time_s(comm, kind, group, nbytes)[0, stage])

    def _param_gather_s(self, comm: CommModel, parts: list[tuple[F64, str]]) -> F64:
        """ZeRO-1/2: the updated parameters all-gathered after the optimizer (bf16), per stage,
        each over its data-parallel group."""
        plan = self.plan
        out = np.zeros(plan.pp)
        if plan.zero not in (1, 2):
            return out
        for arr, group in parts:
            for p in range(plan.pp):
                for size in self.buckets(arr[p].sum() * ELEMENT_BYTES):
                    out[p] += float(self._group_time_s(comm, "all_gather", group, size)[0, p])
        return out

    def _early_gathers_s(self, comm: CommModel, parts: list[tuple[F64, str]]) -> tuple[F64, F64, F64] | None:
        """With ``overlap_param_gather`` (ZeRO-1/2): the updated parameters all-gathered at the
        step's start on the data-parallel stream, chunk after chunk in the order their forwards
        need them and, within a chunk, layer by layer (each layer's share bucketed)
        (Megatron-LM's ``--overlap-param-gather``: the next step's forward overlaps them).
        Per stage and chunk (``[pp, v]``): when the chunk's gathers begin, one layer's gather
        time, and the chunk's layers; None without it."""
        plan = self.plan
        if not plan.overlap_param_gather or plan.zero not in (1, 2) or not parts:
            return None
        pp, v = plan.pp, plan.virtual_stages
        layers, part = np.zeros((pp, v)), np.zeros((pp, v))
        for p in range(pp):
            for c in range(v):
                n, buckets = self.layer_gathers(parts, p, c)
                layers[p, c] = n
                for size, group in buckets:
                    part[p, c] += float(self._group_time_s(comm, "all_gather", group, size)[0, p])
        chunk = part * layers
        begin = np.cumsum(chunk, axis=1) - chunk
        return begin, part, layers

    @staticmethod
    def _gather_waits_s(
        pp: int,
        v: int,
        m: int,
        passes: F64,
        transfer: F64,
        extra: F64,
        ends: tuple[Any, Any],
        gathers: tuple[F64, F64, F64],
    ) -> F64:
        """``[pp, v, m, 2]``: what each chunk's first forward waits for its parameters
        (:meth:`_early_gathers_s`): its layers run one after another, each once its own
        gather is done, the wait added to the pass (its end, and everything after it, as if
        the pass had run so). A wait moves the later passes, so the schedule is executed again
        until the waits hold still (at most once per chunk and stage)."""
        begin, part, layers = gathers
        wait = np.zeros((pp, v, m, 2))
        for _ in range(pp * v + 1):
            tl = pipeline.execute(pp, v, m, passes[:, :, 0], passes[:, :, 1], transfer, extra + wait, *ends)
            new = np.zeros((pp, v))
            for i in np.flatnonzero((tl.microbatch == 0) & ~tl.backward):
                p, c = int(tl.stage[i]), int(tl.chunk[i])
                t0 = float(tl.start_s[i])
                run = float(tl.end_s[i]) - t0 - wait[p, c, 0, 0]
                n = int(layers[p, c])
                end = t0
                for layer in range(1, n + 1):
                    end = max(end, float(begin[p, c] + layer * part[p, c])) + run / n
                new[p, c] = max(end - (t0 + run), 0.0)
            if np.allclose(new, wait[:, :, 0, 0], rtol=0.0, atol=1e-12):
                break
            wait[:, :, 0, 0] = new
        return wait

    def optimizer_s(self, params: StageParams, stage_speed: F64) -> F64:
        """Per replica and stage: Adam over the GPU's share of the parameters (memory-bound):
        with ZeRO, the dense ones sharded over ``dp x cp`` ranks, the experts over theirs."""
        plan = self.plan
        dense_shard = plan.dp * plan.cp if plan.zero >= 1 else 1
        expert_shard = max(plan.dp * plan.cp // plan.ep, 1) if plan.zero >= 1 else 1
        t = np.array(
            [
                self.gpu.memory_s(
                    (params.dense[p].sum() / dense_shard + params.expert[p].sum() / expert_shard)
                    * ADAM_BYTES_PER_PARAM
                )
                for p in range(plan.pp)
            ]
        )
        return np.asarray(t[None, :] / stage_speed, dtype=np.float64)


def _backward_ends(
    timelines: dict[int, pipeline.Timeline], replica_of: npt.NDArray[np.int64], pp: int, v: int
) -> tuple[F64, F64]:
    """Per replica, stage and chunk, the start and end of the chunk's last backward pass
    (``[dp, pp, v, 2]``: it frees the chunk's gradient buckets); per replica and stage, the end
    of its last backward pass (``[dp, pp]``)."""
    dp = len(replica_of)
    last_bwd = np.zeros((dp, pp, v, 2))
    bwd_end = np.zeros((dp, pp))
    for d in range(dp):
        tl = timelines[int(replica_of[d])]
        for p in range(pp):
            rows = np.flatnonzero((tl.stage == p) & tl.backward)
            bwd_end[d, p] = tl.end_s[rows].max()
            for c in range(v):
                mine = rows[tl.chunk[rows] == c]
                last = mine[np.argmax(tl.end_s[mine])]
                last_bwd[d, p, c] = (tl.start_s[last], tl.end_s[last])
    return last_bwd, bwd_end


def _waits_s(timelines: dict[int, pipeline.Timeline], replica_of: npt.NDArray[np.int64], pp: int) -> F64:
    """Per replica and stage, its passes' waits on transfers and on the schedule
    (``[dp, pp, 2]``)."""
    out = np.zeros((len(replica_of), pp, 2))
    for d, r in enumerate(replica_of):
        tl = timelines[int(r)]
        np.add.at(out[d, :, 0], tl.stage, tl.wait_transfer_s)
        np.add.at(out[d, :, 1], tl.stage, tl.wait_bubble_s)
    return out


def _pass_overlap_s(tl: pipeline.Timeline, spans_of: list[list[tuple[float, float]]], m: int, v: int) -> F64:
    """Per pass of ``tl`` (``[pp, v, m, backward]``), how long it ran while one of its stage's
    ``spans_of[stage]`` (which do not overlap each other: one stream) did."""
    out = np.zeros((len(spans_of), v, m, 2))
    for p, spans in enumerate(spans_of):
        if not spans:
            continue
        rows = np.flatnonzero(tl.stage == p)
        starts, ends = tl.start_s[rows][:, None], tl.end_s[rows][:, None]
        s = np.array([a for a, _ in spans])[None, :]
        e = np.array([b for _, b in spans])[None, :]
        overlap = np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0.0, None).sum(axis=1)
        out[p, tl.chunk[rows], tl.microbatch[rows], tl.backward[rows].astype(np.int64)] = overlap
    return out


def _speeds(gpu_speed: Mapping[int, float] | npt.ArrayLike | None, n: int) -> F64:
    speed = np.ones(n)
    if gpu_speed is None:
        return speed
    if isinstance(gpu_speed, Mapping):
        for k, val in gpu_speed.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) < n:
                raise SpecError(f"gpu_speed: keys must be ranks in 0..{n - 1}, got {k!r}", path="gpu_speed")
            speed[int(k)] = val
    else:
        arr = np.asarray(gpu_speed, dtype=np.float64)
        if arr.shape != (n,):
            raise SpecError(
                f"gpu_speed: must give {n} factors (one per rank), got shape {arr.shape}", path="gpu_speed"
            )
        speed = arr.copy()
    bad = np.flatnonzero(~np.isfinite(speed) | (speed <= 0) | (speed > 10))
    if len(bad):
        raise SpecError(
            f"gpu_speed[{int(bad[0])}]: must be a factor in (0, 10] (1: as the spec), got {speed[bad[0]]!r}",
            path=f"gpu_speed[{int(bad[0])}]",
        )
    return speed


def training_step(
    model: Transformer | str,
    plan: Parallelism,
    gpu: GpuSpec | str = "h100_sxm",
    *,
    gpu_speed: Mapping[int, float] | npt.ArrayLike | None = None,
    library: str | Library = "nccl",
    check_memory: bool = True,
    reuse: bool = True,
    fault_windows: str = "auto",
) -> TrainingStep:
    """One training step of ``model`` (a :class:`Transformer` or a preset name) with ``plan``
    on GPUs like ``gpu`` (a :class:`~fabricsim.GpuSpec` or a preset name); run it with
    ``fab.run(step, fidelity="flow")`` (or ``"cycle"`` on small fabrics). ``gpu_speed``: per
    rank (a mapping ``{rank: factor}`` or one factor per rank) the speed of its kernels,
    stragglers below 1. ``library``: the communication library's costs. ``check_memory``:
    refuse a plan whose estimate does not fit the GPU's memory. ``reuse=False``: execute every
    data-parallel replica's schedule, even those the same as another (the same answer,
    slower: for checking). ``fault_windows``: how a fault for part of the step runs
    (:data:`FAULT_WINDOWS`: ``"auto"``, ``"whole"``, ``"reduced"``)."""
    if isinstance(model, str):
        model = Transformer.preset(model)
    spec = GpuSpec.preset(gpu) if isinstance(gpu, str) else gpu
    return TrainingStep(model, plan, spec, gpu_speed, library, check_memory, reuse, fault_windows)


__all__ = ["TrainingStep", "training_step"]
