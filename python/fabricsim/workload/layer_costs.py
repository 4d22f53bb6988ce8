"""What one microbatch costs one GPU: its kernels' times (GEMMs on the shaped compute roof,
elementwise kernels on the memory roof) and the collectives its layers call, per pipeline
chunk, forward and backward.

Per layer and tensor-parallel rank, ``T`` tokens of the microbatch (``microbatch_size x
seq_len / cp``), ``T_s`` of them in the sequence-parallel regions (``T / tp`` with sequence
parallelism), GEMMs ``(M, N, K)``:

- attention: QKV ``(T, (h + 2 kv) / tp, h)``, the core, the output projection
  ``(T, h, h / tp)``. The core by default is one fused kernel (FlashAttention): ``QK^T`` and
  ``PV`` over ``microbatch x heads / tp``, half of them skipped under the causal mask, at the
  GPU's measured fused-attention efficiency, reading Q, K, V and writing O only
  (:meth:`GpuSpec.flash_attention_s`); ``plan.attention="unfused"``: both as batched GEMMs in
  full, and the score matrix through memory for the softmax and dropout;
- MLP: ``(T, f / tp, h)`` (twice for a gated MLP) and ``(T, h, f / tp)``; a MoE layer routes
  its ``T_s`` tokens (``(T_s, E, h)`` router) to ``top_k`` experts with ``capacity_factor``
  slots, whole experts on each GPU of the expert-parallel group;
- ``plan.precision="fp8"``: the linear GEMMs above (not the attention core's) on FP8
  operands at the GPU's FP8 main loop, their casts on the memory roof (:func:`fp8_cast_bytes`);
- backward: two GEMMs of each forward GEMM's size (input and weight gradients); the fused
  attention core's own backward kernel (2.5 x the forward's FLOPs, as FlashAttention's backward
  recomputes the scores: Dao et al. 2022; :meth:`GpuSpec.flash_attention_s`);
- elementwise (memory roof): two norms, two residual adds, the MLP's activation, dropout
  when the model has it, each one kernel; backward moves twice their bytes;
  ``plan.elementwise="eager"`` adds what PyTorch run op by op moves beyond them
  (:func:`eager_extra_bytes`);
- recompute ``"full"`` runs each layer's forward (and its collectives) again in backward
  (``recompute_layers``: the first that many layers of each chunk, Megatron-LM's block
  method), ``"selective"`` the attention core (Korthikanti et al., arXiv 2205.05198),
  ``"selective_op"`` torchtitan's op-level policy (:func:`recomputed_gemms`: every second
  linear GEMM, every elementwise kernel, the forward's collectives but its reduce-scatters).

Collectives per layer, of ``T x h`` elements: with sequence parallelism two all-gathers and two
reduce-scatters forward, and backward per block the output gradient gathered, the
column-parallel layer's input gathered again beside its input-gradient GEMM and its input
gradient reduce-scattered beside its weight-gradient GEMM (:func:`sequence_parallel_calls`;
``plan.tp_overlap``: the others hidden behind the GEMM they feed or drain too, Megatron-LM's
``--tp-comm-overlap``, only what exceeds the GEMM exposed; FP8 plans gather one byte per
element); without it two all-reduces each way (Megatron-LM's tensor parallelism; backward
beside the weight-gradient GEMMs with ``plan.async_tp_allreduce``);
MoE: an all-to-all to dispatch and one to combine each way; context parallelism: an
all-gather of the keys and values forward, a reduce-scatter of their gradients backward,
overlapped with the attention core (only what exceeds it is exposed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fabricsim.workload.gpu import GpuSpec
from fabricsim.workload.model import Transformer
from fabricsim.workload.plan import Parallelism

ELEMENT_BYTES = 2
"""bf16 activations and weights."""


@dataclass
class Cost:
    """Time of a piece of work on one GPU: ``compute_s`` (math-bound kernels) and
    ``memory_s`` (memory-bound ones), and the collectives it calls in order, as
    ``(kind, group, bytes, overlap_s)`` (``overlap_s``: compute the call may hide behind)."""

    compute_s: float = 0.0
    memory_s: float = 0.0
    calls: list[tuple[str, str, int, float]] = field(default_factory=list)

    def add_gemm(
        self,
        gpu: GpuSpec,
        m: float,
        n: float,
        k: float,
        batch: int = 1,
        times: float = 1.0,
        fp8: bool = False,
    ) -> float:
        """``fp8``: FP8 operands (one byte), a bf16 output, the GPU's FP8 main loop."""
        dtype, operand = ("fp8", 1) if fp8 else ("bf16", ELEMENT_BYTES)
        t, memory_bound = gpu.gemm_s(max(int(m), 1), max(int(n), 1), max(int(k), 1), batch, dtype, operand)
        t *= times
        if memory_bound:
            self.memory_s += t
        else:
            self.compute_s += t
        return t

    def add_time(self, t: float, memory_bound: bool) -> None:
        if memory_bound:
            self.memory_s += t
        else:
            self.compute_s += t

    def add_bytes(self, gpu: GpuSpec, nbytes: float) -> None:
        self.memory_s += gpu.memory_s(nbytes)

    def __iadd__(self, other: Cost) -> Cost:
        self.compute_s += other.compute_s
        self.memory_s += other.memory_s
        self.calls.extend(other.calls)
        return self


@dataclass
class LayerCosts:
    """One layer's forward and backward (backward includes recomputation)."""

    forward: Cost
    backward: Cost


def layer_costs(
    model: Transformer, plan: Parallelism, gpu: GpuSpec, moe: bool, recomputed: bool | None = None
) -> LayerCosts:
    """One transformer layer on one GPU for one microbatch (see the module's text);
    ``recomputed``: whether it runs its forward again in backward (None: ``recompute="full"``)."""
    t, cp = plan.tp, plan.cp
    b, s, h = plan.microbatch_size, model.seq_len, model.hidden
    tokens = b * s // cp
    sp = bool(plan.sequence_parallel) and t > 1
    t_s = tokens / t if sp else tokens
    kv = max(model.kv_dim / t, float(model.head_dim))  # kv heads fewer than tp are replicated
    assert model.ffn_hidden is not None
    fwd, bwd = Cost(), Cost()
    e = ELEMENT_BYTES
    act_bytes = tokens * h * e

    # attention
    core_fwd = Cost()
    heads = model.heads // t
    q_len = s // cp
    f8 = plan.precision == "fp8"  # the linear layers' GEMMs in FP8 (not the attention core's)
    t_qkv = fwd.add_gemm(gpu, tokens, h / t + 2 * kv, h, fp8=f8)
    flash = plan.attention == "flash"
    if flash:
        # one fused kernel: Q, K, V in, O out; the scores stay on chip; the masked half skipped
        kv_heads = max(model.kv_heads // t, 1) if model.kv_heads else heads
        t_core, bound = gpu.flash_attention_s(b * heads, q_len, s, model.head_dim, kv_heads=b * kv_heads)
        core_fwd.add_time(t_core, bound)
        # backward: its own kernel, 2.5 x the forward's FLOPs (it recomputes the scores)
        t_bwd, bwd_bound = gpu.flash_attention_s(
            b * heads, q_len, s, model.head_dim, kv_heads=b * kv_heads, backward=True
        )
        core_bwd = Cost()
        core_bwd.add_time(t_bwd, bwd_bound)
    else:
        core_fwd.add_gemm(gpu, q_len, s, model.head_dim, batch=b * heads)  # QK^T
        core_fwd.add_gemm(gpu, q_len, model.head_dim, s, batch=b * heads)  # PV
        # the scores through memory: softmax (read, write), dropout (read, write, mask);
        # backward: two GEMMs per forward GEMM, softmax's (two reads, a write) and dropout's
        scores = b * heads * q_len * s
        core_fwd.add_bytes(gpu, scores * e * 2 + (scores * (2 * e + 1) if model.dropout else 0))
        core_bwd = Cost()
        core_bwd.add_gemm(gpu, q_len, s, model.head_dim, batch=b * heads, times=2)
        core_bwd.add_gemm(gpu, q_len, model.head_dim, s, batch=b * heads, times=2)
        core_bwd.add_bytes(gpu, scores * e * 3 + (scores * (2 * e + 1) if model.dropout else 0))
    fwd += Cost(core_fwd.compute_s, core_fwd.memory_s)
    t_proj = fwd.add_gemm(gpu, tokens, h, h / t, fp8=f8)
    t_up = t_down = 0.0  # the dense MLP's GEMMs (its tensor-parallel calls may hide behind them)
    for _ in range(2):  # dgrad and wgrad
        bwd.add_gemm(gpu, tokens, h / t + 2 * kv, h, fp8=f8)
        bwd.add_gemm(gpu, tokens, h, h / t, fp8=f8)
    bwd += core_bwd

    # MLP or experts
    if moe:
        # with expert tensor parallelism the tensor group's tokens meet at each of its GPUs,
        # which holds 1/etp of every expert's width
        etp = plan.etp
        width = (model.moe_ffn_hidden or model.ffn_hidden) / etp
        slots = t_s * model.top_k * model.capacity_factor
        local = model.experts // plan.ep
        per_expert = slots * etp * plan.ep / model.experts
        up = width * (2 if model.gated_mlp else 1)
        fwd.add_gemm(gpu, t_s, model.experts, h)
        fwd.add_gemm(gpu, per_expert, up, h, batch=local, fp8=f8)
        fwd.add_gemm(gpu, per_expert, h, width, batch=local, fp8=f8)
        for _ in range(2):
            bwd.add_gemm(gpu, t_s, model.experts, h)
            bwd.add_gemm(gpu, per_expert, up, h, batch=local, fp8=f8)
            bwd.add_gemm(gpu, per_expert, h, width, batch=local, fp8=f8)
        act_tokens, act_width = slots * etp, float(width)
    else:
        f = model.ffn_hidden
        up_width = f * (2 if model.gated_mlp else 1) / t
        t_up = fwd.add_gemm(gpu, tokens, up_width, h, fp8=f8)
        t_down = fwd.add_gemm(gpu, tokens, h, f / t, fp8=f8)
        for _ in range(2):
            bwd.add_gemm(gpu, tokens, up_width, h, fp8=f8)
            bwd.add_gemm(gpu, tokens, h, f / t, fp8=f8)
        act_tokens, act_width = float(tokens), f / t

    # elementwise kernels: norms (read, write), residual adds (two reads, a write), the
    # activation (gated: two reads, a write), dropout (read, write, a one-byte mask)
    elementwise = t_s * h * e * (2 * 2 + 2 * 3) + act_tokens * act_width * e * (3 if model.gated_mlp else 2)
    if model.dropout:
        elementwise += t_s * h * (2 * 2 * e + 2)
    if plan.elementwise == "eager":
        elementwise += eager_extra_bytes(model, plan, t_s, tokens, kv, act_tokens, act_width)
    fwd.add_bytes(gpu, elementwise)
    bwd.add_bytes(gpu, 2 * elementwise)
    cast_fwd = 0.0
    if f8:
        cast_fwd, cast_bwd = fp8_cast_bytes(model, plan, tokens, kv, act_tokens, act_width)
        fwd.add_bytes(gpu, cast_fwd)
        bwd.add_bytes(gpu, cast_bwd)

    # collectives, in the order the layer calls them
    tp_fwd: list[tuple[str, str, int, float]] = []
    tp_bwd: list[tuple[str, str, int, float]] = []
    if t > 1 and sp:
        tp_fwd, tp_bwd = sequence_parallel_calls(plan, act_bytes, (t_qkv, t_proj), (t_up, t_down))
    elif t > 1:
        # forward each block's row-parallel output all-reduced; backward each column-parallel
        # layer's input gradient (the MLP's, then attention's), beside its weight-gradient GEMM
        # with Megatron-LM's async all-reduce
        tp_fwd = [("all_reduce", "tp", act_bytes, 0.0)] * 2
        hide = (t_up, t_qkv) if plan.async_tp_allreduce else (0.0, 0.0)
        tp_bwd = [("all_reduce", "tp", act_bytes, w) for w in hide]
    cp_fwd: list[tuple[str, str, int, float]] = []
    cp_bwd: list[tuple[str, str, int, float]] = []
    if cp > 1:
        kv_bytes = int(b * s * 2 * kv * e)
        cp_fwd = [("all_gather", "cp", kv_bytes, core_fwd.compute_s + core_fwd.memory_s)]
        cp_bwd = [("reduce_scatter", "cp", kv_bytes, core_bwd.compute_s + core_bwd.memory_s)]
    ep_calls: list[tuple[str, str, int, float]] = []
    if moe:
        a2a = int(t_s * model.top_k * model.capacity_factor * h * e)
        dispatch = [("all_to_all", "ep", a2a, 0.0)] if plan.ep > 1 else []
        # expert tensor parallelism: the dispatched tokens gathered over the etp ranks that share
        # the experts before them, their partial outputs reduce-scattered after
        gather = [("all_gather", "etp", a2a * plan.etp, 0.0)] if plan.etp > 1 else []
        scatter = [("reduce_scatter", "etp", a2a * plan.etp, 0.0)] if plan.etp > 1 else []
        ep_calls = dispatch + gather + scatter + dispatch
    fwd.calls = cp_fwd + tp_fwd + ep_calls
    bwd.calls = tp_bwd + ep_calls + cp_bwd

    if (plan.recompute == "full") if recomputed is None else recomputed:
        bwd += Cost(fwd.compute_s, fwd.memory_s, list(fwd.calls))
    elif plan.recompute == "selective":
        bwd += Cost(core_fwd.compute_s, core_fwd.memory_s)
    elif plan.recompute == "selective_op":
        # torchtitan's op-level policy: the fused attention kernel's output and every second
        # linear GEMM's saved, everything else run again (the other GEMMs, every elementwise
        # kernel and cast, an unfused attention core, the collectives but the reduce-scatters)
        again = Cost(0.0, gpu.memory_s(elementwise + cast_fwd))
        for m_, n_, k_ in recomputed_gemms(model, plan, tokens, kv):
            again.add_gemm(gpu, m_, n_, k_, fp8=f8)
        if not flash:
            again += Cost(core_fwd.compute_s, core_fwd.memory_s)
        again.calls = [c for c in fwd.calls if c[0] != "reduce_scatter"]
        bwd += again
    return LayerCosts(fwd, bwd)


def sequence_parallel_calls(
    plan: Parallelism, act_bytes: int, attention: tuple[float, float], mlp: tuple[float, float]
) -> tuple[list[tuple[str, str, int, float]], list[tuple[str, str, int, float]]]:
    """A layer's tensor-parallel calls with sequence parallelism, forward and backward, as
    ``(kind, "tp", bytes, overlap_s)``; ``attention`` and ``mlp``: the times of their
    column-parallel GEMM (QKV's, the MLP's first) and row-parallel GEMM (the output
    projection's, the MLP's last); a time of 0: no GEMM to pair with (a MoE layer's experts).

    Forward, each block all-gathers its input before the column-parallel GEMM and
    reduce-scatters the row-parallel GEMM's output. Backward (Megatron-LM's
    ``LinearWithGradAccumulationAndAsyncCommunication``, Transformer Engine's modules alike),
    each block in reverse: the output gradient all-gathered (the reduce-scatter's backward);
    the column-parallel layer's input, kept sharded, all-gathered again for its weight
    gradient beside its input-gradient GEMM; that input gradient reduce-scattered beside its
    weight-gradient GEMM (those two always overlapped, launched before the GEMM on their own
    stream). ``tp_overlap`` (Userbuffers, async TP) pipelines the others with their GEMMs too.
    With ``precision="fp8"`` the gathered tensors are FP8, one byte per element
    (Transformer Engine gathers the norm's FP8 output and casts the output gradient before
    gathering it); the reduce-scatters carry bf16 partial sums."""
    over = plan.tp_overlap
    gathered = act_bytes // 2 if plan.precision == "fp8" else act_bytes
    fwd: list[tuple[str, str, int, float]] = []
    bwd: list[tuple[str, str, int, float]] = []
    for column, row in (attention, mlp):
        if column > 0:
            fwd += [("all_gather", "tp", gathered, column if over else 0.0)]
        else:
            fwd += [("all_gather", "tp", act_bytes, 0.0)]
        fwd += [("reduce_scatter", "tp", act_bytes, row if over else 0.0)]
    for column, row in (mlp, attention):
        if column > 0:
            bwd += [
                ("all_gather", "tp", gathered, row if over else 0.0),
                ("all_gather", "tp", gathered, column),
                ("reduce_scatter", "tp", act_bytes, column),
            ]
        else:
            bwd += [("all_gather", "tp", act_bytes, 0.0), ("reduce_scatter", "tp", act_bytes, 0.0)]
    return fwd, bwd


def linear_gemms(
    model: Transformer, plan: Parallelism, tokens: float, kv: float
) -> list[tuple[float, float, float]]:
    """A dense layer's linear GEMMs ``(M, N, K)`` on one GPU in the order Llama's reference
    code (and torchtitan) calls them: the query, key and value projections apart, the output
    projection, then the MLP's (a gated MLP's gate, up and down; else up and down)."""
    assert model.ffn_hidden is not None
    h, t, f = model.hidden, plan.tp, model.ffn_hidden / plan.tp
    gemms = [(tokens, h / t, h), (tokens, kv, h), (tokens, kv, h), (tokens, h, h / t)]
    gemms += [(tokens, f, h)] * (2 if model.gated_mlp else 1) + [(tokens, h, f)]
    return gemms


def recomputed_gemms(
    model: Transformer, plan: Parallelism, tokens: float, kv: float
) -> list[tuple[float, float, float]]:
    """``recompute="selective_op"``: every second linear GEMM (the second, fourth, ...), which
    torchtitan's policy does not save (its counter of matmuls, per layer)."""
    return linear_gemms(model, plan, tokens, kv)[1::2]


def eager_extra_bytes(
    model: Transformer,
    plan: Parallelism,
    t_s: float,
    tokens: float,
    kv: float,
    act_tokens: float,
    act_width: float,
) -> float:
    """What PyTorch run op by op moves beyond the fused kernels, per layer forward (counted
    from Llama's reference code, as torchtitan and Hugging Face run it):

    - RMSNorm ``(x.float() * rsqrt(x.float().pow(2).mean(-1) + eps)).type_as(x) * w``: the
      cast (read 2, write 4 bytes per element), the square (4, 4), the mean (4), the scaling
      (4, 4), the cast back (4, 2), the weight (2, 2): 36 bytes per element where the fused
      kernel moves 4 (LayerNorm is one kernel either way);
    - rotary embeddings through fp32 complex numbers: cast (2, 4), complex product (4, 4), cast
      back (4, 2): 20 bytes per element of the queries and the keys;
    - the attention output transposed back and made contiguous: 4 bytes per element;
    - a gated MLP's SiLU (2, 2) and product (4, 2) apart: 10 bytes per element of its width
      where the fused kernel moves 6."""
    h, t = model.hidden, plan.tp
    extra = tokens * h / t * 4
    if model.rms_norm:
        extra += 2 * t_s * h * (36 - 4)
    if model.rotary:
        extra += tokens * (h / t + kv) * 20
    if model.gated_mlp:
        extra += act_tokens * act_width * (10 - 6)
    return extra


def fp8_cast_bytes(
    model: Transformer, plan: Parallelism, tokens: float, kv: float, act_tokens: float, act_width: float
) -> tuple[float, float]:
    """What Transformer Engine's FP8 recipe moves beyond the bf16 step, per layer (forward,
    backward): every linear layer's input is cast to FP8 with its transpose (the weight
    gradient's operand on Hopper); the casts of the QKV and MLP inputs ride in the norm's and
    the activation's kernels, which write one byte and its transpose's byte where they wrote two,
    the attention output's is its own kernel (read 2 bytes, write 1 + 1: 4 per element);
    backward, every linear layer's output gradient is cast and transposed the same way (4 bytes
    per element of QKV's, the output projection's and the MLP's outputs). The weights' casts,
    once a step, and the scaling factors' reductions are left out (under 0.1% of a step)."""
    h, t = model.hidden, plan.tp
    forward = tokens * h / t * 4
    # QKV's and the output projection's outputs, the MLP's (or the experts') two
    outputs = tokens * (h / t + 2 * kv) + tokens * h
    outputs += act_tokens * act_width * (2 if model.gated_mlp else 1) + act_tokens * h
    return forward, outputs * 4


def chunk_costs(model: Transformer, plan: Parallelism, gpu: GpuSpec, stage: int, chunk: int) -> LayerCosts:
    """The layers of model chunk ``chunk`` of pipeline stage ``stage`` (Megatron's interleaved
    assignment: chunk ``c`` of stage ``p`` holds the ``(c x pp + p)``-th slice of the layers),
    with the embedding on the first slice and the output projection and loss on the last."""
    slices = plan.pp * plan.virtual_stages
    index = chunk * plan.pp + stage
    fwd, bwd = Cost(), Cost()
    kinds: dict[tuple[bool, bool], LayerCosts] = {}  # (MoE, recomputed): each kind once
    for position, layer in enumerate(plan.slice_ranges(model.layers)[index]):
        moe, again = model.is_moe_layer(layer), plan.recomputes(position)
        if (moe, again) not in kinds:
            kinds[moe, again] = layer_costs(model, plan, gpu, moe=moe, recomputed=again)
        c = kinds[moe, again]
        fwd += Cost(c.forward.compute_s, c.forward.memory_s, list(c.forward.calls))
        bwd += Cost(c.backward.compute_s, c.backward.memory_s, list(c.backward.calls))
    tokens = plan.microbatch_size * model.seq_len // plan.cp
    h, t = model.hidden, plan.tp
    if index == 0:  # embedding lookup: write the activations (its gradient: a scatter-add)
        fwd.add_bytes(gpu, tokens * h * ELEMENT_BYTES)
        bwd.add_bytes(gpu, 2 * tokens * h * ELEMENT_BYTES)
    if index == slices - 1:  # output projection over the vocabulary, then the loss (fp32 logits)
        v = model.vocab / t
        fwd.add_gemm(gpu, tokens, v, h)
        fwd.add_bytes(gpu, tokens * v * 4 * 2)
        for _ in range(2):
            bwd.add_gemm(gpu, tokens, v, h)
        bwd.add_bytes(gpu, tokens * v * 4 * 2)
    return LayerCosts(fwd, bwd)


def gather_params_per_layer(
    costs: list[list[LayerCosts]],
    params: npt.NDArray[np.float64],
    model: Transformer,
    plan: Parallelism,
    gpu: GpuSpec,
) -> None:
    """ZeRO-3: every layer's parameters all-gathered before its forward and its backward,
    prefetched behind the previous layer's compute (calls added to ``costs``, in place; the
    step and its trace both). With ``plan.zero3_copy_out`` each gathered layer is also copied
    out of the gather's buffer into its parameters on the compute stream before it runs (read
    and written: twice its bytes on the memory roof), as PyTorch FSDP2's per-parameter
    sharding does (``foreach_all_gather_copy_out``); flat-buffer sharding (FSDP1, DeepSpeed)
    gathers into the parameters' own storage."""
    counts = plan.slice_layers(model.layers)
    for p in range(plan.pp):
        for c in range(plan.virtual_stages):
            per = max(counts[c * plan.pp + p], 1)
            nbytes = int(params[p, c] / per * ELEMENT_BYTES)
            for cost in (costs[p][c].forward, costs[p][c].backward):
                if plan.zero3_copy_out:
                    cost.add_bytes(gpu, 2 * nbytes * per)
                layer = (cost.compute_s + cost.memory_s) / per
                cost.calls.extend([("all_gather", "dp", nbytes, layer)] * per)


__all__ = [
    "ELEMENT_BYTES",
    "Cost",
    "LayerCosts",
    "chunk_costs",
    "eager_extra_bytes",
    "fp8_cast_bytes",
    "gather_params_per_layer",
    "layer_costs",
]
