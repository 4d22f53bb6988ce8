"""The GEMM model (:meth:`fabricsim.workload.gpu.GpuSpec.gemm_s`) beside kernel-level
measurements: XLA's table of measured matmul throughput on H100 (openxla/xla,
``xla/service/gpu/model/matmul_interpolator_data.h``, read at tensorflow/tensorflow's
third_party/xla, commit 372d578b; its ``sm_90`` entries, bf16 x bf16 -> bf16). XLA's GPU cost
model interpolates in it; each entry is a batch of ``b`` GEMMs ``(m x k) @ (k x n)`` and its
FLOP/s. The entries below are those two pages of the file hold (149 of them, sizes 256-4096),
transcribed as TFLOP/s; none was left out for its error.

Beside it: the Maximum Achievable Matmul FLOPS table's best shapes (:data:`MAMF_BF16`; the
GEMM model's main loop is solved on the best one per GPU, the others are a check), and
FlashAttention-3 measured over sequence lengths on H100 (:data:`FA3_H100_FORWARD`,
:data:`FA3_H100_BACKWARD`; the fused attention model's H100 constants are fitted on them).

``fabricsim validate --only gemm`` prints the comparison by regime (docs/validation.md,
"GEMMs against kernel measurements")."""

from __future__ import annotations

import math
from collections.abc import Callable

from fabricsim.workload.gpu import GpuSpec

XLA_H100_BF16 = """
1 1024 2048 256 139.519
2 256 2048 2048 332.248
1 256 2048 256 41.838
4 512 256 256 42.367
1 4096 512 512 238.822
4 4096 256 2048 588.674
1 512 256 512 21.789
2 2048 256 512 139.230
2 1024 2048 1024 493.448
1 256 2048 4096 285.874
2 512 2048 2048 525.314
4 1024 2048 2048 712.739
1 4096 1024 512 343.707
1 2048 2048 2048 631.985
4 256 256 256 22.550
2 256 256 1024 36.954
1 256 512 4096 91.679
1 256 1024 256 22.672
1 4096 4096 256 392.163
2 256 1024 2048 216.132
2 2048 4096 1024 678.724
2 4096 512 256 211.034
2 4096 4096 2048 763.011
4 512 2048 1024 487.179
4 1024 512 2048 514.244
1 2048 512 2048 347.714
2 512 512 2048 216.480
4 4096 512 1024 588.997
2 1024 256 256 43.691
1 4096 4096 4096 783.329
1 512 4096 1024 373.346
2 256 512 2048 119.624
1 512 256 4096 91.057
2 2048 256 4096 378.628
1 256 1024 4096 172.295
1 4096 2048 512 447.020
1 2048 256 1024 135.848
2 512 1024 2048 349.525
4 1024 1024 2048 626.089
4 4096 1024 1024 673.839
4 1024 256 1024 218.240
2 512 256 1024 66.576
4 4096 4096 512 619.859
1 2048 1024 2048 523.266
4 256 2048 1024 358.871
2 4096 1024 4096 750.606
2 1024 256 4096 306.433
2 2048 256 256 78.766
1 512 256 256 11.460
4 512 256 512 77.853
1 1024 256 1024 68.339
1 4096 256 2048 304.694
1 1024 1024 2048 349.981
4 4096 512 512 441.506
2 4096 1024 256 301.613
1 256 512 256 11.460
2 4096 512 4096 729.692
2 1024 4096 1024 596.523
4 256 256 512 41.222
1 256 4096 2048 324.589
4 2048 2048 2048 725.746
1 1024 512 2048 220.029
2 4096 2048 4096 783.186
4 4096 1024 512 542.037
4 4096 4096 256 503.875
4 2048 512 2048 621.378
1 512 2048 1024 232.613
1 4096 512 1024 370.767
4 512 4096 1024 592.246
4 256 256 4096 171.634
1 1024 2048 2048 524.288
2 2048 2048 1024 600.191
4 2048 256 1024 368.224
4 4096 4096 4096 793.131
4 2048 1024 2048 710.617
2 4096 2048 256 394.468
1 4096 1024 1024 488.064
4 512 256 4096 293.052
2 1024 256 512 76.434
4 256 4096 1024 481.931
4 4096 2048 512 607.492
2 256 256 512 21.565
1 1024 2048 1024 373.346
4 4096 1024 256 393.312
1 4096 4096 512 543.117
4 4096 512 4096 728.586
2 4096 1024 512 445.536
2 2048 2048 2048 717.742
1 256 512 1024 39.108
1 512 2048 2048 342.392
4 4096 1024 4096 777.585
1 256 4096 512 138.084
2 4096 512 512 340.654
4 2048 256 256 136.123
1 256 1024 1024 72.472
4 1024 256 512 135.848
1 2048 256 512 77.314
1 1024 256 256 21.960
1 2048 256 4096 307.486
4 4096 2048 256 458.472
4 1024 256 4096 384.045
2 4096 4096 4096 807.671
2 512 256 4096 168.615
2 4096 2048 512 546.433
2 512 256 512 40.330
2 2048 1024 2048 629.391
2 256 4096 1024 358.392
1 512 1024 2048 216.480
1 512 256 1024 39.291
1 256 256 2048 31.127
2 2048 256 1024 217.181
1 4096 512 256 142.482
1 2048 4096 1024 594.212
4 4096 2048 4096 808.700
4 1024 4096 1024 674.885
1 4096 4096 2048 738.736
1 512 512 2048 114.716
4 2048 2048 1024 674.038
2 2048 512 2048 518.716
2 256 256 4096 91.305
2 512 4096 1024 486.737
2 4096 4096 256 464.020
1 4096 512 4096 649.965
1 4096 1024 256 216.480
1 1024 4096 1024 490.293
1 256 4096 256 78.034
2 256 256 256 11.555
4 512 2048 2048 629.391
2 1024 512 2048 347.714
4 2048 256 512 235.470
1 256 4096 4096 412.027
1 4096 1024 4096 738.474
4 256 2048 2048 478.495
1 1024 256 4096 169.681
4 1024 256 256 80.854
2 512 256 256 21.732
1 256 2048 512 78.215
2 1024 256 1024 136.400
2 4096 256 2048 508.400
1 2048 256 256 43.577
2 1024 1024 2048 519.218
4 256 512 2048 204.600
4 512 256 1024 132.365
1 4096 2048 256 304.004
4 512 1024 2048 518.215
4 2048 256 4096 561.874
2 256 2048 1024 226.337
2 4096 4096 512 607.674
2 4096 1024 1024 598.185
"""
"""``b m n k TFLOP/s`` per line (XLA's FLOP/s / 1e12, rounded to 0.001)."""


MAMF_BF16: tuple[tuple[str, int, int, int, float, str], ...] = (
    (
        "h100_sxm",
        2048,
        2048,
        13312,
        794.5,
        "the table's best: the main loop is solved on it, its tiles taken to fill the SMs",
    ),
    ("h100_sxm", 6144, 17920, 2816, 792.1, "an earlier software's best shape"),
    (
        "a100_sxm_80gb",
        1024,
        10240,
        5120,
        271.2,
        "the table's best: the main loop is solved on it, its tiles taken to fill the SMs",
    ),
    ("a100_sxm_80gb", 6912, 16384, 2048, 267.9, "an earlier software's best shape"),
)
"""The Maximum Achievable Matmul FLOPS measurements (stas00/ml-engineering,
compute/accelerator/README.md at 744d01e): GPU preset, ``m n k``, TFLOP/s, what it is."""


FA3_H100_FORWARD: tuple[tuple[int, float], ...] = (
    (512, 430.32),
    (1024, 517.099),
    (2048, 565.544),
    (4096, 590.233),
    (8192, 614.234),
    (16384, 620.73),
)
"""FlashAttention-3 on H100 (pytorch/benchmark commit ff65cb6, its message's table): the
forward pass, bf16, head dimension 128, no causal mask, ``16384 / seq`` sequences of 16 heads;
sequence length, TFLOP/s (``4 x batch x heads x seq^2 x 128`` over the kernel's time)."""


FA3_H100_BACKWARD: tuple[tuple[int, float], ...] = (
    (1024, 313.324),
    (2048, 434.825),
    (4096, 519.827),
    (8192, 561.410),
)
"""FlashAttention-3's backward on H100 (meta-pytorch/tritonbench pull request 1256, its
description's table, the ``flash_v3`` column): bf16, head dimension 128, 4 sequences of 48
heads; sequence length, TFLOP/s counted as 2.5 x the forward's FLOPs over the kernel's time."""


FP8_H800: tuple[tuple[int, float], ...] = (
    (256, 376.0),
    (512, 622.0),
    (1024, 927.0),
    (2048, 1174.0),
    (4096, 1378.0),
    (8192, 1461.0),
    (16384, 1523.0),
)
"""FP8 (E4M3) GEMMs of 8192 x 8192 x K on H800 SXM, H100 SXM's SMs and clocks (tile-ai/tilelang
benchmark/matmul_fp8/README.md at 128a796, its autotuned kernels; the table prints PFLOP/s
under a TFLOPs heading, its latencies in ms give these): K, TFLOP/s. The last is the FP8 main
loop's calibration (``GpuSpec.fp8_matmul_best_shape``), the others a check."""


def fp8_tflops(gpu: GpuSpec, k: int) -> float:
    """The GEMM model's FP8 throughput (TFLOP/s) on one of FP8_H800's shapes."""
    seconds, _ = gpu.gemm_s(8192, 8192, k, dtype="fp8", bytes_per_element=1)
    return 2.0 * 8192 * 8192 * k / seconds / 1e12


def attention_tflops(gpu: GpuSpec, seq: int, backward: bool = False) -> float:
    """The fused-attention model's throughput (TFLOP/s, the benchmarks' count) on one of
    FA3_H100_FORWARD's shapes, or with ``backward`` FA3_H100_BACKWARD's."""
    batch_heads = 4 * 48 if backward else 16384 // seq * 16
    seconds, _ = gpu.flash_attention_s(batch_heads, seq, seq, 128, causal=False, backward=backward)
    return 4.0 * batch_heads * seq * seq * 128 * (2.5 if backward else 1.0) / seconds / 1e12


def entries() -> list[tuple[int, int, int, int, float]]:
    """The table's entries as ``(b, m, n, k, tflops)``."""
    out = []
    for line in XLA_H100_BF16.split("\n"):
        if line.strip():
            b, m, n, k, t = line.split()
            out.append((int(b), int(m), int(n), int(k), float(t)))
    return out


def modelled_tflops(gpu: GpuSpec, b: int, m: int, n: int, k: int) -> float:
    """The GEMM model's throughput (TFLOP/s) for a batch of ``b`` GEMMs of ``(m, n, k)``."""
    seconds, _ = gpu.gemm_s(m, n, k, batch=b)
    return 2.0 * b * m * n * k / seconds / 1e12


REGIMES: tuple[tuple[str, Callable[[int, int, int, int, GpuSpec], bool]], ...] = (
    (
        "large: the output fills the SMs (b x m x n >= 132 tiles), k >= 1024",
        lambda b, m, n, k, g: _fills(b, m, n, g) and k >= 1024,
    ),
    ("short k: k <= 512", lambda b, m, n, k, g: k <= 512),
    (
        "few output tiles (fewer than the SMs), k >= 1024",
        lambda b, m, n, k, g: not _fills(b, m, n, g) and k >= 1024,
    ),
)


def _fills(b: int, m: int, n: int, g: GpuSpec) -> bool:
    return b * m * n >= g.sms * g.tile_m * g.tile_n


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(max(abs(v), 1e-6)) for v in values) / len(values)) if values else 0.0


def gemm_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The GEMM model against XLA's H100 measurements, by regime (Markdown)."""
    gpu = GpuSpec.preset("h100_sxm")
    rows = []
    for b, m, n, k, measured in entries():
        ours = modelled_tflops(gpu, b, m, n, k)
        rows.append((b, m, n, k, measured, ours, ours / measured - 1))
    lines = [
        "| regime | entries | geometric-mean error | from | to |",
        "|---|---|---|---|---|",
    ]
    for name, test in REGIMES:
        errs = [r[6] for r in rows if test(r[0], r[1], r[2], r[3], gpu)]
        lines.append(
            f"| {name} | {len(errs)} | {100 * _geomean(errs):.1f}% | {100 * min(errs):+.0f}% | {100 * max(errs):+.0f}% |"
        )
    errs = [r[6] for r in rows]
    lines.append(
        f"| all | {len(errs)} | {100 * _geomean(errs):.1f}% | {100 * min(errs):+.0f}% | {100 * max(errs):+.0f}% |"
    )
    lines += ["", "| b | m | n | k | measured TFLOP/s | fabricsim | error |", "|---|---|---|---|---|---|---|"]
    for b, m, n, k, measured, ours, err in sorted(rows, key=lambda r: -r[4])[:8]:
        lines.append(f"| {b} | {m} | {n} | {k} | {measured:.1f} | {ours:.1f} | {100 * err:+.1f}% |")
        log(f"gemm {b}x{m}x{n}x{k}: {ours:.1f} vs {measured:.1f}")
    lines += [
        "",
        "| GPU | m | n | k | MAMF measured TFLOP/s | fabricsim | error | what |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m, n, k, measured, what in MAMF_BF16:
        ours = modelled_tflops(GpuSpec.preset(name), 1, m, n, k)
        lines.append(
            f"| {name} | {m} | {n} | {k} | {measured:.1f} | {ours:.1f} | {100 * (ours / measured - 1):+.1f}% | {what} |"
        )
    lines += [
        "",
        "| FP8 GEMM, H100 | k | tilelang measured TFLOP/s (H800) | fabricsim | error |",
        "|---|---|---|---|---|",
    ]
    for k, measured in FP8_H800:
        ours = fp8_tflops(gpu, k)
        what = " (calibration)" if k == FP8_H800[-1][0] else ""
        lines.append(
            f"| 8192 x 8192{what} | {k} | {measured:.0f} | {ours:.0f} | {100 * (ours / measured - 1):+.1f}% |"
        )
        log(f"fp8 gemm k={k}: {ours:.0f} vs {measured:.0f}")
    lines += [
        "",
        "| fused attention, H100 | sequence | FlashAttention-3 measured TFLOP/s | fabricsim | error |",
        "|---|---|---|---|---|",
    ]
    for seq, measured in FA3_H100_FORWARD:
        ours = attention_tflops(gpu, seq)
        lines.append(
            f"| forward, head dim 128, {16384 // seq} x 16 heads | {seq} | {measured:.1f} | {ours:.1f} | {100 * (ours / measured - 1):+.1f}% |"
        )
    for seq, measured in FA3_H100_BACKWARD:
        ours = attention_tflops(gpu, seq, backward=True)
        lines.append(
            f"| backward, head dim 128, 4 x 48 heads | {seq} | {measured:.1f} | {ours:.1f} | {100 * (ours / measured - 1):+.1f}% |"
        )
    return "\n".join(lines)


__all__ = [
    "FA3_H100_BACKWARD",
    "FA3_H100_FORWARD",
    "FP8_H800",
    "MAMF_BF16",
    "XLA_H100_BF16",
    "attention_tflops",
    "entries",
    "fp8_tflops",
    "gemm_table",
    "modelled_tflops",
]
