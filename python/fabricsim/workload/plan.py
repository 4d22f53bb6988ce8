"""A parallelism plan and where its ranks sit.

Ranks are laid out as Megatron-LM lays them out by default (its ``tp-cp-ep-dp-pp`` order,
tensor-parallel fastest): ``rank = t + tp (c + cp (d + dp p))`` for tensor rank ``t``,
context rank ``c``, data-parallel rank ``d`` and pipeline stage ``p``; expert-parallel groups
are ``ep`` consecutive data-parallel ranks. With ``tp`` = GPUs per node, a tensor-parallel
group is one node (its all-reduces run on NVLink) and a data-parallel group spans nodes on one
rail (its all-reduces cross the NICs). ``placement`` overrides it: the GPU of each rank."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim.checks import flag, one_of, whole_number
from fabricsim.errors import SpecError

RECOMPUTE = ("none", "selective", "full", "selective_op")
ATTENTION = ("flash", "unfused")
ELEMENTWISE = ("fused", "eager")
PRECISION = ("bf16", "fp8")


@dataclass(frozen=True)
class Parallelism:
    """``tp`` tensor, ``pp`` pipeline (``virtual_stages`` model chunks per stage: the
    interleaved 1F1B schedule when > 1), ``dp`` data, ``cp`` context and ``ep`` expert
    parallelism (expert groups of ``ep`` consecutive data-parallel ranks: ``ep`` divides ``dp``)
    and ``etp`` expert tensor parallelism (1: every GPU holds its experts whole and runs its own
    tokens through them; a divisor of ``tp``: each expert's width is cut over ``etp``
    consecutive tensor ranks like a dense MLP's, which gather their tokens before the experts
    and reduce-scatter after, Megatron Core's ``expert_tensor_parallel_size``);
    ``microbatch_size`` sequences per microbatch and ``global_batch`` sequences per step;
    ``sequence_parallel`` (default: on when ``tp > 1``: reduce-scatter / all-gather instead of
    all-reduce, norms and dropout split over the tensor group); ``recompute`` activation
    recomputation ``"none"``, ``"selective"`` (attention's core), ``"full"`` (every layer's
    forward again in backward; ``recompute_layers``: only the first that many layers of each
    model chunk, the others keeping their activations, Megatron-LM's ``--recompute-method
    block --recompute-num-layers``; None: all) or ``"selective_op"`` (torchtitan's op-level
    policy, dense models: the fused attention kernel's output and every second linear GEMM's
    kept, the rest of each layer's forward run again; see
    :func:`fabricsim.workload.layer_costs.recomputed_gemms`); ``zero`` the optimizer state's sharding over
    data-parallel ranks (0 plain data parallel, 1 optimizer state (Megatron's distributed optimizer), 2 also
    gradients, 3 also parameters, as FSDP); ``bucket_bytes`` the gradient buckets reduced
    while backward goes on; ``grad_bytes_per_param`` the gradients' precision as reduced (4:
    fp32, Megatron's default for bf16 training); ``placement`` the GPU of each rank (None:
    Megatron's order); ``first_stage_layers`` / ``last_stage_layers``: layers on the first and
    last pipeline stages when they differ from the others (which carry the embedding and the
    output layer; Megatron-LM's ``--decoder-first/last-pipeline-num-layers``), the others
    sharing the rest evenly (None: every stage the same); ``attention``: ``"flash"`` (fused,
    the scores never reach memory, causal half skipped: FlashAttention) or ``"unfused"``
    (Megatron-LM's kernels before it: the full score matrix written, soft-maxed, dropped out
    and read back through memory, and kept for backward); ``elementwise``: ``"fused"`` (one
    kernel per norm, activation and residual add: Megatron-LM's, Transformer Engine's or a
    compiler's) or ``"eager"`` (PyTorch run op by op as in Llama's reference code: an RMSNorm
    in fp32 over five kernels, rotary embeddings through fp32 complex numbers, a gated MLP's
    activation and product apart, the attention output copied back into place; see
    :func:`fabricsim.workload.layer_costs.eager_extra_bytes`); ``tp_overlap``: sequence parallelism's
    all-gathers and reduce-scatters pipelined with the GEMMs they feed and drain (Megatron-LM's
    ``--tp-comm-overlap``, PyTorch's async tensor parallelism), only what exceeds each GEMM
    exposed; ``async_tp_allreduce``: without sequence parallelism, each column-parallel
    layer's input gradient all-reduced beside its weight-gradient GEMM (Megatron-LM's
    ``--async-tensor-model-parallel-allreduce``, its default from late 2021; False: exposed, as
    Megatron-DeepSpeed's ``copy_to_tensor_model_parallel_region`` runs it); ``zero3_copy_out``:
    with ``zero=3``, each gathered layer copied out of the gather's buffer into its parameters
    on the compute stream (PyTorch FSDP2's per-parameter sharding; see
    :func:`fabricsim.workload.layer_costs.gather_params_per_layer`); ``overlap_param_gather``:
    with ``zero`` 1 or 2, the updated parameters' all-gather overlapped with the next step's
    forward (Megatron-LM's ``--overlap-param-gather``, NeMo's ``overlap_param_sync``): in the
    steady state the step begins with it, chunk after chunk, each chunk's first forward waiting
    for its parameters; ``precision``:
    ``"bf16"``, or ``"fp8"`` (Transformer Engine's FP8 recipe: the
    transformer layers' linear GEMMs in FP8 on the GPU's FP8 main loop, with their casts; the
    attention core, embedding and output layer in bf16; see
    :func:`fabricsim.workload.layer_costs.fp8_cast_bytes`)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    virtual_stages: int = 1
    microbatch_size: int = 1
    global_batch: int = 1
    sequence_parallel: bool | None = None
    recompute: str = "none"
    recompute_layers: int | None = None
    zero: int = 1
    bucket_bytes: int = 40_000_000 * 4
    grad_bytes_per_param: int = 4
    overlap_grad_reduce: bool = True
    placement: tuple[int, ...] | None = field(default=None)
    first_stage_layers: int | None = None
    last_stage_layers: int | None = None
    attention: str = "flash"
    etp: int = 1
    elementwise: str = "fused"
    tp_overlap: bool = False
    async_tp_allreduce: bool = False
    zero3_copy_out: bool = False
    overlap_param_gather: bool = False
    precision: str = "bf16"

    def __post_init__(self) -> None:
        for f in ("tp", "pp", "dp", "cp", "ep", "etp", "virtual_stages", "microbatch_size", "global_batch"):
            whole_number(f"plan.{f}", getattr(self, f), 1, 1 << 30)
        if self.tp % self.etp:
            raise SpecError(
                f"plan.etp: must divide tp = {self.tp} (each expert cut over etp consecutive tensor "
                f"ranks), got {self.etp} (divisors: {_divisors(self.tp)})",
                path="plan.etp",
            )
        whole_number("plan.zero", self.zero, 0, 3)
        whole_number("plan.bucket_bytes", self.bucket_bytes, 1, 1 << 50)
        whole_number("plan.grad_bytes_per_param", self.grad_bytes_per_param, 1, 8)
        one_of("plan.attention", self.attention, ATTENTION)
        one_of("plan.precision", self.precision, PRECISION)
        one_of("plan.elementwise", self.elementwise, ELEMENTWISE)
        one_of("plan.recompute", self.recompute, RECOMPUTE)
        if self.recompute_layers is not None:
            whole_number("plan.recompute_layers", self.recompute_layers, 0, 1 << 30)
            if self.recompute != "full":
                raise SpecError(
                    f"plan.recompute_layers: applies to recompute='full' (the first layers of each "
                    f"chunk recomputed whole), got {self.recompute_layers} with recompute={self.recompute!r}",
                    path="plan.recompute_layers",
                )
        sp = self.sequence_parallel
        if sp is None:
            object.__setattr__(self, "sequence_parallel", self.tp > 1)
        elif not isinstance(sp, bool):
            raise SpecError(
                f"plan.sequence_parallel: must be True, False or None, got {sp!r}",
                path="plan.sequence_parallel",
            )
        flag("plan.tp_overlap", self.tp_overlap)
        if self.tp_overlap and not (self.sequence_parallel and self.tp > 1):
            raise SpecError(
                f"plan.tp_overlap: overlaps sequence parallelism's all-gathers and reduce-scatters "
                f"with their GEMMs; needs sequence_parallel (and tp > 1), got tp = {self.tp}, "
                f"sequence_parallel = {self.sequence_parallel}",
                path="plan.tp_overlap",
            )
        flag("plan.async_tp_allreduce", self.async_tp_allreduce)
        if self.async_tp_allreduce and (self.sequence_parallel or self.tp == 1):
            raise SpecError(
                f"plan.async_tp_allreduce: overlaps tensor parallelism's backward all-reduces, which "
                f"run without sequence parallelism (with it the reduce-scatters already run beside "
                f"their GEMMs); needs tp > 1 and sequence_parallel=False, got tp = {self.tp}, "
                f"sequence_parallel = {self.sequence_parallel}",
                path="plan.async_tp_allreduce",
            )
        flag("plan.zero3_copy_out", self.zero3_copy_out)
        if self.zero3_copy_out and self.zero != 3:
            raise SpecError(
                f"plan.zero3_copy_out: copies ZeRO-3's gathered parameters out of the gather's "
                f"buffer; needs zero=3, got zero = {self.zero}",
                path="plan.zero3_copy_out",
            )
        flag("plan.overlap_grad_reduce", self.overlap_grad_reduce)
        flag("plan.overlap_param_gather", self.overlap_param_gather)
        if self.overlap_param_gather and self.zero not in (1, 2):
            raise SpecError(
                f"plan.overlap_param_gather: overlaps ZeRO-1/2's gather of the updated parameters "
                f"with the next step's forward; needs zero=1 or 2, got zero = {self.zero}",
                path="plan.overlap_param_gather",
            )
        per_step = self.microbatch_size * self.dp
        if self.global_batch % per_step:
            raise SpecError(
                f"plan.global_batch: must be a multiple of microbatch_size x dp = {per_step}, got "
                f"{self.global_batch} (e.g. {max(per_step, self.global_batch // per_step * per_step)})",
                path="plan.global_batch",
            )
        if self.dp % self.ep:
            raise SpecError(
                f"plan.ep: must divide dp = {self.dp} (expert groups are consecutive data-parallel "
                f"ranks), got {self.ep}",
                path="plan.ep",
            )
        if self.virtual_stages > 1:
            if self.pp < 2:
                raise SpecError(
                    f"plan.virtual_stages: needs pp >= 2 (interleaving chunks of one stage), got "
                    f"{self.virtual_stages} with pp = {self.pp}",
                    path="plan.virtual_stages",
                )
            if self.microbatches % self.pp:
                raise SpecError(
                    f"plan.global_batch: the interleaved schedule needs microbatches (global_batch / "
                    f"(microbatch_size x dp) = {self.microbatches}) to be a multiple of pp = {self.pp}",
                    path="plan.global_batch",
                )
        if self.placement is not None:
            gpus = np.asarray(self.placement, dtype=np.int64)
            if (
                gpus.ndim != 1
                or len(gpus) != self.gpus
                or len(np.unique(gpus)) != len(gpus)
                or (gpus < 0).any()
            ):
                raise SpecError(
                    f"plan.placement: must give {self.gpus} distinct GPU indices >= 0 (one per rank), "
                    f"got {len(gpus)} values",
                    path="plan.placement",
                )
            object.__setattr__(self, "placement", tuple(int(g) for g in gpus))

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def microbatches(self) -> int:
        """Microbatches per pipeline per step: ``global_batch / (microbatch_size x dp)``."""
        return self.global_batch // (self.microbatch_size * self.dp)

    def check_model(self, model: Any) -> None:
        """The plan's sizes against the model's (heads and key-value heads over ``tp``, layers
        over ``pp x virtual_stages``, the sequence over ``cp``, experts over ``ep``)."""
        if model.heads % self.tp:
            raise SpecError(
                f"plan.tp: must divide the model's heads ({model.heads}), got {self.tp} "
                f"(divisors: {_divisors(model.heads)})",
                path="plan.tp",
            )
        if model.kv_heads % self.tp and self.tp % model.kv_heads:
            raise SpecError(
                f"plan.tp: must divide the key-value heads ({model.kv_heads}) or be a multiple of them, got {self.tp}",
                path="plan.tp",
            )
        self.slice_layers(model.layers)
        if model.seq_len % self.cp:
            raise SpecError(f"plan.cp: must divide seq_len ({model.seq_len}), got {self.cp}", path="plan.cp")
        if self.recompute == "selective_op" and model.experts:
            raise SpecError(
                f"plan.recompute: 'selective_op' (torchtitan's policy over a dense layer's linear "
                f"GEMMs) is for dense models, this one has {model.experts} experts; use none, "
                f"selective or full",
                path="plan.recompute",
            )
        if self.ep > 1 and not model.experts:
            raise SpecError(f"plan.ep: the model has no experts, got ep = {self.ep}", path="plan.ep")
        if self.etp > 1 and not model.experts:
            raise SpecError(f"plan.etp: the model has no experts, got etp = {self.etp}", path="plan.etp")
        width = getattr(model, "moe_ffn_hidden", None) or getattr(model, "ffn_hidden", None)
        if self.etp > 1 and width and width % self.etp:
            raise SpecError(
                f"plan.etp: must divide the experts' width ({width}), got {self.etp}", path="plan.etp"
            )
        if model.experts and model.experts % self.ep:
            raise SpecError(
                f"plan.ep: must divide the model's experts ({model.experts}), got {self.ep}",
                path="plan.ep",
            )

    def slice_layers(self, layers: int) -> list[int]:
        """Layers of each model slice, in model order: slice ``c x pp + p`` is chunk ``c`` of
        stage ``p`` (Megatron's interleaved assignment). Even unless the first or last
        stage's layers are given (spread over the stage's chunks, the first chunks taking
        the extra; the first stage's short chunks first, as Llama 3's first chunk holds only
        the embedding)."""
        pp, v = self.pp, self.virtual_stages
        first, last = self.first_stage_layers, self.last_stage_layers
        if first is None and last is None:
            if layers % (pp * v):
                raise SpecError(
                    f"plan.pp: pp x virtual_stages = {pp * v} must divide the model's layers ({layers}); "
                    f"divisors: {_divisors(layers)} (or give first_stage_layers / last_stage_layers)",
                    path="plan.pp",
                )
            return [layers // (pp * v)] * (pp * v)
        if pp < 2:
            raise SpecError("plan.first_stage_layers: needs pp >= 2", path="plan.first_stage_layers")
        middle_stages = pp - 2
        rest = layers - (first or 0) - (last or 0)
        if first is None or last is None:
            # the unnamed end stage shares like the middle ones
            middle_stages += 1
        if rest < 0 or (middle_stages == 0 and rest) or (middle_stages and rest % (middle_stages * v)):
            raise SpecError(
                f"plan.first_stage_layers: with {first} first and {last} last, the other {middle_stages} "
                f"stages x {v} chunks must share the remaining {rest} of {layers} layers evenly",
                path="plan.first_stage_layers",
            )
        even = rest // (middle_stages * v) if middle_stages else 0
        per_stage = [even * v] * pp
        if first is not None:
            per_stage[0] = whole_number("plan.first_stage_layers", first, 1, layers)
        if last is not None:
            per_stage[-1] = whole_number("plan.last_stage_layers", last, 1, layers)
        out = [0] * (pp * v)
        for p, total in enumerate(per_stage):
            base, extra = divmod(total, v)
            for c in range(v):
                # the first stage's short chunks come first (they sit beside the embedding),
                # the others' last (the last stage's beside the output layer)
                more = c >= v - extra if p == 0 else c < extra
                out[c * pp + p] = base + (1 if more else 0)
        return out

    def slice_ranges(self, layers: int) -> list[range]:
        """The layers of each slice (index ``c x pp + p``) as ranges of layer indices."""
        counts = self.slice_layers(layers)
        starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
        return [range(int(starts[i]), int(starts[i + 1])) for i in range(len(counts))]

    def rank_gpus(self) -> npt.NDArray[np.int64]:
        """The GPU of every rank (Megatron's order unless ``placement``)."""
        if self.placement is not None:
            return np.asarray(self.placement, dtype=np.int64)
        return np.arange(self.gpus, dtype=np.int64)

    def grid(self) -> npt.NDArray[np.int64]:
        """Ranks as an array indexed ``[p, d, c, t]`` (stage, data, context, tensor rank)."""
        return np.arange(self.gpus, dtype=np.int64).reshape(self.pp, self.dp, self.cp, self.tp)

    def groups(self, kind: str) -> npt.NDArray[np.int64]:
        """The communicators of one kind as rows of GPU indices: ``"tp"``, ``"cp"``, ``"dp"``
        (the data-parallel group of every tensor, context rank and stage; with ``cp``, the
        gradient reduction spans ``dp x cp``), ``"ep"``, ``"etp"`` (``etp`` consecutive tensor
        ranks, which share each of their experts), ``"edp"`` (the expert-data-parallel
        group: the ``dp x cp / ep`` ranks that hold the same experts, whose gradients they
        reduce)."""
        g = self.grid()
        gpus = self.rank_gpus()
        if kind == "tp":
            rows = g.reshape(-1, self.tp)
        elif kind == "cp":
            rows = g.transpose(0, 1, 3, 2).reshape(-1, self.cp)
        elif kind == "dp":
            rows = g.transpose(0, 3, 1, 2).reshape(-1, self.dp * self.cp)
        elif kind == "ep":
            # ep consecutive data-parallel ranks (of one stage, context and tensor rank)
            rows = g.transpose(0, 2, 3, 1).reshape(-1, self.ep)
        elif kind == "etp":
            # etp consecutive tensor ranks
            rows = g.reshape(-1, self.etp)
        elif kind == "edp":
            # the data-parallel ranks at the same place in their expert groups, every context rank
            e = self.ep
            rows = g.reshape(self.pp, self.dp // e, e, self.cp, self.tp).transpose(0, 4, 2, 1, 3)
            rows = rows.reshape(-1, self.dp // e * self.cp)
        else:
            raise SpecError(f"group: must be tp, cp, dp, ep, etp or edp, got {kind!r}", path="group")
        return gpus[rows]

    def stage_pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Pipeline neighbours: (GPU of stage p, GPU of stage p + 1, p) for every data,
        context and tensor rank."""
        g = self.grid()
        gpus = self.rank_gpus()
        a = g[:-1].reshape(self.pp - 1, -1)
        b = g[1:].reshape(self.pp - 1, -1)
        stage = np.repeat(np.arange(self.pp - 1), a.shape[1])
        return gpus[a.ravel()], gpus[b.ravel()], stage

    def replace(self, **changes: Any) -> Parallelism:
        """This plan with ``changes`` (checked again, as a new plan)."""
        return replace(self, **changes)

    def recomputes(self, position: int) -> bool:
        """Whether the layer at ``position`` in its model chunk runs its forward again in
        backward (``recompute="full"``, within ``recompute_layers``)."""
        return self.recompute == "full" and (
            self.recompute_layers is None or position < self.recompute_layers
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            f: (list(v) if isinstance(v, tuple) else v)
            for f in self.__dataclass_fields__
            for v in [getattr(self, f)]
        }


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 128) + 1) if n % d == 0]


__all__ = ["RECOMPUTE", "Parallelism"]
