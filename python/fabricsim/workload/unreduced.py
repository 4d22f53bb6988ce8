"""A training step without the reuse, as a trace: every pass of every GPU (its kernels, one
compute operation), every collective call of every communicator, every pipeline send and
receive, every gradient bucket, the optimizer and the parameter gather, with their
dependencies (:class:`~fabricsim.workload.Trace`), run whole on the fabric: each call meets
whatever traffic is on the fabric when it runs. It is the cross-check of
:class:`~fabricsim.workload.TrainingStep` on sizes where it fits (docs/fidelity.md, "Training
steps"), and ``step.to_trace()``: a generated step a user edits, or runs with faults at given
times.

Same inputs, same semantics as the reduced step: a GPU runs its passes in the pipeline
schedule's order, each pass its kernels with its collectives in order through them (a layer's
after the layer's kernels); calls that overlap compute on a side stream; a pass waits for its
input's transfer; a send does not block; the last microbatch's backward of a chunk frees its
gradient buckets as it goes, each reduced on a second stream; the optimizer runs after both streams; ZeRO-1/2
gathers the parameters after it. A collective starts once every member is ready and ends once
every member's part has (a trace's collective).

A collective's kernel holds its share of the GPU's SMs while it runs (``step.sm_share``), and
the compute beside it (a side-stream call's pass, the backward passes a gradient bucket
overlaps) runs that much slower. A trace's kernels have fixed times, so :func:`run_step` runs
the trace, lengthens each compute operation by the share times its time beside a collective
of its GPU, and runs it again: one round, as the reduced step does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from fabricsim.errors import SpecError
from fabricsim.workload import pipeline
from fabricsim.workload.layer_costs import ELEMENT_BYTES, LayerCosts, chunk_costs, gather_params_per_layer
from fabricsim.workload.memory_estimate import stage_params
from fabricsim.workload.trace import Trace, TraceOp

if TYPE_CHECKING:
    import numpy.typing as npt

    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.gpu import GpuSpec
    from fabricsim.workload.model import Transformer
    from fabricsim.workload.plan import Parallelism
    from fabricsim.workload.step import TrainingStep
    from fabricsim.workload.trace import TraceResult


# What happens at a point of a pass's compute, in the order they happen at one point: its
# compute up to there (END: the pass's last), an exposed call (a layer's, at its end), an
# overlapped call's end waited for (a prefetch for the next layer: after this layer's calls),
# a bucket freed, the next layer's parameters waited for (overlap_param_gather), an overlapped
# call started (after the previous one's end at a layer's boundary).
END, EXPOSED, JOIN, FREE, PARAMS, START = -1, 0, 1, 2, 3, 4


class _Ops:
    """The trace's operations, grown in an order where every dependency comes first."""

    def __init__(self, extra_us: Mapping[int, float] | None = None, max_ops: int | None = None) -> None:
        self.ops: list[TraceOp] = []
        self.extra_us = extra_us or {}
        """Per compute operation (its id), time added to its kernels (us)."""
        self.max_ops = max_ops

    def add(self, kind: str, after: list[int | None], **fields: object) -> int:
        i = len(self.ops)
        if self.max_ops is not None and i >= self.max_ops:
            raise SpecError(
                f"the step as a trace holds more than {self.max_ops:,} operations (every call of every GPU)",
                path="trace",
            )
        if i in self.extra_us:
            fields["duration_us"] = float(fields["duration_us"]) + self.extra_us[i]  # type: ignore[arg-type]
        deps = tuple(sorted({a for a in after if a is not None}))
        self.ops.append(TraceOp(id=i, kind=kind, after=deps, **fields))  # type: ignore[arg-type]
        return i


def pass_costs(model: Transformer, plan: Parallelism, gpu: GpuSpec) -> list[list[LayerCosts]]:
    """Every stage's and chunk's pass costs (``[stage][chunk]``, :func:`chunk_costs`), ZeRO-3's
    parameter gathers (and their copies) added: what the reduced step, the trace and the
    trace's breakdown all run."""
    costs = [
        [chunk_costs(model, plan, gpu, p, c) for c in range(plan.virtual_stages)] for p in range(plan.pp)
    ]
    if plan.zero >= 3:
        params = stage_params(model, plan)
        gather_params_per_layer(costs, params.dense + params.expert, model, plan, gpu)
    return costs


def step_trace(
    step: TrainingStep, extra_us: Mapping[int, float] | None = None, max_ops: int | None = None
) -> Trace:
    """The step as a trace (see the module's text); ``extra_us``: per compute operation (its
    id), time added to it (the SMs collectives beside it took: :func:`run_step`); ``max_ops``:
    a SpecError past that many operations (before building them all)."""
    plan, model, gpu = step.plan, step.model, step.gpu
    pp, v, dp, tp, m = plan.pp, plan.virtual_stages, plan.dp, plan.tp, plan.microbatches
    grid, gpus = plan.grid(), plan.rank_gpus()
    costs = pass_costs(model, plan, gpu)
    params = stage_params(model, plan)
    if max_ops is not None and (least := _ops_at_least(step, costs)) > max_ops:
        raise SpecError(
            f"the step as a trace holds more than {max_ops:,} operations (every call of every GPU: "
            f"at least {least:,})",
            path="trace",
        )
    speed = step.stage_speed()  # [dp, pp]
    out = _Ops(extra_us, max_ops)
    main: dict[int, int] = {}  # GPU -> its last operation on the compute stream
    grads: dict[int, int] = {}  # and on the gradient stream
    arrived: dict[tuple[int, int, int, int, bool], int] = {}  # (gpu, p, c, mb, bwd) -> its receive
    nbytes_p2p = plan.microbatch_size * model.seq_len // plan.cp * model.hidden * ELEMENT_BYTES // tp
    last_mb = {
        c: max(mb for bwd, cc, mb in pipeline.stage_order(pp, v, m, 0) if bwd and cc == c) for c in range(v)
    }
    # per stage, its last backward pass (chunk, microbatch), and the buckets it waits for
    last_backward = {
        p: next((cc, mb) for bwd, cc, mb in reversed(pipeline.stage_order(pp, v, m, p)) if bwd)
        for p in range(pp)
    }
    deferred: dict[int, list[tuple[int, str]]] = {}
    groups = {k: plan.groups(k) for k in ("tp", "cp", "dp", "ep", "etp", "edp")}
    reduced = step.reduced_params(params)

    stage_rows: dict[tuple[str, int], npt.NDArray[np.int64]] = {}

    def rows_of(kind: str, stage: int) -> npt.NDArray[np.int64]:
        """The communicators of one kind that hold GPUs of this stage (found once per pair)."""
        if (kind, stage) not in stage_rows:
            g = groups[kind]
            mine = set(gpus[grid[stage]].ravel().tolist())
            stage_rows[kind, stage] = g[[bool(mine & set(row.tolist())) for row in g]]
        return stage_rows[kind, stage]

    def collective(
        kind: str,
        group: str,
        nbytes: int,
        rows: npt.NDArray[np.int64],
        stream: dict[int, int],
        extra: dict[int, int] | None = None,
    ) -> None:
        for row in rows:
            members = [int(g) for g in row]
            after = [stream.get(g) for g in members] + ([extra.get(g) for g in members] if extra else [])
            # (named by its communicator kind first: the breakdown of the step run whole reads it)
            i = out.add(kind, after, gpus=tuple(members), bytes=int(nbytes), name=f"{group} {kind}")
            for g in members:
                stream[g] = i

    # overlap_param_gather: the updated parameters gathered at the step's start on their own
    # stream, chunk after chunk and layer by layer (each layer's share bucketed); each layer of
    # a chunk's first forward waits for its own
    gathered: dict[tuple[int, int], list[dict[int, int]]] = {}
    if plan.overlap_param_gather and plan.zero in (1, 2):
        for p in range(pp):
            early: dict[int, int] = {}
            for c in range(v):
                n, buckets = step.layer_gathers(reduced, p, c)
                gathered[p, c] = []
                for _ in range(n):
                    for size, group in buckets:
                        collective("all_gather", group, size, rows_of(group, p), early)
                    gathered[p, c].append(dict(early))

    # the passes in an order where every input's send is added before its receive is needed:
    # by the start times of the schedule run with unit times (a valid topological order)
    tl = pipeline.execute(pp, v, m, np.ones((pp, v)), np.full((pp, v), 2.0), np.zeros(pp))
    for i in np.lexsort((tl.stage, tl.start_s)):
        p, c, mb, bwd = int(tl.stage[i]), int(tl.chunk[i]), int(tl.microbatch[i]), bool(tl.backward[i])
        cost = costs[p][c].backward if bwd else costs[p][c].forward
        reduce_grads = bwd and mb == last_mb[c] and bool(reduced)
        buckets = step.chunk_buckets(reduced, p, c)
        # The pass as events along its compute (fractions of it, the same on every GPU of the
        # stage whatever its speed): calls that overlap compute (context parallelism's gathers,
        # ZeRO-3's prefetches, one per layer; tensor-parallel overlap's, four per layer) start
        # evenly, each communicator kind's through the pass apart from the others', on a side
        # stream, and the pass
        # waits for each once its share of compute is done beside it; exposed calls run on the
        # compute stream spread through it, a layer's at each layer's end, before the pass
        # waits for a prefetch that spans the layer (it runs beside them too, on its own
        # stream: as in the reduced step); in the last backward that frees gradient buckets
        # as it goes, bucket j of n is freed once (j + 1) / n of it is done.
        calls = cost.calls
        overlapped = [call[3] > 0 and call[2] > 0 and rows_of(call[1], p).shape[1] > 1 for call in calls]
        beside = [call for call, o in zip(calls, overlapped, strict=True) if o]
        exposed = [call for call, o in zip(calls, overlapped, strict=True) if not o]
        releasing = reduce_grads and plan.overlap_grad_reduce
        work_s = cost.compute_s + cost.memory_s
        events: list[tuple[float, int, int]] = []  # (fraction of the compute, what, which)
        # each communicator kind's overlapped calls spread evenly through the pass, apart from
        # the other kinds' (ZeRO-3's prefetches and context parallelism's gathers one per
        # layer, at its start; tensor-parallel overlap's four per layer), so a kind's i-th of n
        # starts at i / n whatever else runs beside it
        of_kind: dict[str, int] = {}
        for call in beside:
            of_kind[call[1]] = of_kind.get(call[1], 0) + 1
        seen: dict[str, int] = {}
        for k, call in enumerate(beside):
            i, n = seen.get(call[1], 0), of_kind[call[1]]
            seen[call[1]] = i + 1
            start_f = i / n
            events.append((start_f, START, k))
            join_f = min(start_f + (call[3] / work_s if work_s > 0 else 1.0), 1.0)
            if abs(join_f - (i + 1) / n) < 1e-9:  # a whole share: at its end, exactly
                join_f = (i + 1) / n
            events.append((join_f, JOIN, k))
        layers = max(plan.slice_layers(model.layers)[c * pp + p], 1)
        for k in range(len(exposed)):
            if beside:  # a layer's share at each layer's end: outside the overlapped calls' windows
                at = (k * layers // len(exposed) + 1) / layers
            else:
                at = (k + 1) / len(exposed)
            events.append((at, EXPOSED, k))
        if releasing:
            events += [((j + 1) / len(buckets), FREE, j) for j in range(len(buckets))]
        name = f"{'B' if bwd else 'F'} mb{mb} c{c}"
        stage = [(d, int(g)) for d in range(dp) for g in gpus[grid[p, d]].ravel()]
        total_us = {d: work_s / speed[d, p] * 1e6 for d in range(dp)}
        params_ready = gathered.get((p, c), []) if not bwd and mb == 0 else []
        events += [(j / len(params_ready), PARAMS, j) for j in range(len(params_ready))]
        for _, r in stage:  # the pass starts after the GPU's last operation and its input
            main[r] = out.add(
                "compute", [main.get(r), arrived.get((r, p, c, mb, bwd))], gpu=r, duration_us=0.0, name=name
            )
        done = 0.0
        sides: dict[int, dict[int, int]] = {}
        last_side: dict[str, dict[int, int]] = {}  # a kind's overlapped calls: one stream, in order
        freed: dict[int, dict[int, int]] = {}
        for f, what, k in sorted([*events, (1.0, END, 0)]):
            if f > done:
                for d, r in stage:
                    main[r] = out.add(
                        "compute", [main[r]], gpu=r, duration_us=(f - done) * total_us[d], name=name
                    )
                done = f
            if what == START:
                kind, group, nbytes, _ = beside[k]
                sides[k] = {r: main[r] for _, r in stage}
                collective(kind, group, nbytes, rows_of(group, p), sides[k], last_side.get(group))
                last_side[group] = sides[k]
            elif what == JOIN:
                for _, r in stage:
                    main[r] = out.add("compute", [main[r], sides[k][r]], gpu=r, duration_us=0.0, name=name)
            elif what == EXPOSED:
                kind, group, nbytes, _ = exposed[k]
                rows = rows_of(group, p)
                if rows.shape[1] > 1 and nbytes:
                    collective(kind, group, nbytes, rows, main)
            elif what == FREE:
                freed[k] = {r: main[r] for _, r in stage}
            elif what == PARAMS:
                for _, r in stage:
                    ready = params_ready[k].get(r)
                    main[r] = out.add("compute", [main[r], ready], gpu=r, duration_us=0.0, name=name)
        # the activation (or its gradient) to the next stage
        target = _next(p, c, bwd, pp, v)
        if target is not None:
            q, cq = target
            for d in range(dp):
                for r, peer in zip(
                    gpus[grid[p, d]].ravel().tolist(), gpus[grid[q, d]].ravel().tolist(), strict=True
                ):
                    out.add("send", [main[r]], gpu=r, peer=peer, bytes=nbytes_p2p)
                    arrived[(peer, q, cq, mb, bwd)] = out.add("recv", [], gpu=peer, peer=r, bytes=nbytes_p2p)
        # gradient buckets of the chunk's last backward, on the second stream: as it frees them
        # (overlap_grad_reduce), or all of the stage's after its last backward pass
        kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"
        end = {r: main[r] for _, r in stage}
        if reduce_grads and plan.overlap_grad_reduce:
            for j, (size, group) in enumerate(buckets):
                collective(kind, group, size, rows_of(group, p), grads, freed.get(j, end))
        elif reduce_grads:
            deferred.setdefault(p, []).extend(buckets)
        if bwd and (c, mb) == last_backward[p]:
            for size, group in deferred.pop(p, []):
                collective(kind, group, size, rows_of(group, p), grads, end)
    # the optimizer after both streams, then ZeRO-1/2's parameter gather
    optimizer_s = step.optimizer_s(params, speed)  # [dp, pp]
    for p in range(pp):
        for d in range(dp):
            t_us = optimizer_s[d, p] * 1e6
            for g in gpus[grid[p, d]].ravel():
                r = int(g)
                main[r] = out.add(
                    "compute", [main[r], grads.get(r)], gpu=r, duration_us=t_us, name="optimizer"
                )
        if plan.zero in (1, 2) and not plan.overlap_param_gather:
            for arr, group in reduced:
                for size in step.buckets(arr[p].sum() * ELEMENT_BYTES):
                    collective("all_gather", group, size, rows_of(group, p), main)
    return Trace(out.ops, name=f"training step of {model.name or 'a model'}", library=step.library)


def _ops_at_least(step: TrainingStep, costs: list[list[LayerCosts]]) -> int:
    """At least how many operations the step's trace holds, counted without building it:
    every pass is two on each GPU of its stage (its start and its compute), and each of its
    calls one per communicator of the stage."""
    plan = step.plan
    m, per_stage = plan.microbatches, plan.gpus // plan.pp
    passes = plan.gpus * 2 * m * plan.virtual_stages * 2
    groups = [call[1] for row in costs for cc in row for call in (*cc.forward.calls, *cc.backward.calls)]
    size = {k: int(plan.groups(k).shape[1]) for k in set(groups)}
    calls = sum(m * per_stage // size[g] for g in groups if size[g] > 1)
    return int(passes + calls)


def run_step(step: TrainingStep, fabric: Fabric, options: RunOptions) -> TraceResult:
    """The step with nothing reused: its trace run whole on ``fabric``, then, where collectives
    ran beside compute, run again with that compute lengthened by the SMs they took."""
    return run_step_taken(step, fabric, options)[0]


def run_step_taken(
    step: TrainingStep, fabric: Fabric, options: RunOptions, max_ops: int | None = None
) -> tuple[TraceResult, dict[int, dict[str, float]], TraceResult]:
    """:func:`run_step`; per compute operation the time the SMs' toll added to it, per the
    calls' name (:func:`sm_taken_by_call_us`); and the first run, without the toll.
    ``max_ops``: refuse a trace of more operations."""
    trace = step_trace(step, max_ops=max_ops)
    first = trace.run_on(fabric, options)
    taken = sm_taken_by_call_us(trace, first, step.sm_share)
    if not taken:
        return first, taken, first
    extra = {i: sum(by.values()) for i, by in taken.items()}
    return step_trace(step, extra).run_on(fabric, options), taken, first


def step_time_s(step: TrainingStep, fabric: Fabric, options: RunOptions) -> float:
    """The step's time with nothing reused (:func:`run_step`)."""
    return run_step(step, fabric, options).time_us / 1e6


def sm_taken_us(trace: Trace, res: TraceResult, share: float) -> dict[int, float]:
    """Per compute operation (its id) that ran while a collective of its GPU did: ``share``
    times that time (us). A call holds its members' SMs from its start (every member ready,
    as a trace's collective starts) to its end: a member's kernel spinning while it waits
    for its peers is not counted, as in the reduced step."""
    return {i: sum(by.values()) for i, by in sm_taken_by_call_us(trace, res, share).items()}


def sm_taken_by_call_us(trace: Trace, res: TraceResult, share: float) -> dict[int, dict[str, float]]:
    """:func:`sm_taken_us` per the calls' name (a step's: its communicator kind and its kind,
    ``"dp all_reduce"``; a trace's own: its kind), for a breakdown to say whose it was."""
    if share <= 0:
        return {}
    ops = trace.ops
    start, finish = res.op_start_us, res.op_finish_us
    spans: dict[tuple[int, str], list[tuple[float, float]]] = {}  # per GPU and call name
    for i, op in enumerate(ops):
        if op.gpus and finish[i] > start[i]:
            for g in op.gpus:
                spans.setdefault((g, op.name or op.kind), []).append((float(start[i]), float(finish[i])))
    per_gpu: dict[int, list[tuple[str, Callable[[float], float]]]] = {}
    for (g, name), parts in spans.items():
        per_gpu.setdefault(g, []).append((name, _time_before(parts)))
    taken: dict[int, dict[str, float]] = {}
    for i, op in enumerate(ops):
        if op.kind != "compute" or op.gpu not in per_gpu or finish[i] <= start[i]:
            continue
        for name, before in per_gpu[op.gpu]:
            beside = before(float(finish[i])) - before(float(start[i]))
            if beside > 0:
                taken.setdefault(op.id, {})[name] = share * beside
    return taken


def _time_before(spans: list[tuple[float, float]]) -> Callable[[float], float]:
    """``f(t)``: how long, before ``t``, at least one of ``spans`` ran (their union)."""
    merged: list[list[float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    starts = np.array([m[0] for m in merged])
    ends = np.array([m[1] for m in merged])
    done = np.concatenate(([0.0], np.cumsum(ends - starts)))

    def before(t: float) -> float:
        j = int(np.searchsorted(starts, t, side="right"))
        if j == 0:
            return 0.0
        return float(done[j - 1] + min(t, ends[j - 1]) - starts[j - 1])

    return before


def _next(p: int, c: int, bwd: bool, pp: int, v: int) -> tuple[int, int] | None:
    """Where a pass's output goes: (stage, chunk), or None (the pipeline's end)."""
    if not bwd:
        if p < pp - 1:
            return p + 1, c
        return (0, c + 1) if c < v - 1 else None
    if p > 0:
        return p - 1, c
    return (pp - 1, c - 1) if c > 0 else None


__all__ = ["run_step", "sm_taken_by_call_us", "sm_taken_us", "step_time_s", "step_trace"]
