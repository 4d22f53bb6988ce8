"""A training step without the reuse: every pass, every collective call, every pipeline
transfer and every gradient bucket of every GPU as one schedule (a DAG) on the fabric, all
in one run, so each call meets whatever traffic is on the fabric when it runs. Only for the
cross-check of :class:`~fabricsim.workload.TrainingStep` on sizes where it fits (a few
thousand calls): docs/fidelity.md, "Training steps".

Same inputs, same semantics as the reduced step: a GPU runs its passes in the pipeline
schedule's order, each pass its kernels (one timed operation) then its collectives in order;
a pass waits for its input's transfer; a send does not block; the last microbatch's backward
of a chunk frees its gradient buckets in order, each reduced on a second stream; the
optimizer runs after both streams; ZeRO-1/2 gathers the parameters after it. Kernels are
copy operations of ``duration_ps`` bytes at 1 ps a byte. The library's costs are those the
reduced step's calls carry: the launch latency on each call's first operations, the hop
latency on each of its sends, the launch latency on a pipeline send."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.execution import Execution
from fabricsim.collectives.ops import COPY, RECV, SEND
from fabricsim.collectives.run import execute_schedule
from fabricsim.collectives.schedule import Schedule
from fabricsim.collectives.tuner import protocol_costs
from fabricsim.errors import SpecError
from fabricsim.run_contract import require_complete
from fabricsim.workload import pipeline
from fabricsim.workload.comm import group_collective, tile
from fabricsim.workload.layer_costs import ELEMENT_BYTES, chunk_costs
from fabricsim.workload.memory_estimate import stage_params
from fabricsim.workload.step import ADAM_BYTES_PER_PARAM

if TYPE_CHECKING:
    from fabricsim.collectives.library import Library
    from fabricsim.collectives.run import CollectiveResult
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.step import TrainingStep

I64 = npt.NDArray[np.int64]
P2P_TAG = 1 << 40
"""Pipeline transfers' tags (collectives' tags stay far below)."""


class Dag:
    """A schedule of many calls (a training step, a trace), grown call by call: timed
    operations, point-to-point sends and receives, and collectives over groups of GPUs with
    ``library``'s costs."""

    def __init__(self, fabric: Fabric, library: Library) -> None:
        self.fabric, self.library = fabric, library
        self.cols: dict[str, list[npt.NDArray[np.int64]]] = {
            k: [] for k in ("op", "rank", "peer", "tag", "bytes", "delay")
        }
        self.deps: list[list[int]] = []
        self.n = 0
        self.launch_ps = round(library.costs("simple").base_latency_us * 1e6)

    def op(
        self, kind: int, rank: int, peer: int, nbytes: int, after: list[int], tag: int = 0, delay: int = 0
    ) -> int:
        for key, v in (
            ("op", kind),
            ("rank", rank),
            ("peer", peer),
            ("tag", tag),
            ("bytes", nbytes),
            ("delay", delay),
        ):
            self.cols[key].append(np.array([v], dtype=np.int64))
        self.deps.append([d for d in after if d >= 0])
        self.n += 1
        return self.n - 1

    def collective(self, kind: str, nbytes: int, groups: I64, after: dict[int, int]) -> dict[int, list[int]]:
        """Every row of ``groups`` runs ``kind`` of ``nbytes``; a rank's first operations wait
        for ``after[rank]``. Returns per rank its operations no other of the call waits for."""
        count, n = groups.shape
        op = group_collective(self.fabric, self.library, kind, nbytes, n, count)
        s: Schedule = tile(op.schedule(n), groups, self.fabric.num_ranks)
        delay, _ = protocol_costs(s, self.fabric, self.library, "simple")
        base = self.n
        waited = np.zeros(len(s.op), dtype=bool)
        waited[s.deps] = True
        for i in range(len(s.op)):
            own = (s.deps[s.dep_ptr[i] : s.dep_ptr[i + 1]] + base).tolist()
            r = int(s.rank[i])
            if not own and r in after:
                own.append(after[r])
            self.deps.append(own)
        for key, col in (
            ("op", s.op),
            ("rank", s.rank),
            ("peer", s.peer),
            ("tag", s.tag),
            ("bytes", s.bytes),
            ("delay", delay),
        ):
            self.cols[key].append(np.asarray(col, dtype=np.int64))
        self.n += len(s.op)
        ends: dict[int, list[int]] = {}
        for j in np.flatnonzero(~waited).tolist():
            ends.setdefault(int(s.rank[j]), []).append(base + int(j))
        return ends

    def build(self) -> tuple[Schedule, I64]:
        col = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in self.cols.items()}
        ptr = np.zeros(self.n + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(d) for d in self.deps])
        deps = np.asarray([d for ds in self.deps for d in ds], dtype=np.int32)
        ops = col["op"].astype(np.uint8)
        buf = np.where(ops == SEND, 0, np.where(ops == RECV, 1, 0)).astype(np.int32)
        schedule = Schedule(
            kind="all_reduce",
            ranks=self.fabric.num_ranks,
            pieces=1,
            piece_bytes=np.zeros(1, dtype=np.int64),
            root=0,
            op=ops,
            rank=col["rank"].astype(np.int32),
            peer=col["peer"].astype(np.int32),
            a=buf,
            b=np.full(self.n, -1, dtype=np.int32),
            out=np.where(ops == SEND, -1, 1).astype(np.int32),
            tag=col["tag"],
            bytes=col["bytes"],
            dep_ptr=ptr,
            deps=deps,
            algorithm="training_step",
        )
        return schedule, col["delay"]

    def run(self, options: RunOptions) -> CollectiveResult:
        """Executes the schedule on the fabric (operations of type copy: 1 ps a byte)."""
        schedule, delay = self.build()
        how = Execution(copy_ns_per_byte=0.001, verify=False, library=self.library)
        res = execute_schedule(self.fabric, schedule, None, options, how, delay_ps=delay)
        require_complete(res, options)
        return res


def join(ends: dict[int, list[int]], dag: Dag, ranks: list[int]) -> dict[int, int]:
    """One zero-time operation per rank after all of its ends (a single thing to wait for)."""
    return {r: dag.op(COPY, r, -1, 0, ends.get(r, [])) for r in ranks}


def step_time_s(step: TrainingStep, fabric: Fabric, options: RunOptions) -> float:
    """The step's time with nothing reused (see the module's text)."""
    plan, model, gpu = step.plan, step.model, step.gpu
    if plan.cp > 1 or plan.zero >= 3:
        raise SpecError(
            "plan: the unreduced step covers tp, pp, dp and ep (not cp or zero=3, whose calls overlap compute)",
            path="plan",
        )
    pp, v, dp, tp, m = plan.pp, plan.virtual_stages, plan.dp, plan.tp, plan.microbatches
    grid, gpus = plan.grid(), plan.rank_gpus()
    dag = Dag(fabric, step.library)
    costs = [[chunk_costs(model, plan, gpu, p, c) for c in range(v)] for p in range(pp)]
    params = stage_params(model, plan)
    speed = step._stage_speed()  # [dp, pp]
    main: dict[int, int] = {}  # rank's GPU -> its last operation on the compute stream
    grads: dict[int, int] = {}  # and on the gradient stream
    arrived: dict[tuple[int, int, int, int, bool], int] = {}  # (gpu, p, c, mb, bwd) -> its recv
    nbytes_p2p = plan.microbatch_size * model.seq_len * model.hidden * ELEMENT_BYTES // tp
    last_mb = {
        c: max(mb for bwd, cc, mb in pipeline.stage_order(pp, v, m, 0) if bwd and cc == c) for c in range(v)
    }
    groups = {k: plan.groups(k) for k in ("tp", "dp", "ep")}

    def rows_of(kind: str, stage: int, d: int | None) -> I64:
        """The communicators of one kind that hold GPUs of this stage (and replica)."""
        g = groups[kind]
        mine = set(gpus[grid[stage, d] if d is not None else grid[stage]].ravel().tolist())
        return g[[bool(mine & set(row.tolist())) for row in g]]

    # the passes in an order where every input's send is added before its receive is needed:
    # by the reduced schedule's start times (a valid topological order)
    tl = pipeline.execute(pp, v, m, np.ones((pp, v)), np.full((pp, v), 2.0), np.zeros(pp))
    order = np.lexsort((tl.stage, tl.start_s))
    for i in order:
        p, c, mb, bwd = int(tl.stage[i]), int(tl.chunk[i]), int(tl.microbatch[i]), bool(tl.backward[i])
        cost = costs[p][c].backward if bwd else costs[p][c].forward
        reduce_grads = bwd and mb == last_mb[c] and dp * plan.cp > 1
        buckets = step._buckets((params.dense[p, c] + params.expert[p, c]) * plan.grad_bytes_per_param)
        # the last backward frees its buckets as it goes: the pass in as many pieces, each
        # its share of the kernels then its share of the collectives (a layer's calls follow
        # its kernels; the reduced step takes a bucket ready at its fraction of the pass)
        pieces = max(len(buckets), 1) if reduce_grads else 1
        freed: dict[int, list[int]] = {}
        calls = cost.calls
        for k in range(pieces):
            for d in range(dp):
                work_ps = round((cost.compute_s + cost.memory_s) / speed[d, p] * 1e12)
                for g in gpus[grid[p, d]].ravel():
                    r = int(g)
                    after = [main.get(r, -1), arrived.get((r, p, c, mb, bwd), -1)] if k == 0 else [main[r]]
                    main[r] = dag.op(COPY, r, -1, work_ps // pieces, after)
            # this piece's collectives, every replica's communicators of this stage at once
            for kind, group, nbytes, _ in calls[k * len(calls) // pieces : (k + 1) * len(calls) // pieces]:
                rows = rows_of(group, p, None)
                if rows.shape[1] == 1 or nbytes == 0:
                    continue
                ends = dag.collective(kind, nbytes, rows, dict(main))
                main.update(join(ends, dag, sorted({int(g) for g in rows.ravel()})))
            for d in range(dp):
                for g in gpus[grid[p, d]].ravel():
                    freed.setdefault(int(g), []).append(main[int(g)])
        # the activation (or its gradient) to the next stage
        for d in range(dp):
            for t_rank, r in enumerate(int(g) for g in gpus[grid[p, d]].ravel()):
                target = _next(p, c, bwd, pp, v)
                if target is None:
                    continue
                q, cq = target
                peer = int(gpus[grid[q, d]].ravel()[t_rank])
                tag = P2P_TAG + ((mb * v + cq) * 2 + int(bwd))
                dag.op(SEND, r, peer, nbytes_p2p, [main[r]], tag=tag, delay=dag.launch_ps)
                arrived[(peer, q, cq, mb, bwd)] = dag.op(RECV, peer, r, nbytes_p2p, [], tag=tag)
        # gradient buckets of the chunk's last backward, on the second stream
        if reduce_grads:
            kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"
            rows = rows_of("dp", p, None)
            members = sorted({int(g) for g in rows.ravel()})
            for k, size in enumerate(buckets):
                ready = {r: dag.op(COPY, r, -1, 0, [grads.get(r, -1), freed[r][k]]) for r in members}
                ends = dag.collective(kind, size, rows, ready)
                grads.update(join(ends, dag, members))
    # the optimizer after both streams, then ZeRO-1/2's parameter gather
    for p in range(pp):
        share = params.dense[p].sum() + params.expert[p].sum()
        shard = dp * plan.cp if plan.zero >= 1 else 1
        for d in range(dp):
            t_ps = round(gpu.memory_s(share / shard * ADAM_BYTES_PER_PARAM) / speed[d, p] * 1e12)
            for g in gpus[grid[p, d]].ravel():
                r = int(g)
                main[r] = dag.op(COPY, r, -1, t_ps, [main[r], grads.get(r, -1)])
        if plan.zero in (1, 2) and dp * plan.cp > 1:
            for size in step._buckets(share * ELEMENT_BYTES):
                rows = rows_of("dp", p, None)
                ends = dag.collective("all_gather", size, rows, dict(main))
                main.update(join(ends, dag, sorted({int(g) for g in rows.ravel()})))
    return float(dag.run(options).op_finish_ns.max()) / 1e9


def _next(p: int, c: int, bwd: bool, pp: int, v: int) -> tuple[int, int] | None:
    """Where a pass's output goes: (stage, chunk), or None (the pipeline's end)."""
    if not bwd:
        if p < pp - 1:
            return p + 1, c
        return (0, c + 1) if c < v - 1 else None
    if p > 0:
        return p - 1, c
    return (pp - 1, c - 1) if c > 0 else None


__all__ = ["Dag", "join", "step_time_s"]
