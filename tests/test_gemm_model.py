"""The GEMM kernel model (fabricsim.workload.gpu): tiles in waves, split-k, the fixed time and
the last wave's output around the main loop, and the main loop's rate from MAMF's best
measurement. Known answers computed by hand, and MAMF's published measurements."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.analysis.gemm_validation import MAMF_BF16

H100 = fs.GpuSpec.preset("h100_sxm")
A100 = fs.GpuSpec.preset("a100_sxm_80gb")
PEAK = 989.4e12


def _per_byte_s(gpu: fs.GpuSpec) -> float:
    return gpu.memory_s(1.0)


def _step_s(gpu: fs.GpuSpec) -> float:
    """One k step of one 128 x 256 tile on one SM."""
    return 2 * 128 * 256 / (gpu.peak_flop_per_s() * gpu.mainloop_efficiency() / gpu.sms)


def test_the_main_loop_gives_back_mamfs_best_measurement_with_its_tiles_filling_the_sms() -> None:
    # MAMF: 794.5 TFLOP/s at 2048 x 2048 x 13312. Its time is the fixed 3.1 us, the output
    # (all of it: 128 tiles, one wave) written after the loop, and the loop at the solved rate
    m, n, k = 2048, 2048, 13312
    measured_s = 2 * m * n * k / 794.5e12
    loop_s = measured_s - 3.1e-6 - 2 * m * n * _per_byte_s(H100)
    assert H100.mainloop_efficiency() == pytest.approx(2 * m * n * k / (PEAK * loop_s), rel=1e-9)
    assert 0.80 < H100.mainloop_efficiency() < 0.87
    # None: matmul_efficiency is the loop's own
    assert H100.replace(matmul_best_shape=None).mainloop_efficiency() == 794.5 / 989.4


def test_mamfs_four_published_measurements_land_within_3_percent() -> None:
    # stas00/ml-engineering's MAMF table: the best (solved on, with filled waves) and the
    # earlier software's best shape (not used by the model): an independent check
    for name, m, n, k, measured, _ in MAMF_BF16:
        gpu = fs.GpuSpec.preset(name)
        t, memory_bound = gpu.gemm_s(m, n, k)
        assert not memory_bound
        assert 2 * m * n * k / t / 1e12 == pytest.approx(measured, rel=0.03), (name, m, n, k)
    assert {row[0] for row in MAMF_BF16} == {"h100_sxm", "a100_sxm_80gb"} and len(MAMF_BF16) == 4


def test_a_big_aligned_gemm_costs_its_waves_the_fixed_time_and_the_last_waves_output() -> None:
    # 528 x 8 tiles: 32 whole waves of 132; no split (the tiles fill the SMs)
    m, n, k = 128 * 132 * 4, 256 * 8, 8192
    t, memory_bound = H100.gemm_s(m, n, k)
    assert not memory_bound
    last_wave_out = 2 * m * n / 32
    assert t == pytest.approx(3.1e-6 + last_wave_out * _per_byte_s(H100) + 32 * k * _step_s(H100), rel=1e-12)
    # one tile more than a wave: the second wave is almost empty
    assert H100.shape_efficiency(128 * 133, 256) == pytest.approx(133 / 264)
    # a skinny GEMM sits on the memory roof
    assert H100.gemm_s(8, 8192, 8192)[1]


def test_split_k_spreads_a_lone_tiles_long_k_over_the_sms() -> None:
    # one 128 x 256 tile, k = 16384: 16 slices of 1024 on 16 SMs (the most the model splits),
    # their fp32 partials written and read back: far under one SM's 16384 steps
    m, n, k = 128, 256, 16384
    t, _ = H100.gemm_s(m, n, k)
    split = 3.1e-6 + 2 * m * n * _per_byte_s(H100) + 1024 * _step_s(H100) + 8 * m * n * 16 * _per_byte_s(H100)
    assert t == pytest.approx(split, rel=1e-12)
    assert t < 16384 * _step_s(H100) / 8


def test_a_tiny_gemm_costs_about_the_fixed_time() -> None:
    t, _ = H100.gemm_s(16, 16, 16)
    assert 3.1e-6 < t < 3.2e-6
    assert H100.replace(kernel_fixed_us=0.0).gemm_s(16, 16, 16)[0] < 0.1e-6


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"kernel_fixed_us": -1.0}, r"gpu\.kernel_fixed_us: must be a finite number >= 0, got -1\.0"),
        ({"kernel_fixed_us": float("nan")}, r"gpu\.kernel_fixed_us: must be a finite number >= 0"),
        ({"attention_block_us": -0.5}, r"gpu\.attention_block_us: must be a finite number >= 0, got -0\.5"),
        (
            {"attention_backward_block_us": -1},
            r"gpu\.attention_backward_block_us: must be a finite number >= 0",
        ),
        ({"attention_backward_efficiency": 1.2}, r"gpu\.attention_backward_efficiency: must be in \(0, 1\]"),
        ({"kernel_fixed_us": 1e6}, r"gpu\.kernel_fixed_us: 1000000\.0 us is longer than the whole best GEMM"),
        ({"matmul_best_shape": (2048, 2048)}, r"gpu\.matmul_best_shape: must be \(M, N, K\)"),
        ({"matmul_best_shape": (2048, 0, 1)}, r"gpu\.matmul_best_shape: must be \(M, N, K\)"),
    ],
)
def test_bad_kernel_fields_name_the_field_and_the_value(changes: dict, match: str) -> None:
    with pytest.raises(fs.SpecError, match=match):
        H100.replace(**changes)


def test_a_best_measurement_the_model_cannot_reach_says_what_to_change() -> None:
    # more fixed time than the 141 us best GEMM is refused up front (above); 130 us leaves a
    # loop that would have to beat the peak, refused on first use
    gpu = H100.replace(kernel_fixed_us=130.0)
    with pytest.raises(fs.SpecError, match=r"gpu\.matmul_best_shape: .*faster than the peak"):
        gpu.gemm_s(1024, 1024, 1024)


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 1 << 15),
    n=st.integers(1, 1 << 15),
    k=st.integers(1, 1 << 15),
    more=st.integers(1, 1 << 12),
    batch=st.integers(1, 8),
    gpu=st.sampled_from(["h100_sxm", "a100_sxm_80gb"]),
)
def test_more_k_never_takes_less_time_and_no_gemm_beats_the_peak(
    m: int, n: int, k: int, more: int, batch: int, gpu: str
) -> None:
    spec = fs.GpuSpec.preset(gpu)
    t, _ = spec.gemm_s(m, n, k, batch)
    assert spec.gemm_s(m, n, k + more, batch)[0] >= t
    assert t >= 2 * m * n * k * batch / spec.peak_flop_per_s() + spec.kernel_fixed_us * 1e-6
