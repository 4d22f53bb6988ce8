"""The result of a training step: its time, where the time went, model FLOP/s, memory per GPU,
the collectives it called, and a per-rank timeline for Perfetto."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.run_contract import RunResultBase
from fabricsim.timeline import Events, Track

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.workload.comm import CommModel
    from fabricsim.workload.layer_costs import LayerCosts
    from fabricsim.workload.pipeline import Timeline
    from fabricsim.workload.step import TrainingStep

F64 = npt.NDArray[np.float64]
BREAKDOWN = (
    "compute_s",
    "memory_bound_s",
    "tp_s",
    "cp_s",
    "ep_s",
    "pp_s",
    "bubble_s",
    "replica_wait_s",
    "dp_s",
    "optimizer_s",
)
TIMELINE_REPLICAS = 4
"""Distinct data-parallel replicas drawn in the timeline (the slowest first)."""


class StepFigures(RunResultBase):
    """What every training step's result says: the step time, tokens and model FLOP/s, MFU,
    memory per GPU, the breakdown on the critical GPU, and the headline and summary built
    from them (:class:`TrainingStepResult`, and the step run whole, ``whole_step.py``)."""

    step: TrainingStep
    critical: tuple[int, int]
    breakdown: dict[str, float]
    fabric_runs: int

    def _figures(self, step: TrainingStep, step_time_s: float, memory: dict[str, F64], fidelity: str) -> None:
        self.step = step
        self.complete = True
        self.fidelity = fidelity
        self.step_time_s = step_time_s
        plan, model, gpu = step.plan, step.model, step.gpu
        self.gpus = plan.gpus
        tokens = plan.global_batch * model.seq_len
        self.tokens_per_s = tokens / step_time_s if step_time_s > 0 else 0.0
        flops = model.flops_per_token() * tokens
        self.model_tflops_per_gpu = flops / step_time_s / plan.gpus / 1e12 if step_time_s > 0 else 0.0
        self.mfu = self.model_tflops_per_gpu * 1e12 / gpu.peak_flop_per_s("bf16")
        self.memory = memory
        self.memory_per_gpu_gib = float(memory["total"].max())
        self.fault_windows: list[dict[str, Any]] = []
        """Faults for part of the step met on the reduced step's clock (the step run whole meets
        them on the fabric: none here)."""

    @property
    def simulated_time_ps(self) -> int:
        return round(self.step_time_s * 1e12)

    def _critical_text(self) -> str:
        return f"replica {self.critical[0]}, stage {self.critical[1]}"

    def _headline(self) -> dict[str, Any]:
        s = self.step
        return {
            "model": s.model.name or "custom",
            "gpu": s.gpu.name,
            "gpus": self.gpus,
            "plan": {
                k: s.plan.to_dict()[k]
                for k in (
                    "tp",
                    "pp",
                    "dp",
                    "cp",
                    "ep",
                    "etp",
                    "virtual_stages",
                    "microbatch_size",
                    "global_batch",
                )
            },
            "fidelity": self.fidelity,
            "step_time_s": self.step_time_s,
            "tokens_per_s": self.tokens_per_s,
            "model_tflops_per_gpu": self.model_tflops_per_gpu,
            "mfu": self.mfu,
            "memory_per_gpu_gib": self.memory_per_gpu_gib,
            "breakdown": dict(self.breakdown),
            "fabric_runs": self.fabric_runs,
            "fault_windows": list(self.fault_windows),
        }

    def summary(self) -> str:
        s = self.step
        lines = [
            f"training step: {s.model.name or 'custom model'} on {self.gpus} x {s.gpu.name} "
            f"(tp {s.plan.tp}, pp {s.plan.pp}x{s.plan.virtual_stages}, dp {s.plan.dp}, cp {s.plan.cp}, ep {s.plan.ep}), "
            f"{self.fidelity} fidelity",
            f"  step {self.step_time_s * 1e3:.1f} ms, {self.model_tflops_per_gpu:.0f} model TFLOP/s per GPU "
            f"(MFU {self.mfu:.1%}), {self.tokens_per_s:,.0f} tokens/s, {self.memory_per_gpu_gib:.1f} GiB per GPU",
        ]
        parts = ", ".join(f"{k[:-2]} {v * 1e3:.1f} ms" for k, v in self.breakdown.items() if v > 0)
        lines.append(f"  critical GPU ({self._critical_text()}): {parts}")
        for w in self.fault_windows:
            lines.append(
                f"  options.faults[{w['index']}] ({w['type']} on link {w['link']}, {w['start_s'] * 1e3:.3f}-"
                f"{w['end_s'] * 1e3:.3f} ms) met on the reduced step's clock"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.step_time_s * 1e3:.2f} ms, MFU {self.mfu:.1%}>"


class TrainingStepResult(StepFigures):
    """One training step on a fabric.

    - ``step_time_s``; ``tokens_per_s``; ``model_tflops_per_gpu`` (the model's training FLOPs
      per step, :meth:`Transformer.flops_per_token <fabricsim.workload.Transformer.flops_per_token>`
      x tokens, over the step time and the GPUs) and ``mfu`` (its fraction of the GPU's bf16 peak);
    - ``breakdown``: where the step's time went on its critical GPU (the stage and replica that
      finish last; of those, the one whose backward ended last), seconds that add up to
      ``step_time_s``: ``compute_s`` (math-bound kernels),
      ``memory_bound_s`` (kernels on the memory roof), exposed communication ``tp_s``, ``cp_s``,
      ``ep_s``, ``pp_s`` (waiting on a pipeline transfer), ``bubble_s`` (waiting on the
      schedule), ``replica_wait_s`` (waiting for a slower data-parallel replica), ``dp_s``
      (gradient reduction past backward, parameter gathers, and what the buckets' kernels
      took from the passes beside them, with what that added to the waits), ``optimizer_s``;
    - ``memory_per_gpu_gib`` (the fullest stage) and ``memory`` (per stage: params, grads,
      optimizer, activations, total, GiB);
    - tables ``stages``, ``passes`` (the critical replica's executed schedule) and
      ``collectives``; ``to_perfetto(path)``: per replica and stage, the passes and the
      gradient buckets, and the scale-out links' utilization while gradients are reduced."""

    def __init__(
        self,
        *,
        step: TrainingStep,
        fabric: Fabric,
        step_time_s: float,
        end_s: F64,
        timelines: dict[int, Timeline],
        replica_of: npt.NDArray[np.int64],
        stage_speed: F64,
        exposed: dict[str, F64],
        costs: list[list[LayerCosts]],
        bwd_end_s: F64,
        contention_s: F64,
        free_waits_s: F64,
        dp_end_s: F64,
        dp_spans: list[tuple[int, float, float]],
        optimizer_s: F64,
        gather_s: F64,
        window_s: dict[str, F64],
        fault_windows: list[dict[str, Any]],
        memory: dict[str, F64],
        comm: CommModel,
        fidelity: str,
    ) -> None:
        self._figures(step, step_time_s, memory, fidelity)
        self.fabric_runs = comm.runs
        """Fabric runs the step took (one per distinct collective and the pipeline transfers)."""
        self.replicas_executed = len(timelines)
        """Data-parallel replicas whose schedule was executed (the others were the same)."""
        self._timelines, self._replica_of = timelines, replica_of
        self.fault_windows = fault_windows
        """The faults for part of the step met on its clock (fabricsim.workload.fault_windows):
        per fault its ``index`` in ``options.faults``, ``type``, ``link``, ``start_s``,
        ``end_s``."""
        self._exposed = exposed
        self._end, self._dp_spans, self._comm = end_s, dp_spans, comm

        # the GPU that finishes last; among those (replicas meet at the gradient reduction,
        # so they finish together), the one whose own backward ended last: the cause
        last = np.flatnonzero(end_s.ravel() >= end_s.max() * (1 - 1e-12))
        d, p = np.unravel_index(int(last[np.argmax(bwd_end_s.ravel()[last])]), end_s.shape)
        self.critical: tuple[int, int] = (int(d), int(p))
        """(data-parallel replica, stage) of the GPU that finishes last."""
        tl = timelines[int(replica_of[d])]
        rows = np.flatnonzero(tl.stage == p)
        way = tl.backward[rows].astype(np.int64)
        chunk = tl.chunk[rows]
        speed = stage_speed[d, p]
        compute = np.array([[cc.forward.compute_s, cc.backward.compute_s] for cc in costs[p]])
        memory_s = np.array([[cc.forward.memory_s, cc.backward.memory_s] for cc in costs[p]])
        b: dict[str, float] = dict.fromkeys(BREAKDOWN, 0.0)
        b["compute_s"] = float(compute[chunk, way].sum() / speed)
        b["memory_bound_s"] = float(memory_s[chunk, way].sum() / speed)
        for group, arr in exposed.items():
            b[f"{group}_s"] += float(arr[d, p][chunk, way].sum())
        # waits as the schedule has them without the SMs the gradient buckets took; the
        # buckets' toll is dp_s: the passes they overlapped, and what that added to the waits
        # (a later stage's backward, slowed, holds up this one's)
        b["pp_s"], b["bubble_s"] = (float(x) for x in free_waits_s[d, p])
        toll = float(contention_s[d, p]) + float(
            tl.wait_transfer_s[rows].sum() + tl.wait_bubble_s[rows].sum()
        )
        toll -= b["pp_s"] + b["bubble_s"]
        slowest = float(bwd_end_s[:, p].max())
        b["replica_wait_s"] = slowest - float(bwd_end_s[d, p])
        b["dp_s"] += toll + max(float(dp_end_s[p]) - slowest, 0.0) + float(gather_s[d, p])
        # fault windows: what they added to the passes, by the kind of the calls they slowed
        for kind, arr in window_s.items():
            b[f"{kind}_s"] += float(arr[d, p])
        b["optimizer_s"] = float(optimizer_s[d, p])
        self.breakdown: dict[str, float] = b
        self._stage_rows = (bwd_end_s, dp_end_s, optimizer_s, gather_s, stage_speed)
        self._costs = costs

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``stages`` (per replica and stage: when it finished and its memory), ``passes`` (the
        critical replica's executed schedule), ``collectives`` (each distinct call: kind,
        communicator kind, bytes, the slowest and mean communicator's time)."""
        bwd_end, dp_end, optimizer, gather, speed = self._stage_rows
        dp, pp = self._end.shape
        stages = np.zeros(
            dp * pp,
            dtype=[
                ("replica", np.int32),
                ("stage", np.int32),
                ("speed", np.float64),
                ("backward_end_s", np.float64),
                ("gradients_end_s", np.float64),
                ("optimizer_s", np.float64),
                ("param_gather_s", np.float64),
                ("end_s", np.float64),
                ("memory_gib", np.float64),
            ],
        )
        stages["replica"] = np.repeat(np.arange(dp), pp)
        stages["stage"] = np.tile(np.arange(pp), dp)
        stages["speed"] = speed.ravel()
        stages["backward_end_s"] = bwd_end.ravel()
        stages["gradients_end_s"] = np.tile(dp_end, dp)
        stages["optimizer_s"] = optimizer.ravel()
        stages["param_gather_s"] = gather.ravel()
        stages["end_s"] = self._end.ravel()
        stages["memory_gib"] = np.tile(self.memory["total"], dp)
        tl = self._timelines[int(self._replica_of[self.critical[0]])]
        passes = np.zeros(
            len(tl.stage),
            dtype=[
                ("stage", np.int32),
                ("chunk", np.int32),
                ("microbatch", np.int32),
                ("backward", np.bool_),
                ("start_s", np.float64),
                ("end_s", np.float64),
                ("wait_transfer_s", np.float64),
                ("wait_bubble_s", np.float64),
            ],
        )
        for name, col in (
            ("stage", tl.stage),
            ("chunk", tl.chunk),
            ("microbatch", tl.microbatch),
            ("backward", tl.backward),
            ("start_s", tl.start_s),
            ("end_s", tl.end_s),
            ("wait_transfer_s", tl.wait_transfer_s),
            ("wait_bubble_s", tl.wait_bubble_s),
        ):
            passes[name] = col
        keys = list(self._comm.results)
        coll = np.zeros(
            len(keys),
            dtype=[
                ("kind", "U14"),
                ("group", "U4"),
                ("bytes", np.int64),
                ("max_us", np.float64),
                ("mean_us", np.float64),
                ("communicators", np.int64),
            ],
        )
        for i, (kind, group, nbytes) in enumerate(keys):
            t = self._comm.results[(kind, group, nbytes)]
            coll[i] = (kind, group, nbytes, float(t.max()) / 1e3, float(t.mean()) / 1e3, len(t))
        return {"stages": stages, "passes": passes, "collectives": coll}

    def _timeline(self) -> list[Events]:
        """Per distinct replica (the slowest first, at most :data:`TIMELINE_REPLICAS`) and
        stage: its passes, inside each its exposed communication by kind (``tp comm``, ...;
        drawn at the pass's end), and on their own tracks the gradient buckets; counters: the
        utilization of the links busiest in the gradient reduction while it runs."""
        pp = self._end.shape[1]
        order = sorted(self._timelines, key=lambda r: -float(self._end[r].max()))[:TIMELINE_REPLICAS]
        tracks: list[Track] = []
        track_of: list[int] = []
        start: list[float] = []
        dur: list[float] = []
        labels: list[str] = []
        gpus = self.step.plan.rank_gpus()
        grid = self.step.plan.grid()
        for r in order:
            tl = self._timelines[r]
            base = len(tracks)
            for p in range(pp):
                first = int(gpus[grid[p, r].min()])
                tracks.append(Track(f"replica {r}", f"stage {p} (GPU {first}..)"))
            for i in range(len(tl.stage)):
                p, c, way = int(tl.stage[i]), int(tl.chunk[i]), int(tl.backward[i])
                track_of.append(base + p)
                start.append(float(tl.start_s[i]) * 1e12)
                dur.append(float(tl.end_s[i] - tl.start_s[i]) * 1e12)
                labels.append(f"{'B' if way else 'F'} mb{int(tl.microbatch[i])} c{c}")
                # inside the pass: its exposed communication, by kind, at its end (the calls
                # interleave with the layers; the spans say how much, not exactly when)
                at = float(tl.end_s[i])
                for group, arr in self._exposed.items():
                    t = float(arr[r, p, c, way])
                    if t > 0:
                        at -= t
                        track_of.append(base + p)
                        start.append(at * 1e12)
                        dur.append(t * 1e12)
                        labels.append(f"{group} comm")
        grads = len(tracks)
        for p in range(pp):
            tracks.append(Track("gradient reduction", f"stage {p}"))
        for p, s, e in self._dp_spans:
            track_of.append(grads + p)
            start.append(s * 1e12)
            dur.append((e - s) * 1e12)
            labels.append("bucket")
        events = [
            Events(
                name="pass",
                tracks=tracks,
                track_of=np.asarray(track_of, dtype=np.int64),
                start_ps=np.asarray(start),
                dur_ps=np.asarray(dur),
                labels=labels,
                nests=True,  # a pass's exposed communication inside it
            )
        ]
        busy = [(k, u) for k, u in self._comm.link_busy.items() if k[1] in ("dp", "edp") and len(u)]
        if busy and self._dp_spans:
            util = np.max([u for _, u in busy], axis=0)
            top = np.argsort(-util)[:8]
            assert self._comm.link_ends is not None  # set by the runs that measured util
            src, dst = self._comm.link_ends
            ctracks = [Track("links (gradient reduction)", f"link {int(i)} {src[i]}->{dst[i]}") for i in top]
            t_of, t_start, t_val = [], [], []
            for p, s, e in self._dp_spans:
                if p != self.critical[1]:
                    continue
                for j, i in enumerate(top):
                    t_of += [j, j]
                    t_start += [s * 1e12, e * 1e12]
                    t_val += [float(util[i]), 0.0]
            if t_of:
                events.append(
                    Events(
                        name="utilization",
                        tracks=ctracks,
                        track_of=np.asarray(t_of, dtype=np.int64),
                        start_ps=np.asarray(t_start, dtype=np.float64),
                        value=np.asarray(t_val, dtype=np.float64),
                    )
                )
        return events


__all__ = ["BREAKDOWN", "StepFigures", "TrainingStepResult"]
