"""What a training step keeps in each GPU's memory: parameters, gradients, optimizer state and
activations, per pipeline stage.

- Mixed-precision Adam: bf16 parameters (2 B), gradients as reduced (``grad_bytes_per_param``,
  4 B: Megatron's fp32 main gradients), fp32 master parameters and the two moments (12 B);
  ZeRO shards the optimizer state (stage 1), also the gradients (2) and the parameters (3)
  over the data-parallel ranks (Rajbhandari et al., ZeRO, arXiv 1910.02054, section 5).
  Experts shard over their own data-parallel ranks (``dp x cp / ep``).
- Activations per layer and microbatch, the tensors backward needs (Korthikanti et al., arXiv
  2205.05198, section 4, generalized to grouped-query attention, gated MLPs and experts; the
  attention scores are not stored with FlashAttention, which recomputes them; unfused
  attention keeps them unless selective recomputation drops them): norm inputs, the QKV
  GEMM's input and outputs, the attention output, the MLP's input, its first GEMM's output and
  the activation's output, dropout masks (1 B) when the model has dropout; with sequence
  parallelism all of them split over ``tp``. Full recomputation keeps each layer's input only;
  torchtitan's ``"selective_op"`` the input, every other linear GEMM's output, the fused
  attention kernel's and the reduce-scatters' outputs.
  A stage holds them for the microbatch-chunks in flight in the executed schedule (1F1B:
  ``pp - stage`` on stage ``stage``), the last stage also one microbatch's fp32 logits.

Not counted: the CUDA context, library workspaces, communication buffers and fragmentation
(a few GiB on real jobs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fabricsim.workload.layer_costs import ELEMENT_BYTES, linear_gemms
from fabricsim.workload.model import Transformer
from fabricsim.workload.plan import Parallelism

GIB = float(1 << 30)
OPTIMIZER_BYTES_PER_PARAM = 12
"""fp32 master copy and Adam's two moments."""
ADAM_BYTES_PER_PARAM = (4 + 4 + 4 + 4) + (4 + 4 + 4 + 2)
"""An Adam step reads the fp32 master, both moments and the gradient, and writes the master,
the moments and the bf16 copy (memory-bound): what the optimizer moves per parameter."""


@dataclass
class StageParams:
    """Parameters one GPU of a stage holds: ``dense`` (sharded over ``dp x cp`` by ZeRO),
    ``expert`` (sharded over ``dp x cp / ep``), per model chunk."""

    dense: npt.NDArray[np.float64]
    expert: npt.NDArray[np.float64]


def stage_params(model: Transformer, plan: Parallelism) -> StageParams:
    """Per ``[stage, chunk]``: the parameters of one GPU (tensor-parallel shares; the experts of
    its expert-parallel share, whole or, with ``etp``, 1/etp of each)."""
    pp, v, t = plan.pp, plan.virtual_stages, plan.tp
    slices = pp * v
    ranges = plan.slice_ranges(model.layers)
    assert model.ffn_hidden is not None
    dense = np.zeros((pp, v))
    expert = np.zeros((pp, v))
    for p in range(pp):
        for c in range(v):
            index = c * pp + p
            for layer in ranges[index]:
                dense[p, c] += model.attention_params() / t + 2 * model.hidden
                if model.is_moe_layer(layer):
                    width = model.moe_ffn_hidden or model.ffn_hidden
                    expert[p, c] += model.experts // plan.ep * model.mlp_params(width) / plan.etp
                    dense[p, c] += model.hidden * model.experts
                else:
                    dense[p, c] += model.mlp_params(model.ffn_hidden) / t
            if index == 0:
                dense[p, c] += model.vocab * model.hidden / t
            if index == slices - 1:
                dense[p, c] += model.hidden  # the final norm (replicated over tp)
                if not model.tied_embeddings or slices > 1:
                    dense[p, c] += model.vocab * model.hidden / t
    return StageParams(dense, expert)


def layer_activation_bytes(model: Transformer, plan: Parallelism, layer: int, position: int = 0) -> float:
    """Bytes one layer keeps for backward, one microbatch, one GPU (``position``: its place in
    its model chunk, which ``plan.recompute_layers`` decides by)."""
    t = plan.tp
    sp = bool(plan.sequence_parallel) and t > 1
    tokens = plan.microbatch_size * model.seq_len / plan.cp
    h, e = model.hidden, ELEMENT_BYTES
    split = t if sp else 1
    recomputed = plan.recomputes(position)
    if recomputed:
        return tokens * h * e / split
    kv = max(model.kv_dim / t, float(model.head_dim))
    if plan.recompute == "selective_op":
        # the layer's input, every other linear GEMM's output (from the first), the fused
        # attention kernel's output, the reduce-scatters' outputs
        kept = h / split + sum(n for _, n, _ in linear_gemms(model, plan, 1.0, kv)[0::2])
        kept += (h / t if plan.attention == "flash" else 0.0) + (2 * h / t if sp else 0.0)
        return tokens * kept * e
    assert model.ffn_hidden is not None
    per_token = 2 * h * e / split  # the two norms' inputs
    per_token += h * e / split + (h / t + 2 * kv) * e + h / t * e  # QKV input, Q K V, attention output
    if model.is_moe_layer(layer):
        width = model.moe_ffn_hidden or model.ffn_hidden
        slots = model.top_k * model.capacity_factor / split
        up = width * (2 if model.gated_mlp else 1)
        per_token += h * e / split + slots * (up + width) * e + slots * h * e
    else:
        up_width = model.ffn_hidden * (2 if model.gated_mlp else 1) / t
        per_token += h * e / split + up_width * e + model.ffn_hidden / t * e
    if model.dropout:
        per_token += 2 * h / split
    if plan.attention == "unfused" and plan.recompute != "selective":
        # the softmax's output (and dropout's mask and output) over the scores: Korthikanti's
        # 5 a s^2 b (2 a s^2 b without dropout), split over tp
        per_token += (5 if model.dropout else 2) * model.heads * model.seq_len / t
    return tokens * per_token


def estimate(
    model: Transformer, plan: Parallelism, in_flight: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Per stage, GiB: ``params``, ``grads``, ``optimizer``, ``activations``, ``total``.
    ``in_flight[p]``: the most microbatch-chunks stage ``p`` held at once."""
    sp_ = stage_params(model, plan)
    shard = plan.dp * plan.cp
    expert_shard = max(shard // plan.ep, 1)
    z = plan.zero
    g = plan.grad_bytes_per_param

    def held(bytes_per_param: float, sharded: bool) -> npt.NDArray[np.float64]:
        dense = sp_.dense.sum(axis=1) * bytes_per_param / (shard if sharded else 1)
        expert = sp_.expert.sum(axis=1) * bytes_per_param / (expert_shard if sharded else 1)
        out: npt.NDArray[np.float64] = (dense + expert) / GIB
        return out

    params = held(ELEMENT_BYTES, z >= 3)
    grads = held(g, z >= 2)
    optimizer = held(OPTIMIZER_BYTES_PER_PARAM, z >= 1)
    pp, v = plan.pp, plan.virtual_stages
    ranges = plan.slice_ranges(model.layers)
    acts = np.zeros(pp)
    for p in range(pp):
        # the average chunk of the stage (its chunks differ by a layer at most, and by MoE)
        per_chunk = np.mean(
            [
                sum(
                    layer_activation_bytes(model, plan, layer, position)
                    for position, layer in enumerate(ranges[c * pp + p])
                )
                for c in range(v)
            ]
        )
        acts[p] = per_chunk * int(in_flight[p]) / GIB
    tokens = plan.microbatch_size * model.seq_len / plan.cp
    acts[-1] += tokens * model.vocab / plan.tp * 4 / GIB
    return {
        "params": params,
        "grads": grads,
        "optimizer": optimizer,
        "activations": acts,
        "total": params + grads + optimizer + acts,
    }


__all__ = [
    "ADAM_BYTES_PER_PARAM",
    "GIB",
    "OPTIMIZER_BYTES_PER_PARAM",
    "StageParams",
    "estimate",
    "layer_activation_bytes",
    "stage_params",
]
