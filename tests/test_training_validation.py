"""docs/validation.md's end-to-end rows: the published figures as transcribed, and the rows
that meet issue 23's goal (within 10%) kept there."""

from __future__ import annotations

import pytest

from fabricsim import Fabric
from fabricsim.analysis.training_validation import (
    MEGATRON_2022,
    MPT_SHAPES,
    MPT_SYSTEMS,
    NEMO_H100_FP8_ROWS,
    RUNS,
    TORCHTITAN_A100_ROWS,
    Run,
    build,
    nemo_fp8_check_table,
    simulate,
    torchtitan_check_table,
)
from fabricsim.workload import GpuSpec, Parallelism, Transformer, training_step

MEGATRON_ROWS = [r for r in RUNS if r.group == MEGATRON_2022]


def paper_model_flops(run: Run) -> float:
    """Korthikanti et al.'s model FLOPs of one iteration (arXiv 2205.05198, section 6.3):
    72 B s l h^2 (1 + s / 6h + V / 12 l h), recomputation not counted."""
    m, b = run.model, run.plan.global_batch
    s, h, layers, v = m.seq_len, m.hidden, m.layers, m.vocab
    return 72 * b * s * layers * h * h * (1 + s / (6 * h) + v / (12 * layers * h))


def test_the_megatron_times_give_the_mfu_megatron_lm_publishes() -> None:
    # Megatron-LM's README: 51.4, 56.0 and 56.3% MFU for 175B, 530B and 1T; the paper's Table 5
    # times (selective recomputation) on A100s of 312 dense BF16 TFLOP/s must give them back
    published = {"GPT-3 175B": 0.514, "530B": 0.560, "1T": 0.563}
    selective = [r for r in MEGATRON_ROWS if r.plan.recompute == "selective"]
    assert len(selective) == 3
    for run in selective:
        gpus = run.plan.tp * run.plan.pp * run.plan.dp
        mfu = paper_model_flops(run) / (gpus * 312e12 * run.measured)
        label = next(k for k in published if run.name.startswith(f"Megatron {k},"))
        assert mfu == pytest.approx(published[label], abs=0.0006)


MEGATRON_ERRORS = [-0.027, -0.079, -0.056, -0.102, -0.085, -0.105]
"""docs/validation.md's errors on the six Megatron-LM 2022 rows, in MEGATRON_ROWS' order (the
selective rows of 530B and 1T left the 10% goal on 2026-12-08, when sequence parallelism's
backward calls came to overlap their GEMMs as Megatron-LM's do; the full-recomputation rows
moved by 2-3 points with Megatron-LM's async all-reduce the same day)."""


@pytest.mark.parametrize(
    ("run", "error"),
    list(zip(MEGATRON_ROWS, MEGATRON_ERRORS, strict=True)),
    ids=[r.name for r in MEGATRON_ROWS],
)
def test_megatron_2022_benchmark_runs_as_documented(run: Run, error: float) -> None:
    # nothing here is fitted (docs/validation.md): a guard that the published comparison moves
    # only with its docs; the full-recompute rows and 175B's selective one within the 10% goal
    res = simulate(run)
    assert res.step_time_s / run.measured - 1 == pytest.approx(error, abs=0.001)
    assert abs(error) < 0.10 or run.plan.recompute == "selective"


# llm-foundry's published MFU beside each transcribed row (its README's MFU column), H100 then A100
MPT_PUBLISHED_MFU = {
    "h100_sxm": [42.57, 36.15, 43.92, 43.07, 38.11, 39.86, 39.79, 41.6, 46.44, 40.42],
    "a100_sxm_80gb": [53.33, 48.56, 51.37, 55.3, 56.07, 57.62, 59.57, 54.47, 54.84, 64.23],
}


@pytest.mark.parametrize("gpu", sorted(MPT_SYSTEMS))
def test_the_mpt_rows_give_back_the_mfu_llm_foundry_publishes(gpu: str) -> None:
    # the README's formula: (6 N + 12 layers d_model seq) FLOPs per token (attention counted in
    # full), over the GPU's dense bf16 peak; N from our model of MPT's shape (tied embeddings)
    rows, _, _ = MPT_SYSTEMS[gpu]
    peak = GpuSpec.preset(gpu).peak_flop_per_s("bf16")
    assert len(rows) == len(MPT_PUBLISHED_MFU[gpu])
    for (name, seq, _, _, _, _, tokens_per_s), mfu in zip(rows, MPT_PUBLISHED_MFU[gpu], strict=True):
        layers, hidden, heads = MPT_SHAPES[name]
        model = Transformer(
            layers=layers, hidden=hidden, heads=heads, seq_len=seq, vocab=50368, tied_embeddings=True
        )
        flops_per_token = 6 * model.num_params() + 12 * layers * hidden * seq
        assert 100 * flops_per_token * tokens_per_s / peak == pytest.approx(mfu, rel=0.01), (gpu, name, seq)


def test_bloom_runs_on_its_nodes_share_of_omni_path() -> None:
    # 48 nodes of 8 GPUs; each node's four 100 Gb/s links shared by its 8 GPUs: 50 Gb/s each,
    # the preset's lanes kept; the NVLink inside the nodes unchanged
    run = next(r for r in RUNS if r.name.startswith("BLOOM"))
    fab, step = build(run)
    preset = build(next(r for r in RUNS if r.fabric == "dgx_a100_cluster" and r.nic_gbit_per_s is None))[0]
    assert fab.num_ranks == 384 and step.plan.tp * step.plan.pp * step.plan.dp == 384
    net = fab.network_link
    assert net is not None and preset.network_link is not None
    assert net.lanes * net.gbps_per_lane == pytest.approx(50.0)
    assert net.lanes == preset.network_link.lanes and fab.link == preset.link


def test_the_torchtitan_rows_give_back_the_mfu_torchtitan_publishes() -> None:
    # torchtitan's train.py of April 2024: (6 N + 12 layers heads head_dim seq) FLOPs per token,
    # N every parameter (embeddings included), over the A100's 312 TFLOP/s
    peak = GpuSpec.preset("a100_sxm_80gb").peak_flop_per_s("bf16")
    assert len(TORCHTITAN_A100_ROWS) == 8
    for preset, _, _, tokens_per_s, mfu in TORCHTITAN_A100_ROWS:
        m = Transformer.preset(preset)
        flops_per_token = 6 * m.num_params() + 12 * m.layers * m.hidden * m.seq_len
        assert flops_per_token * tokens_per_s / peak == pytest.approx(mfu, rel=0.005), preset


def test_the_torchtitan_check_runs_its_rows_on_eight_a100_nodes() -> None:
    # a row's figure is its step's tokens over its time: Llama 2 13B, two 4,096-token
    # sequences per GPU, FSDP over all 64 GPUs of 8 nodes, eager elementwise kernels (and,
    # beside it, fused); every row optimistic (docs/validation.md)
    table = torchtitan_check_table()
    rows = {
        (cells[1].strip(), cells[4].strip()): cells
        for cells in (line.split("|") for line in table.splitlines() if line.startswith("| llama"))
    }
    assert len(rows) == len(TORCHTITAN_A100_ROWS)
    for kernels, column in (("eager", 6), ("fused", 8)):
        plan = Parallelism(
            dp=64, microbatch_size=2, global_batch=128, zero=3, zero3_copy_out=True, elementwise=kernels
        )
        step = training_step(Transformer.preset("llama2_13b"), plan, "a100_sxm_80gb", check_memory=False)
        res = Fabric.preset("dgx_a100_cluster", nodes=8).run(step, fidelity="flow")
        cell = rows["llama2_13b", "none"][column].split("(")[0]
        assert float(cell.replace(",", "")) == pytest.approx(2 * 4096 / res.step_time_s, abs=0.5)
    for cells in rows.values():
        eager, fused = float(cells[6].replace(",", "")), float(cells[8].split("(")[0].replace(",", ""))
        assert float(cells[5].replace(",", "")) < eager < fused


def test_the_nemo_gpt_rows_give_back_the_model_tflops_nemo_publishes() -> None:
    # Megatron's model FLOPs per token, forward and backward without recomputation,
    # 72 l h^2 (1 + s / 6h + V / 12 l h), times the published tokens/s: NeMo's "Model TFLOP /
    # sec / GPU" column (736, 750, 782, 842) within 0.5%
    published = [736, 750, 782, 842]
    gpt = [r for r in NEMO_H100_FP8_ROWS if r[0].startswith("GPT3")]
    assert len(gpt) == len(published)
    for (_, m, *_, tokens_per_s), tflops in zip(gpt, published, strict=True):
        s, h, layers, v = m.seq_len, m.hidden, m.layers, m.vocab
        per_token = 72 * layers * h * h * (1 + s / (6 * h) + v / (12 * layers * h))
        assert per_token * tokens_per_s / 1e12 == pytest.approx(tflops, rel=0.005)


def test_the_nemo_check_runs_each_row_in_fp8_and_in_bf16() -> None:
    table = nemo_fp8_check_table()
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| LLAMA2-7B")]
    assert len(rows) == 1
    for precision, column in (("fp8", 6), ("bf16", 8)):
        plan = Parallelism(dp=8, global_batch=128, zero=1, grad_bytes_per_param=2, precision=precision)
        step = training_step(Transformer.preset("llama2_7b"), plan, "h100_sxm", check_memory=False)
        res = Fabric.preset("dgx8_nvswitch").run(step, fidelity="flow")
        assert float(rows[0][column].replace(",", "")) == pytest.approx(
            128 * 4096 / res.step_time_s / 8, abs=0.5
        )
    # FP8 faster than bf16 on every row; every row optimistic (docs/validation.md)
    for line in table.splitlines():
        if line.startswith(("| GPT3", "| LLAMA")):
            cells = line.split("|")
            published, fp8, bf16 = (float(cells[i].replace(",", "")) for i in (5, 6, 8))
            assert bf16 < fp8 and published < fp8


def test_the_mlperf_rows_keep_their_logs_accumulation_and_the_first_runs_as_documented() -> None:
    # each row's micro-batches per replica (global batch over TP 4 x PP 8 = 32 GPUs per
    # replica, micro-batch 1) are its log's gradient_accumulation_steps: 128, 128, 16, 16, 16,
    # 8, 8 (mlcommons/training_results_v3.1); the 512-GPU row as docs/validation.md has it
    from fabricsim.analysis.training_validation import MLPERF_GPT3_ROWS, mlperf_gpt3_step

    assert [gbs // (gpus // 32) for gpus, gbs, _ in MLPERF_GPT3_ROWS] == [128, 128, 16, 16, 16, 8, 8]
    gpus, gbs, published = MLPERF_GPT3_ROWS[0]
    res = {o: mlperf_gpt3_step(gpus, gbs, o) for o in (True, False)}
    assert res[True].step_time_s / published - 1 == pytest.approx(-0.299, abs=0.001)
    assert res[False].step_time_s / published - 1 == pytest.approx(-0.290, abs=0.001)
