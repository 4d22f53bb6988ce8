"""docs/validation.md's end-to-end section: training steps of published large-scale runs,
each with its published parallelism plan on a fabric preset shaped like its cluster, our
figure beside the published one. Nothing is fitted: the GPUs' constants come from kernel-level
measurements (:mod:`fabricsim.workload.gpu`), the fabrics from their own sources.

Rows (``fabricsim validate --only training``; about 1.5 minutes on 2 cores):

- Megatron-Turing NLG 530B on 280, 350 and 420 DGX A100 nodes (Smith et al., arXiv
  2201.11990, section 2.4: 60.1, 50.2 and 44.4 s per iteration at a global batch of 1920
  sequences of 2048 tokens; 8-way tensor, 35-way pipeline, data parallel over the rest;
  Megatron-LM and DeepSpeed of 2021: tensor parallelism by all-reduce, unfused attention,
  activation checkpointing, ZeRO stage 1) on ``dgx_a100_cluster``;
- Llama 3 405B on 8,192 and 16,384 H100s (Llama Team, arXiv 2407.21783, Table 4: 43% and 41%
  BF16 MFU; TP 8, PP 16, DP 64 / 128, 8,192-token sequences, 32 / 16 sequences per
  data-parallel rank; section 3.3.2: one layer fewer on the first and last stages, their first
  and last model chunks holding only the embedding and the output layer, so chunks of one
  layer: 8 virtual stages; FSDP sharding optimizer state and gradients, zero=2 here) on
  ``dgx_h100_cluster`` (400 Gb/s per GPU, as Meta's RoCE fabric). Its 131,072-token
  context-parallel row is left out (its DP differs between copies of the table);
- BLOOM 176B on 384 A100s of Jean Zay (:func:`bloom_run`: 105 s per iteration, the
  BigScience README's figure) on ``dgx_a100_cluster`` with each GPU's NIC at 50 Gb/s (the
  node's four 100 Gb/s Omni-Path links);
- NVIDIA's benchmark runs of Megatron-LM in 2022 on the same A100 cluster as MT-NLG (Selene):
  GPT-3 175B, MT-NLG 530B and a 1T model on 64, 280 and 512 GPUs, data parallel size one, a
  global batch of one sequence per GPU (Korthikanti et al., arXiv 2205.05198, Tables 3 and 5:
  18.13, 49.05 and 94.42 s per iteration with full recomputation, 13.75, 37.83 and 71.49 s
  with sequence parallelism and selective recomputation; the latter's MFU, 51.4, 56.0 and
  56.3%, also in Megatron-LM's README, follow from these times by the paper's FLOP count).
  Their models: vocabulary 51,200, dropout, unfused attention (selective recomputation
  recomputes the attention core that FlashAttention would not store), micro-batch 1.

A check on H100 and A100 beside them (:func:`mpt_check_table`): MosaicML's MPT throughput with
FSDP, the same software on both GPUs; one on A100 with PyTorch's own FSDP2
(:func:`torchtitan_check_table`); and NVIDIA's own stack on H100 in FP8
(:func:`nemo_fp8_check_table`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from fabricsim.fabric import Fabric
from fabricsim.workload import Parallelism, TrainingStep, TrainingStepResult, Transformer, training_step


@dataclass(frozen=True)
class Run:
    name: str
    model: Transformer
    gpu: str
    fabric: str
    nodes: int
    plan: Parallelism
    measured: float
    unit: str  # "s" (step time) or "mfu"
    source: str
    group: str  # rows whose error is summarized together
    nic_gbit_per_s: float | None = None
    """Each GPU's share of its node's scale-out bandwidth, if not the preset's."""


PUBLISHED = "published training runs"
MEGATRON_2022 = "Megatron-LM's 2022 benchmark runs"


def mt_nlg_run(nodes: int, seconds: float) -> Run:
    """MT-NLG 530B on ``nodes`` DGX A100s (arXiv 2201.11990): Megatron-DeepSpeed of 2021, its
    tensor-parallel all-reduces in place (taken to be as BLOOM's fork of that code runs them,
    ``async_tp_allreduce`` off)."""
    dp = nodes * 8 // (8 * 35)
    plan = Parallelism(
        tp=8,
        pp=35,
        dp=dp,
        microbatch_size=1,
        global_batch=1920,
        zero=1,
        recompute="full",
        sequence_parallel=False,
        attention="unfused",
    )
    return Run(
        f"MT-NLG 530B, {nodes * 8} A100",
        Transformer.preset("mt_nlg_530b"),
        "a100_sxm_80gb",
        "dgx_a100_cluster",
        nodes,
        plan,
        seconds,
        "s",
        "arXiv 2201.11990 section 2.4",
        PUBLISHED,
    )


def llama3_run(dp: int, per_dp: int, mfu: float) -> Run:
    plan = Parallelism(
        tp=8,
        pp=16,
        dp=dp,
        virtual_stages=8,
        microbatch_size=1,
        global_batch=dp * per_dp,
        zero=2,
        first_stage_layers=7,
        last_stage_layers=7,
    )
    return Run(
        f"Llama 3 405B, {128 * dp:,} H100",
        Transformer.preset("llama3_405b"),
        "h100_sxm",
        "dgx_h100_cluster",
        16 * dp,
        plan,
        mfu,
        "mfu",
        "arXiv 2407.21783 Table 4",
        PUBLISHED,
    )


def bloom_run() -> Run:
    """BLOOM 176B on Jean Zay (bigscience-workshop/bigscience, train/tr11-176B-ml): its slurm
    script's plan (TP 4, PP 12, micro-batch 2, global batch 2048, activation checkpointing, the
    bf16 optimizer's ZeRO-1, the embeddings counted as pipeline layers: 5 transformer layers on
    the first and last stages, 6 on the others) on 48 nodes of 8 A100 80 GB; Megatron-LM's
    dropout (0.1) and fused-softmax attention; DeepSpeed's pipeline engine reduces the
    gradients after the last microbatch; its tensor-parallel all-reduces run in place
    (megatron/mpu/layers.py's ``copy_to_tensor_model_parallel_region``: ``async_tp_allreduce``
    off). The nodes' four 100 Gb/s Omni-Path links, shared by
    their 8 GPUs: 50 Gb/s per GPU. Published: 105 s per iteration (the README's time-to-goal
    formula), ~150 TFLOP/s per GPU counted with recomputation."""
    plan = Parallelism(
        tp=4,
        pp=12,
        dp=8,
        microbatch_size=2,
        global_batch=2048,
        zero=1,
        recompute="full",
        sequence_parallel=False,
        attention="unfused",
        first_stage_layers=5,
        last_stage_layers=5,
        overlap_grad_reduce=False,
    )
    return Run(
        "BLOOM 176B, 384 A100",
        replace(Transformer.preset("bloom_176b"), dropout=True),
        "a100_sxm_80gb",
        "dgx_a100_cluster",
        48,
        plan,
        105.0,
        "s",
        "bigscience tr11-176B-ml README",
        PUBLISHED,
        nic_gbit_per_s=50.0,
    )


def megatron_2022_run(label: str, preset: str, pp: int, selective: bool, seconds: float) -> Run:
    """One of Korthikanti et al.'s runs: 8-way tensor parallelism, ``pp`` stages, one
    sequence per GPU; full recomputation, or sequence parallelism with selective recomputation.
    Without sequence parallelism the backward all-reduces run beside the weight-gradient GEMMs
    (Megatron-LM's ``--async-tensor-model-parallel-allreduce``, on by default in its code of
    the time)."""
    plan = Parallelism(
        tp=8,
        pp=pp,
        dp=1,
        microbatch_size=1,
        global_batch=8 * pp,
        recompute="selective" if selective else "full",
        sequence_parallel=selective,
        async_tp_allreduce=not selective,
        attention="unfused",
    )
    return Run(
        f"Megatron {label}, {8 * pp} A100, {'selective' if selective else 'full'} recompute",
        replace(Transformer.preset(preset), vocab=51200, dropout=True),
        "a100_sxm_80gb",
        "dgx_a100_cluster",
        pp,
        plan,
        seconds,
        "s",
        "arXiv 2205.05198 Table 5",
        MEGATRON_2022,
    )


RUNS = [
    mt_nlg_run(280, 60.1),
    mt_nlg_run(350, 50.2),
    mt_nlg_run(420, 44.4),
    llama3_run(64, 32, 0.43),
    llama3_run(128, 16, 0.41),
    bloom_run(),
    *(
        megatron_2022_run(label, preset, pp, selective, seconds)
        for label, preset, pp, times in (
            ("GPT-3 175B", "gpt3_175b", 8, (18.13, 13.75)),
            ("530B", "mt_nlg_530b", 35, (49.05, 37.83)),
            ("1T", "megatron_1t", 64, (94.42, 71.49)),
        )
        for selective, seconds in zip((False, True), times, strict=True)
    ),
]


def build(run: Run) -> tuple[Fabric, TrainingStep]:
    """The run's fabric and step (its memory estimate not checked: the published run fit)."""
    fab = Fabric.preset(run.fabric, nodes=run.nodes)
    if run.nic_gbit_per_s is not None and fab.network_link is not None:
        # the same link kind at the GPU's share, over its lanes
        lanes = fab.network_link.lanes
        fab = fab.replace(network_link=fab.network_link.replace(gbps_per_lane=run.nic_gbit_per_s / lanes))
    return fab, training_step(run.model, run.plan, run.gpu, check_memory=False)


def simulate(run: Run) -> TrainingStepResult:
    fab, step = build(run)
    return fab.run(step, fidelity="flow")


def training_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The rows above: published figure, ours, the error, and our breakdown's largest parts."""
    lines = [
        "| run | plan | published | fabricsim | error | where our step goes | memory estimate |",
        "|---|---|---|---|---|---|---|",
    ]
    errors: dict[str, list[float]] = {}
    for run in RUNS:
        res = simulate(run)
        ours = res.step_time_s if run.unit == "s" else res.mfu
        err = ours / run.measured - 1
        errors.setdefault(run.group, []).append(abs(err))
        p = run.plan

        def fmt(x: float, unit: str = run.unit) -> str:
            return f"{x:.1f} s" if unit == "s" else f"{x:.1%} MFU"

        parts = sorted(res.breakdown.items(), key=lambda kv: -kv[1])[:4]
        where = ", ".join(f"{k[:-2]} {v / res.step_time_s:.0%}" for k, v in parts)
        lines.append(
            f"| {run.name} | TP {p.tp} PP {p.pp}x{p.virtual_stages} DP {p.dp}, {p.global_batch} x "
            f"{run.model.seq_len} tokens | {fmt(run.measured)} ({run.source}) | {fmt(ours)} "
            f"| {err:+.1%} | {where} | {res.memory_per_gpu_gib:.0f} GiB |"
        )
        log(f"training {run.name}: {fmt(ours)} vs {fmt(run.measured)} ({err:+.1%})")
    lines.append("")
    for group, errs in errors.items():
        gm = math.exp(sum(math.log(max(e, 1e-9)) for e in errs) / len(errs))
        lines.append(
            f"Geometric-mean absolute error, {group}: {gm:.1%} over {len(errs)} rows (largest {max(errs):.1%})."
        )
    return "\n".join(lines)


MPT_SHAPES = {"70b": (80, 8192, 64), "30b": (48, 7168, 56), "13b": (40, 5120, 40), "7b": (32, 4096, 32)}
"""MPT's layers, hidden size and heads (llm-foundry's yamls; their parameter counts, tied
embeddings over a 50,368-token vocabulary, match the benchmark table's NumParams)."""

MPT_ROWS: list[tuple[str, int, int, int, int, bool, float]] = [
    # model, sequence, GPUs, micro-batch, global batch, activation checkpointing, tokens/s/GPU
    ("70b", 2048, 64, 8, 2048, True, 1039),
    ("70b", 2048, 32, 2, 1024, True, 882),
    ("30b", 2048, 32, 14, 1344, True, 2308),
    ("30b", 2048, 16, 10, 480, True, 2263),
    ("30b", 2048, 8, 3, 504, True, 2002),
    ("13b", 2048, 64, 2, 128, False, 4800),
    ("13b", 2048, 8, 2, 16, False, 4792),
    ("13b", 4096, 8, 10, 240, True, 4717),
    ("7b", 2048, 8, 6, 48, False, 10643),
    ("7b", 4096, 8, 16, 256, True, 8611),
]
"""MosaicML llm-foundry, scripts/train/benchmarking/README.md, "H100 80GB BF16" (2023): FSDP
FULL_SHARD, amp_bf16, the rows of MPT 7B-70B at 2-4k tokens (FSDP's flat parameters of
2023: the gathered buffer is the parameters' storage, ``zero3_copy_out`` off)."""

MPT_A100_ROWS: list[tuple[str, int, int, int, int, bool, float]] = [
    ("70b", 2048, 64, 8, 2048, True, 410),
    ("70b", 2048, 32, 2, 1024, True, 373),
    ("30b", 4096, 8, 1, 168, True, 814),
    ("30b", 2048, 8, 3, 504, True, 916),
    ("13b", 8192, 8, 5, 120, True, 1795),
    ("13b", 4096, 8, 10, 240, True, 2060),
    ("13b", 2048, 8, 2, 48, False, 2262),
    ("7b", 8192, 8, 8, 128, True, 3206),
    ("7b", 4096, 8, 16, 256, True, 3684),
    ("7b", 2048, 8, 6, 96, False, 4641),
]
"""The same README, "A100 80GB with 1600 Gbps node-node interconnect (RoCE)": the same
software and models on A100 (the 70B rows in pure bf16, the others amp_bf16), the rows of MPT
7B-70B at 2-8k tokens."""

MPT_SYSTEMS = {
    "h100_sxm": (MPT_ROWS, "dgx8_nvswitch", "dgx_h100_cluster"),
    "a100_sxm_80gb": (MPT_A100_ROWS, "dgx_a100", "dgx_a100_cluster"),
}
"""Per GPU: the published rows, the one-node fabric, the cluster for more nodes."""


def gpus_fabric(gpus: int, node: str, cluster: str) -> Fabric:
    """The fabric a check's row runs on: one ``node`` preset for up to 8 GPUs, else the
    ``cluster`` preset with ``gpus / 8`` nodes."""
    return Fabric.preset(cluster, nodes=gpus // 8) if gpus > 8 else Fabric.preset(node)


def mpt_check_table(gpu: str = "h100_sxm", log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's MPT check: MosaicML's published throughput with FSDP (zero=3,
    tp = pp = 1) on ``gpu`` (``h100_sxm`` or ``a100_sxm_80gb``), flash attention, full
    recomputation where the row checkpoints."""
    rows, node, cluster = MPT_SYSTEMS[gpu]
    lines = [
        "| MPT | sequence | GPUs | micro-batch x accumulation | published (tokens/s/GPU) | fabricsim | error |",
        "|---|---|---|---|---|---|---|",
    ]
    errors = []
    for name, seq, gpus, mbs, gbs, ckpt, published in rows:
        layers, hidden, heads = MPT_SHAPES[name]
        model = Transformer(
            layers=layers,
            hidden=hidden,
            heads=heads,
            seq_len=seq,
            vocab=50368,
            tied_embeddings=True,
            name=f"mpt_{name}",
        )
        plan = Parallelism(
            dp=gpus, microbatch_size=mbs, global_batch=gbs, zero=3, recompute="full" if ckpt else "none"
        )
        fab = gpus_fabric(gpus, node, cluster)
        res = fab.run(training_step(model, plan, gpu, check_memory=False), fidelity="flow")
        ours = gbs * seq / res.step_time_s / gpus
        errors.append(ours / published - 1)
        lines.append(
            f"| {name} | {seq} | {gpus} | {mbs} x {gbs // (mbs * gpus)} | {published:,.0f} | {ours:,.0f} | {ours / published - 1:+.1%} |"
        )
        log(f"{gpu} check MPT {name} on {gpus}: {ours / published - 1:+.1%}")
    every = " on every row" if min(errors) > 0 else ""
    lines.append(f"\nFrom {min(errors):+.0%} to {max(errors):+.0%}{every}.")
    return "\n".join(lines)


TORCHTITAN_A100_ROWS: list[tuple[str, int, str, float, float]] = [
    # model preset, sequences per GPU, activation checkpointing, tokens/s/GPU, MFU (published)
    ("llama3_8b", 1, "every second layer", 2904, 0.568),
    ("llama3_8b", 1, "selective op", 2973, 0.582),
    ("llama3_70b", 1, "full", 331, 0.517),
    ("llama2_13b", 2, "none", 2162, 0.611),
    ("llama2_13b", 2, "every second layer", 1914, 0.541),
    ("llama2_13b", 2, "selective op", 1904, 0.538),
    ("llama2_70b", 1, "selective op", 355, 0.508),
    ("llama2_70b", 2, "full", 353, 0.505),
]
"""torchtitan's docs/performance.md (pytorch/torchtitan 395a526 and 157a12c, April 2024; the
same figures in its later versions): Llama 2 and 3 trained with FSDP2 on 64 A100 80 GB, full
sharding over all 64, bf16 parameters and fp32 gradient reduction, eager PyTorch (no
torch.compile), one step of ``64 x sequences per GPU`` sequences (Llama 2 4,096 tokens, Llama 3
8,192, the repository's train configs of the time). Checkpointing full, none, or "selective
layer" (its default: every second layer checkpointed whole, ``recompute_layers`` = half the
layers here: the same count, the same time) or "selective op" (``recompute="selective_op"``:
its policy of the time, parallelize_llama.py, saves the attention kernel's and every second
matmul's outputs and runs the rest of each layer again)."""


def torchtitan_check_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's torchtitan check: the rows above on 8 ``dgx_a100_cluster`` nodes
    (200 Gb/s per GPU; torchtitan does not name its network), zero=3, tp = pp = 1, flash
    attention (PyTorch's scaled_dot_product_attention on A100), FSDP2's copy of each gathered
    layer out of the gather's buffer (``zero3_copy_out``), elementwise kernels as the software
    ran them (eager) and, beside it, fused."""
    lines = [
        "| model | sequence | sequences per GPU | checkpointing | published (tokens/s/GPU) | fabricsim "
        "| error | with fused elementwise kernels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for preset, per_gpu, checkpointing, published, _mfu in TORCHTITAN_A100_ROWS:
        model = Transformer.preset(preset)
        recompute, layers = {
            "every second layer": ("full", model.layers // 2),
            "selective op": ("selective_op", None),
        }.get(checkpointing, (checkpointing, None))
        ours = {}
        for kernels in ("eager", "fused"):
            plan = Parallelism(
                dp=64,
                microbatch_size=per_gpu,
                global_batch=64 * per_gpu,
                zero=3,
                zero3_copy_out=True,
                recompute=recompute,
                recompute_layers=layers,
                elementwise=kernels,
            )
            step = training_step(model, plan, "a100_sxm_80gb", check_memory=False)
            res = Fabric.preset("dgx_a100_cluster", nodes=8).run(step, fidelity="flow")
            ours[kernels] = per_gpu * model.seq_len / res.step_time_s
        err, fused_err = ours["eager"] / published - 1, ours["fused"] / published - 1
        errors.append(err)
        lines.append(
            f"| {preset} | {model.seq_len} | {per_gpu} | {checkpointing} | {published:,.0f} | {ours['eager']:,.0f} "
            f"| {err:+.1%} | {ours['fused']:,.0f} ({fused_err:+.1%}) |"
        )
        log(f"torchtitan check {preset} x {per_gpu}, {checkpointing}: {err:+.1%} (fused {fused_err:+.1%})")
    lines.append(f"\nFrom {min(errors):+.0%} to {max(errors):+.0%}.")
    return "\n".join(lines)


def _gpt3(layers: int, hidden: int, heads: int) -> Transformer:
    """NeMo's GPT-3 shapes: 2,048-token sequences, the GPT-2 vocabulary padded to 50,304,
    dropout 0.1."""
    return Transformer(layers=layers, hidden=hidden, heads=heads, seq_len=2048, vocab=50304, dropout=True)


NEMO_H100_FP8_ROWS: list[tuple[str, Transformer, int, int, int, int, int, int, int, bool, float]] = [
    # name, model, GPUs, global batch, micro-batch, TP, PP, CP, VP, TP overlap, tokens/s/GPU
    ("GPT3-5B", _gpt3(24, 4096, 32), 64, 2048, 4, 1, 1, 1, 1, False, 22521),
    ("GPT3-20B", _gpt3(44, 6144, 48), 64, 256, 2, 2, 1, 1, 1, True, 5851),
    ("GPT3-175B", _gpt3(96, 12288, 96), 128, 256, 1, 4, 8, 1, 6, False, 726),
    ("GPT3-175B", _gpt3(96, 12288, 96), 512, 2048, 2, 4, 8, 1, 6, False, 782),
    ("LLAMA2-7B", Transformer.preset("llama2_7b"), 8, 128, 1, 1, 1, 1, 1, False, 16847),
    ("LLAMA2-13B", Transformer.preset("llama2_13b"), 16, 128, 1, 1, 4, 1, 10, False, 8646),
    ("LLAMA2-70B", Transformer.preset("llama2_70b"), 64, 128, 1, 4, 4, 1, 20, True, 1707),
    ("LLAMA3-8B", Transformer.preset("llama3_8b"), 8, 128, 1, 1, 1, 2, 1, False, 12036),
    ("LLAMA3-70B", Transformer.preset("llama3_70b"), 64, 128, 1, 4, 4, 2, 5, True, 1533),
]
"""NVIDIA NeMo's pre-training performance on DGX H100 in FP8 (NVIDIA/NeMo
docs/source/performance/performance_summary.md at 070a0bb, container 24.07): the GPT-3 and
Llama rows with their GPUs, batches and TP / PP / CP / VP; the rest of each plan from
NeMo-Framework-Launcher's configs of the models (launcher_scripts/conf/training, at 26e42fa):
sequence parallelism with TP, Userbuffers' TP overlap where the config sets
``ub_tp_comm_overlap`` (20B, Llama 2 70B, Llama 3 70B), the distributed optimizer (ZeRO-1)
with bf16 gradient reduction (``grad_sync_dtype=bf16`` in every FP8 example script), no
recomputation, Transformer Engine's FP8 recipe (``fp8_hybrid``). The Nemotron rows are left
out (their architectures are not in the presets)."""


def nemo_fp8_check_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's NeMo check: the rows above on ``dgx8_nvswitch`` or
    ``dgx_h100_cluster``, ``precision="fp8"``, and the same plans in bf16 beside them."""
    lines = [
        "| model | GPUs | TP PP CP VP | global x micro-batch | published (tokens/s/GPU) | fabricsim (FP8) | error "
        "| fabricsim in bf16 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for name, model, gpus, gbs, mbs, tp, pp, cp, vp, overlap, published in NEMO_H100_FP8_ROWS:
        fab = gpus_fabric(gpus, "dgx8_nvswitch", "dgx_h100_cluster")
        ours = {}
        for precision in ("fp8", "bf16"):
            plan = Parallelism(
                tp=tp,
                pp=pp,
                cp=cp,
                dp=gpus // (tp * pp * cp),
                virtual_stages=vp,
                microbatch_size=mbs,
                global_batch=gbs,
                zero=1,
                grad_bytes_per_param=2,
                tp_overlap=overlap,
                precision=precision,
            )
            res = fab.run(training_step(model, plan, "h100_sxm", check_memory=False), fidelity="flow")
            ours[precision] = gbs * model.seq_len / res.step_time_s / gpus
        err = ours["fp8"] / published - 1
        errors.append(err)
        lines.append(
            f"| {name} | {gpus} | {tp} {pp} {cp} {vp} | {gbs} x {mbs} | {published:,.0f} | {ours['fp8']:,.0f} "
            f"| {err:+.1%} | {ours['bf16']:,.0f} |"
        )
        log(f"nemo check {name} on {gpus}: {err:+.1%}")
    lines.append(f"\nFrom {min(errors):+.0%} to {max(errors):+.0%}.")
    return "\n".join(lines)


MLPERF_GPT3_ROWS: list[tuple[int, int, float]] = [
    # H100 GPUs, global batch (sequences of 2,048 tokens), seconds per step (published)
    (512, 2048, 11.05),
    (768, 3072, 11.075),
    (4096, 2048, 1.608),
    (6144, 3072, 1.615),
    (8192, 4096, 1.619),
    (10240, 2560, 0.9256),
    (10752, 2688, 0.9296),
]
"""NVIDIA's MLPerf Training v3.1 GPT-3 175B submissions on Eos (DGX H100, NDR InfiniBand;
mlcommons/training_results_v3.1 at f33f944, NVIDIA/results/eos*_ngc23.09_nemo/gpt3): each
row's step time is the median of ``train_step_timing`` in its result_0 log (results 1 and 2
agree within 0.1%), its global batch the log's ``global_batch_size``. The plan from
NVIDIA/benchmarks/gpt3/implementations/pytorch (config_DGXH100_*.sh, config_common.sh,
config_fp8.sh, conf/custom.yaml, conf/optim/distributed_fused_adam.yaml): TP 4, PP 8, 12
virtual stages, micro-batch 1, sequence parallelism, Userbuffers TP overlap, FP8 (hybrid),
the distributed optimizer (ZeRO-1) with bf16 gradient reduction in buckets of 100 MiB
(``bucket_cap_mb``) overlapped with backward and the parameter gather with the next forward,
no dropout, no recomputation; GPT-3 175B (96
layers, hidden 12,288, 96 heads), its SentencePiece vocabulary of 50,257 taken padded to
50,688 (a multiple of 128 x TP; not stated in the logs)."""


def mlperf_gpt3_step(gpus: int, global_batch: int, overlap_param_gather: bool = True) -> TrainingStepResult:
    """One row of :data:`MLPERF_GPT3_ROWS` as the model runs it: its plan on ``gpus / 8``
    ``dgx_h100_cluster`` nodes, flow fidelity."""
    model = Transformer(layers=96, hidden=12288, heads=96, seq_len=2048, vocab=50688, name="gpt3_175b_mlperf")
    plan = Parallelism(
        tp=4,
        pp=8,
        dp=gpus // 32,
        virtual_stages=12,
        microbatch_size=1,
        global_batch=global_batch,
        zero=1,
        grad_bytes_per_param=2,
        bucket_bytes=100 << 20,
        tp_overlap=True,
        overlap_param_gather=overlap_param_gather,
        precision="fp8",
    )
    fab = Fabric.preset("dgx_h100_cluster", nodes=gpus // 8)
    return fab.run(training_step(model, plan, "h100_sxm", check_memory=False), fidelity="flow")


def mlperf_gpt3_check_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's MLPerf check: the rows above on ``dgx_h100_cluster`` (GPUs / 8
    nodes, 400 Gb/s per GPU), flow fidelity; beside each, our step with the parameter gather
    after the optimizer (``overlap_param_gather=False``) for scale."""
    lines = [
        "| H100 GPUs | global batch | micro-batches per replica | published step (s) | fabricsim (s) | error "
        "| where our step goes | without the gather's overlap (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for gpus, gbs, published in MLPERF_GPT3_ROWS:
        res = {overlap: mlperf_gpt3_step(gpus, gbs, overlap) for overlap in (True, False)}
        ours = res[True].step_time_s
        err = ours / published - 1
        errors.append(err)
        parts = sorted(res[True].breakdown.items(), key=lambda kv: -kv[1])[:4]
        where = ", ".join(f"{k[:-2]} {v / ours:.0%}" for k, v in parts if v > 0)
        lines.append(
            f"| {gpus:,} | {gbs:,} | {gbs // (gpus // 32)} | {published} | {ours:.3f} | {err:+.1%} | {where} "
            f"| {res[False].step_time_s:.3f} ({res[False].step_time_s / published - 1:+.1%}) |"
        )
        log(f"mlperf gpt3 on {gpus}: {err:+.1%}")
    lines.append(f"\nFrom {min(errors):+.0%} to {max(errors):+.0%}.")
    return "\n".join(lines)


REUSE_CASES: list[tuple[str, str, Parallelism, dict[int, float] | None]] = [
    (
        "tp 2, pp 2, dp 2, 1 MiB buckets",
        "dgx8_nvswitch",
        Parallelism(tp=2, pp=2, dp=2, global_batch=8, bucket_bytes=1 << 20),
        None,
    ),
    (
        "tp 2, pp 2x2 interleaved, dp 2",
        "dgx8_nvswitch",
        Parallelism(tp=2, pp=2, dp=2, virtual_stages=2, global_batch=8, zero=0),
        None,
    ),
    (
        "pp 2, dp 4, a GPU at 0.7",
        "dgx8_nvswitch",
        Parallelism(tp=1, pp=2, dp=4, global_batch=8, bucket_bytes=1 << 20),
        {3: 0.7},
    ),
    (
        "pp 4, dp 2, plain data parallel",
        "dgx8_nvswitch",
        Parallelism(tp=1, pp=4, dp=2, global_batch=16, zero=0),
        None,
    ),
    (
        "tp 4, pp 2, dp 4 (4 nodes)",
        "dgx_h100_cluster",
        Parallelism(tp=4, pp=2, dp=4, global_batch=16, bucket_bytes=2 << 20),
        None,
    ),
    ("tp 8, pp 4 (4 nodes)", "dgx_h100_cluster", Parallelism(tp=8, pp=4, dp=1, global_batch=8), None),
    ("tp 4, dp 8 (4 nodes)", "dgx_h100_cluster", Parallelism(tp=4, pp=1, dp=8, global_batch=16), None),
    (
        "tp 2, cp 2, pp 2: context parallelism",
        "dgx8_nvswitch",
        Parallelism(tp=2, cp=2, pp=2, global_batch=4),
        None,
    ),
    (
        "tp 4, cp 2, dp 4 (4 nodes)",
        "dgx_h100_cluster",
        Parallelism(tp=4, cp=2, dp=4, global_batch=8),
        None,
    ),
    (
        "tp 4, pp 2, tp_overlap",
        "dgx8_nvswitch",
        Parallelism(tp=4, pp=2, global_batch=4, tp_overlap=True),
        None,
    ),
    (
        "tp 8, pp 2, dp 2, tp_overlap (4 nodes)",
        "dgx_h100_cluster",
        Parallelism(tp=8, pp=2, dp=2, global_batch=8, tp_overlap=True, bucket_bytes=2 << 20),
        None,
    ),
    (
        "tp 2, dp 4, ZeRO-3, 1 MiB buckets",
        "dgx8_nvswitch",
        Parallelism(tp=2, dp=4, zero=3, global_batch=8, bucket_bytes=1 << 20),
        None,
    ),
    (
        "tp 8, dp 4, ZeRO-3 (4 nodes)",
        "dgx_h100_cluster",
        Parallelism(tp=8, dp=4, zero=3, global_batch=8),
        None,
    ),
]
"""Plans the reduced step is checked on against the unreduced run (docs/fidelity.md)."""


def reuse_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The reduced step (each distinct call run once, identical replicas executed once)
    against the unreduced one (every call of every GPU in one schedule on the fabric), flow
    fidelity, an 8-layer model of hidden 512 and 256-token sequences."""
    from fabricsim.run_options import RunOptions
    from fabricsim.workload.unreduced import step_time_s

    model = Transformer(layers=8, hidden=512, heads=8, seq_len=256, vocab=8000, name="small")
    lines = ["| plan | fabric | reduced (ms) | unreduced (ms) | error |", "|---|---|---|---|---|"]
    for name, fabric, plan, speed in REUSE_CASES:
        fab = Fabric.preset(fabric)
        step = training_step(model, plan, "h100_sxm", gpu_speed=speed)
        reduced = fab.run(step, fidelity="flow").step_time_s
        whole = step_time_s(step, fab, RunOptions(fidelity="flow"))
        lines.append(
            f"| {name} | {fabric} | {reduced * 1e3:.3f} | {whole * 1e3:.3f} | {reduced / whole - 1:+.2%} |"
        )
        log(f"reuse {name}: {reduced / whole - 1:+.2%}")
    return "\n".join(lines)


def plans_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The step run whole against the reduced step on every small plan of the hypothesis test
    in tests/test_training.py (tensor and pipeline shapes of one 8-GPU node, interleaving,
    microbatches, ZeRO 0-3, no straggler or one at 80% at every position): the largest
    difference of the step and of any part of its breakdown, as a share of the step, apart
    and for ZeRO-3 with interleaving (about 5 minutes)."""
    import itertools

    from fabricsim.run_options import RunOptions
    from fabricsim.workload.whole_step import run_whole

    model = Transformer(layers=4, hidden=512, heads=8, seq_len=256, vocab=8000, name="tiny")
    fab = Fabric.preset("dgx8_nvswitch")
    worst: dict[bool, list[float]] = {False: [0.0, 0.0, 0], True: [0.0, 0.0, 0]}
    shapes = [(1, 2), (1, 4), (2, 2), (2, 1), (4, 1), (4, 2), (1, 1)]
    for (tp, pp), v, per_stage, zero, straggler in itertools.product(
        shapes, [1, 2], [1, 2], [0, 1, 2, 3], [None, *range(8)]
    ):
        dp = 8 // (tp * pp)
        if (v > 1 and (pp == 1 or model.layers % (pp * v))) or (zero and dp == 1):
            continue
        plan = Parallelism(
            tp=tp,
            pp=pp,
            dp=dp,
            virtual_stages=v,
            global_batch=pp * per_stage * dp,
            zero=zero,
            bucket_bytes=1 << 20,
        )
        speed = {straggler: 0.8} if straggler is not None else None
        step = training_step(model, plan, "h100_sxm", gpu_speed=speed)
        reduced = fab.run(step, fidelity="flow")
        whole = run_whole(step, fab, RunOptions(fidelity="flow"))
        t = reduced.step_time_s
        part = max(abs(whole.breakdown[k] - reduced.breakdown[k]) for k in reduced.breakdown) / t
        w = worst[zero == 3 and v > 1]
        w[0], w[1], w[2] = max(w[0], abs(whole.step_time_s / t - 1)), max(w[1], part), w[2] + 1
        log(f"plans tp {tp} pp {pp}x{v} dp {dp} ZeRO {zero} straggler {straggler}: part {part:.2%}")
    lines = ["| plans | count | step | any part of the breakdown |", "|---|---|---|---|"]
    for both, name in ((False, "all but ZeRO-3 with interleaving"), (True, "ZeRO-3 with interleaving")):
        step_e, part_e, count = worst[both]
        lines.append(f"| {name} | {int(count)} | {step_e:.2%} | {part_e:.2%} |")
    return "\n".join(lines)


__all__ = [
    "MEGATRON_2022",
    "MLPERF_GPT3_ROWS",
    "MPT_A100_ROWS",
    "MPT_ROWS",
    "MPT_SYSTEMS",
    "NEMO_H100_FP8_ROWS",
    "PUBLISHED",
    "REUSE_CASES",
    "RUNS",
    "TORCHTITAN_A100_ROWS",
    "Run",
    "build",
    "gpus_fabric",
    "llama3_run",
    "megatron_2022_run",
    "mlperf_gpt3_check_table",
    "mlperf_gpt3_step",
    "mpt_check_table",
    "mt_nlg_run",
    "nemo_fp8_check_table",
    "plans_table",
    "reuse_table",
    "simulate",
    "torchtitan_check_table",
    "training_table",
]
