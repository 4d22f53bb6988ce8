"""GPUs as the training-step model sees them: peak FLOP/s per data type, the fraction of it a
real matrix multiply reaches, HBM bandwidth and capacity, NVLink ports; and the time of one
kernel from its FLOPs and bytes (a tiled GEMM's waves, or a roofline).

A GEMM ``(M, N, K)`` runs as a library's tiled kernel does:

- the output is cut into ``tile_m x tile_n`` tiles (a dimension smaller than its tile takes a
  tile of the next power of two, at least 16, as the library's skinny kernels do) and one wave
  runs one tile per SM; each wave costs its main loop, ``K`` steps of one tile's multiply-adds
  at the SM's share of ``peak x`` the main loop's efficiency, so ``M x N`` useful outputs cost
  ``waves x sms x tile_m x tile_n`` (tile and wave quantization: NVIDIA's Matrix
  Multiplication Background guide, Anthony et al., arXiv 2401.14489);
- when the tiles do not fill the SMs the library splits ``K`` (split-k): ``s`` slices of
  ``K / s`` run as ``s`` times the tiles, their fp32 partial sums written and read back once
  through HBM; the model takes the split with the shortest time, as the library's heuristics
  aim to;
- around the main loop, ``kernel_fixed_us`` (the launch's ramp and the prologue's first loads)
  and the last wave's output, written after its main loop ends; the operands and the other
  waves' outputs stream through HBM beside the main loops (the kernel takes the longer of the
  two);
- the main loop's efficiency comes from the best GEMM measured on the part (the Maximum
  Achievable Matmul FLOPS table of stas00/ml-engineering, compute/accelerator/README.md at
  744d01e, 2026-08: A100 SXM 271.2 of 312 bf16 TFLOP/s at 1024 x 10240 x 5120, H100 SXM 794.5
  of 989 at 2048 x 2048 x 13312, "H200 is the same"): ``matmul_efficiency`` is that figure's
  share of peak and ``matmul_best_shape`` its shape, and the main loop runs at the efficiency
  that gives back that measurement at that shape through this model with its tiles taken to
  fill the SMs (a sweep's best shape is one the library's tiles fill; our 128 x 256 tiles
  would leave 4 of H100's 132 SMs idle there): 0.84 of peak on H100, 0.89 on A100. The same
  table's best shapes of an earlier software land within 3% (+1.8%, +2.7%). Never fitted to
  end-to-end step times.

FP8 GEMMs (one-byte operands, a bf16 output) run on their own main loop, solved the same way on
the best FP8 GEMM measured (``fp8_matmul_efficiency`` at ``fp8_matmul_best_shape``): on H100
tilelang's FP8 benchmark on H800 (H100's SMs and clocks), 1,523 of 1,979 TFLOP/s at 8192 x 8192
x 16384, a main loop at 0.773 of the FP8 peak; the rest of its K sweep is the check
(python/fabricsim/analysis/gemm_validation.py). A100 has no FP8.

``kernel_fixed_us`` is 3.1 us on H100: XLA's smallest measured GEMMs (2-4 tiles with K = 256,
python/fabricsim/analysis/gemm_validation.py) take 5.8-5.9 us, 2.6-2.7 us of it main loop and
0.1 us their output. ``fabricsim validate --only gemm`` sets the model beside that table.

The memory roof is the bytes a kernel reads and writes over ``hbm_gbyte_per_s x
memory_efficiency``: elementwise kernels (norms, activations, residual adds) sit on it. The
efficiency comes from this project's cycle-level model of the GPU's HBM generation (a
read/write stream: about 0.84 of peak for HBM2E and HBM3, 0.78 for HBM3E), not an assumption.

Fused attention (FlashAttention) is its own kernel: its blocks of 128 queries in waves over the
SMs, each a main loop over the keys at ``attention_efficiency`` of the peak and
``attention_block_us`` outside it (loading the block's queries, writing its output). On H100
both come from FlashAttention-3 measured at kernel level over sequence lengths (the forward
pass, head dimension 128, 512 to 16,384 tokens: 430-621 TFLOP/s; pytorch/benchmark commit
ff65cb6): a main loop at 0.656 of peak and 2.92 us per block reproduce all six within 1%
(python/fabricsim/analysis/gemm_validation.py). The backward kernel (2.5 times the forward's
FLOPs) likewise from FlashAttention-3's backward measured over lengths (tritonbench pull 1256:
313-561 TFLOP/s at 1k-8k tokens): its main loop at 0.653 of peak, as the forward's, but 32.8 us
per block outside it, every point within 2.6%. On A100, FlashAttention-2's best, 73% of peak
(its abstract), forward and backward, with no per-block time (not measured)."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fabricsim.errors import SpecError


@dataclass(frozen=True)
class GpuSpec:
    """One GPU: see the module's text for how its fields become kernel times. Units in the
    names; ``peak_tflops`` is dense (no structured sparsity) per data type."""

    name: str
    peak_tflops: dict[str, float]
    """Dense peak per data type ("bf16", "fp16", "fp8", "tf32", "fp32"), TFLOP/s."""
    matmul_efficiency: float
    """The best GEMM's fraction of the bf16 peak, measured at kernel level (MAMF)."""
    sms: int
    """Streaming multiprocessors: one output tile each per wave."""
    hbm_gbyte_per_s: float
    """HBM bandwidth, the product sheet's figure (GB/s)."""
    memory_gib: float
    """HBM capacity (GiB) as the driver reports it."""
    hbm: str = ""
    """The HBM generation, an :class:`~fabricsim.HbmSpec` preset name."""
    hbm_stacks: int = 0
    nvlink_ports: int = 0
    """NVLink links per GPU."""
    nvlink_gbyte_per_s: float = 0.0
    """NVLink bandwidth per direction, all links (GB/s)."""
    attention_efficiency: float = 0.7
    """A fused attention kernel's (FlashAttention's) main loop as a fraction of the bf16 peak,
    measured at kernel level (each preset cites its kernel)."""
    attention_block_us: float = 0.0
    """A fused attention kernel's time per block of 128 queries outside its main loop,
    microseconds (each preset cites its measurement)."""
    attention_backward_efficiency: float | None = None
    attention_backward_block_us: float | None = None
    """The backward kernel's main loop (over 2.5 times the forward's FLOPs: it recomputes the
    scores) and its time per block; None: the forward's."""
    memory_efficiency: float | None = None
    """The fraction of ``hbm_gbyte_per_s`` elementwise kernels reach. None: measured on this
    project's cycle-level model of the GPU's ``hbm`` (:func:`hbm_stream_efficiency`: a stream
    of 64 B accesses, two reads to a write, as an elementwise kernel reads its inputs and
    writes its output; the DRAM model is validated against DRAMsim3 and Ramulator 2,
    docs/validation.md)."""
    tile_m: int = 128
    tile_n: int = 256
    """The output tile of the GEMM library's large kernels (128 x 256 on A100 and H100, the
    tile arXiv 2401.14489 measures wave quantization with)."""
    matmul_best_shape: tuple[int, int, int] | None = None
    """``(M, N, K)`` of the GEMM that measured ``matmul_efficiency``; the main loop's efficiency
    is solved so the model gives that measurement back there. None: ``matmul_efficiency`` is
    the main loop's efficiency itself."""
    kernel_fixed_us: float = 0.0
    """Time a GEMM or fused-attention kernel spends outside its main loop (launch ramp,
    prologue's first loads), microseconds."""
    fp8_matmul_efficiency: float | None = None
    """The best FP8 GEMM's (E4M3 operands, bf16 output) fraction of the fp8 peak, measured at
    kernel level; None: no FP8 measurement (a plan in FP8 is refused on this GPU)."""
    fp8_matmul_best_shape: tuple[int, int, int] | None = None
    """``(M, N, K)`` of that FP8 GEMM: the FP8 main loop is solved on it as the bf16 one is on
    ``matmul_best_shape``."""
    description: str = ""
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.peak_tflops, dict) or not self.peak_tflops:
            raise SpecError(
                f"gpu.peak_tflops: must map data types to TFLOP/s, got {self.peak_tflops!r}",
                path="gpu.peak_tflops",
            )
        for dtype, v in self.peak_tflops.items():
            _positive(f"gpu.peak_tflops[{dtype!r}]", v)
        for name in ("hbm_gbyte_per_s", "memory_gib"):
            _positive(f"gpu.{name}", getattr(self, name))
        if self.memory_efficiency is None:
            from fabricsim.specs import HbmSpec

            if self.hbm not in HbmSpec.presets():
                raise SpecError(
                    f"gpu.memory_efficiency: give it, or name the GPU's hbm as an HbmSpec preset "
                    f"({', '.join(HbmSpec.presets())}) to measure it; hbm is {self.hbm!r}",
                    path="gpu.memory_efficiency",
                )
        for name in (
            "matmul_efficiency",
            "fp8_matmul_efficiency",
            "attention_efficiency",
            "attention_backward_efficiency",
            "memory_efficiency",
        ):
            v = getattr(self, name)
            if v is None:
                continue
            _positive(f"gpu.{name}", v)
            if v > 1:
                raise SpecError(f"gpu.{name}: must be in (0, 1], got {v!r}", path=f"gpu.{name}")
        for name in ("sms", "tile_m", "tile_n"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"gpu.{name}: must be an integer >= 1, got {v!r}", path=f"gpu.{name}")
        for name in ("kernel_fixed_us", "attention_block_us"):
            _non_negative(f"gpu.{name}", getattr(self, name))
        if self.attention_backward_block_us is not None:
            _non_negative("gpu.attention_backward_block_us", self.attention_backward_block_us)
        for prefix, dtype in (("", "bf16"), ("fp8_", "fp8")):
            shape = getattr(self, f"{prefix}matmul_best_shape")
            if shape is None:
                continue
            field_name = f"gpu.{prefix}matmul_best_shape"
            if (
                not isinstance(shape, (tuple, list))
                or len(shape) != 3
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
            ):
                raise SpecError(
                    f"{field_name}: must be (M, N, K), three integers >= 1, got {shape!r}", path=field_name
                )
            object.__setattr__(self, f"{prefix}matmul_best_shape", tuple(shape))
            efficiency = getattr(self, f"{prefix}matmul_efficiency")
            if efficiency is None or dtype not in self.peak_tflops:
                raise SpecError(
                    f"{field_name}: needs {prefix}matmul_efficiency and a {dtype} peak in peak_tflops "
                    f"(it has {', '.join(self.peak_tflops)})",
                    path=field_name,
                )
            m, n, k = shape
            measured_s = 2.0 * m * n * k / (self.peak_flop_per_s(dtype) * efficiency)
            if self.kernel_fixed_us * 1e-6 >= measured_s:
                raise SpecError(
                    f"gpu.kernel_fixed_us: {self.kernel_fixed_us} us is longer than the whole "
                    f"best GEMM ({m} x {n} x {k}: {measured_s * 1e6:.3g} us at {prefix}matmul_efficiency); "
                    "it must leave time for the main loop",
                    path="gpu.kernel_fixed_us",
                )
        if self.fp8_matmul_efficiency is not None and "fp8" not in self.peak_tflops:
            raise SpecError(
                f"gpu.fp8_matmul_efficiency: needs an fp8 peak in peak_tflops (it has "
                f"{', '.join(self.peak_tflops)})",
                path="gpu.fp8_matmul_efficiency",
            )
        object.__setattr__(self, "sources", tuple(self.sources))

    @classmethod
    def preset(cls, name: str) -> GpuSpec:
        """A built-in GPU: ``a100_sxm_80gb``, ``h100_sxm``, ``h200_sxm`` (sources on each)."""
        if name not in _PRESETS:
            raise SpecError(f"gpu: unknown preset {name!r}; known: {', '.join(sorted(_PRESETS))}", path="gpu")
        return _PRESETS[name]

    @staticmethod
    def presets() -> list[str]:
        return sorted(_PRESETS)

    def replace(self, **changes: Any) -> GpuSpec:
        """This GPU with fields changed (checked again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d

    def peak_flop_per_s(self, dtype: str = "bf16") -> float:
        if dtype not in self.peak_tflops:
            raise SpecError(
                f"dtype: {self.name} has peaks for {', '.join(self.peak_tflops)}, got {dtype!r}",
                path="dtype",
            )
        return self.peak_tflops[dtype] * 1e12

    def _tile(self, m: int, n: int) -> tuple[int, int]:
        # a dimension smaller than the tile gets a smaller tile (the library's skinny
        # kernels): the next power of two, at least 16 (a tensor-core MMA's side)
        tm = min(self.tile_m, max(16, 1 << (m - 1).bit_length()))
        tn = min(self.tile_n, max(16, 1 << (n - 1).bit_length()))
        return tm, tn

    def shape_efficiency(self, m: int, n: int) -> float:
        """Useful outputs over the outputs the GPU's waves of tiles compute (<= 1)."""
        tm, tn = self._tile(m, n)
        tiles = math.ceil(m / tm) * math.ceil(n / tn)
        waves = math.ceil(tiles / self.sms)
        return (m * n) / (waves * self.sms * tm * tn)

    def mainloop_efficiency(self, dtype: str = "bf16") -> float:
        """The main loop's fraction of the ``dtype`` peak: ``matmul_efficiency`` (for "fp8",
        ``fp8_matmul_efficiency``), or when its best shape is given, the fraction with which
        this model gives back that measurement at that shape (solved once, by bisection: the
        model's time falls as the fraction grows). Data types other than "fp8" run at bf16's."""
        if dtype == "fp8":
            if self.fp8_matmul_efficiency is None:
                raise SpecError(
                    f"dtype: {self.name} has no FP8 GEMM measurement (gpu.fp8_matmul_efficiency) to "
                    "run FP8 GEMMs at; give it one, or run in bf16",
                    path="dtype",
                )
            return self._fp8_mainloop
        return self._mainloop

    @functools.cached_property
    def _mainloop(self) -> float:
        # cached_property writes the instance's __dict__ directly, which a frozen dataclass
        # allows; replace() builds a new instance, which solves again
        return self._solve_mainloop("", "bf16", 2)

    @functools.cached_property
    def _fp8_mainloop(self) -> float:
        return self._solve_mainloop("fp8_", "fp8", 1)

    def _solve_mainloop(self, prefix: str, dtype: str, operand_bytes: int) -> float:
        eff: float = getattr(self, f"{prefix}matmul_efficiency")
        shape = getattr(self, f"{prefix}matmul_best_shape")
        if shape is None:
            return eff
        m, n, k = shape
        target_s = 2.0 * m * n * k / (self.peak_flop_per_s(dtype) * eff)

        def time_s(mainloop: float) -> float:
            return self._gemm(m, n, k, 1, dtype, operand_bytes, mainloop, whole_waves=False)[0]

        lo, hi = 1e-3, 1.0
        if time_s(hi) > target_s:
            raise SpecError(
                f"gpu.{prefix}matmul_best_shape: {eff:.3f} of peak at {m} x {n} x {k} "
                f"needs a main loop faster than the peak with kernel_fixed_us = "
                f"{self.kernel_fixed_us}; lower kernel_fixed_us or {prefix}matmul_efficiency",
                path=f"gpu.{prefix}matmul_best_shape",
            )
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if time_s(mid) > target_s:
                lo = mid
            else:
                hi = mid
        return hi

    def gemm_s(
        self, m: int, n: int, k: int, batch: int = 1, dtype: str = "bf16", bytes_per_element: int = 2
    ) -> tuple[float, bool]:
        """Time of ``batch`` GEMMs ``(m x k) @ (k x n)`` (seconds) and whether the memory roof
        set it (the module's text: tiles in waves, split-k when the tiles do not fill the SMs,
        the fixed time and the last wave's output around the main loop). ``dtype`` "fp8":
        operands of ``bytes_per_element`` (1), a bf16 output, the FP8 main loop."""
        if m <= 0 or n <= 0 or k <= 0 or batch <= 0:
            return 0.0, False
        return self._gemm(m, n, k, batch, dtype, bytes_per_element, self.mainloop_efficiency(dtype))

    def _gemm(
        self,
        m: int,
        n: int,
        k: int,
        batch: int,
        dtype: str,
        bytes_per_element: int,
        mainloop: float,
        whole_waves: bool = True,
    ) -> tuple[float, bool]:
        tm, tn = self._tile(m, n)
        tiles = math.ceil(m / tm) * math.ceil(n / tn) * batch
        # one k step of one tile on one SM's share of the peak
        step_s = 2.0 * tm * tn / (self.peak_flop_per_s(dtype) * mainloop / self.sms)
        # FP8 GEMMs write bf16 (Transformer Engine's), the others their operands' type
        out_bytes = (2 if dtype == "fp8" else bytes_per_element) * float(m * n) * batch
        # the last wave's output is written after its main loop; the earlier waves' outputs
        # and the operands stream beside the main loops
        last_out = out_bytes * min(1.0, self.sms / tiles)
        streamed = bytes_per_element * float(m * k + k * n) * batch + out_bytes - last_out
        memory = self.memory_s(streamed)
        fixed = self.kernel_fixed_us * 1e-6 + self.memory_s(last_out)
        best, best_bound = math.inf, False
        for split in range(1, _MAX_SPLIT_K + 1):
            if split > 1 and tiles * (split - 1) >= self.sms:
                # a split only while it adds SMs; the set of splits does not depend on k, so
                # the time never falls as k grows (the partials' cost keeps slices deep)
                break
            waves = tiles * split / self.sms
            loop = (math.ceil(waves) if whole_waves else waves) * math.ceil(k / split) * step_s
            # split-k's partial sums: fp32, written and read back once
            partials = self.memory_s(8.0 * m * n * batch * split) if split > 1 else 0.0
            t = fixed + max(loop, memory) + partials
            if t < best:
                best, best_bound = t, memory > loop
        return best, best_bound

    def flash_attention_s(
        self,
        batch_heads: int,
        q_len: int,
        kv_len: int,
        head_dim: int,
        kv_heads: int | None = None,
        causal: bool = True,
        backward: bool = False,
    ) -> tuple[float, bool]:
        """A fused attention kernel's time (seconds) and whether the memory roof set it:
        ``QK^T`` and ``PV`` for ``batch_heads`` heads (half under a causal mask) at
        ``attention_efficiency`` of the peak, its blocks of 128 queries spread over the SMs in
        waves, each wave ``attention_block_us`` more; Q and O (``batch_heads``) and K and V
        (``kv_heads`` of them) through memory; ``kernel_fixed_us`` around it. ``backward``: the
        backward kernel, 2.5 times the FLOPs (FlashAttention's backward recomputes the scores:
        Dao et al.) at the backward's efficiency and time per block; twice the bytes (Q, K, V, O
        and the output's gradient in, the gradients of Q, K and V out)."""
        flops = 4.0 * batch_heads * q_len * kv_len * head_dim * (0.5 if causal else 1.0)
        main, block_us = self.attention_efficiency, self.attention_block_us
        if backward:
            flops *= 2.5
            if self.attention_backward_efficiency is not None:
                main = self.attention_backward_efficiency
            if self.attention_backward_block_us is not None:
                block_us = self.attention_backward_block_us
        blocks = math.ceil(q_len / 128) * batch_heads
        waves = math.ceil(blocks / self.sms)
        eff = blocks / (waves * self.sms)
        compute = flops / (self.peak_flop_per_s("bf16") * main * eff)
        compute += waves * block_us * 1e-6
        kv = kv_heads if kv_heads is not None else batch_heads
        moved = 2.0 * head_dim * (2 * batch_heads * q_len + 2 * kv * kv_len) * (2.0 if backward else 1.0)
        memory = self.memory_s(moved)
        return self.kernel_fixed_us * 1e-6 + max(compute, memory), memory > compute

    def memory_s(self, nbytes: float) -> float:
        """Time to move ``nbytes`` through HBM at the streaming rate (seconds)."""
        return nbytes / (self.hbm_gbyte_per_s * 1e9 * self.memory_fraction())

    def memory_fraction(self) -> float:
        """``memory_efficiency``, or when None, the GPU's HBM model's (measured once, on
        first use: :func:`hbm_stream_efficiency`)."""
        if self.memory_efficiency is not None:
            return self.memory_efficiency
        return hbm_stream_efficiency(self.hbm)


@functools.cache
def hbm_stream_efficiency(hbm: str, read_ratio: float = 2 / 3) -> float:
    """The fraction of its peak an HBM preset's cycle-level model reaches on a stream of 64 B
    accesses, ``read_ratio`` of them reads (an elementwise kernel's mix): 100,000 requests,
    tens of milliseconds, once per preset."""
    from fabricsim.memory.stack import run_memory
    from fabricsim.specs import HbmSpec
    from fabricsim.traffic.stack_requests import memory

    res = run_memory(HbmSpec.preset(hbm), memory("stream", 100_000, bytes=64, read_ratio=read_ratio))
    return float(res.peak_fraction)


_MAX_SPLIT_K = 16
"""Split-k as the libraries bound it: up to 16 slices."""


def _non_negative(path: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise SpecError(f"{path}: must be a finite number >= 0, got {v!r}", path=path)


def _positive(path: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise SpecError(f"{path}: must be a finite number > 0, got {v!r}", path=path)


_MAMF = "https://github.com/stas00/ml-engineering/blob/744d01e/compute/accelerator/README.md (Maximum Achievable Matmul FLOPS comparison table, BF16)"

_XLA = "openxla/xla xla/service/gpu/model/matmul_interpolator_data.h, read at tensorflow/tensorflow third_party/xla 372d578b (measured H100 bf16 matmuls, transcribed in python/fabricsim/analysis/gemm_validation.py)"

_FA3 = "https://github.com/pytorch/benchmark/commit/ff65cb675209d2308f7d27c6920af8a32de9aa90 (FlashAttention-3 on H100, forward, head dimension 128, not causal: 430.32-620.73 TFLOP/s at 512-16,384 tokens; Shah et al., arXiv 2407.08608, is the kernel)"

_FA3_MAINLOOP = 0.656
_FA3_BLOCK_US = 2.92
"""The least-squares fit of the model to the six FlashAttention-3 measurements (relative
errors; tests/test_gemm_validation.py): every point within 1%."""

_FA3_BWD = "https://github.com/meta-pytorch/tritonbench/pull/1256 (FlashAttention-3's backward on H100, bf16, head dimension 128, 4 x 48 heads: 313.3-561.4 TFLOP/s at 1,024-8,192 tokens, counted as 2.5 x the forward's FLOPs)"

_FA3_BWD_MAINLOOP = 0.653
_FA3_BWD_BLOCK_US = 32.8
"""The same fit to the four backward measurements: every point within 2.6%."""

_FP8 = "https://github.com/tile-ai/tilelang/blob/128a7967032a49190f8843934b5d8e3771ff9d42/benchmark/matmul_fp8/README.md (FP8 E4M3 GEMMs of 8192 x 8192 x K on H800 SXM, H100 SXM's SMs and clocks: 376-1,523 TFLOP/s at K = 256-16,384; the table prints them in PFLOP/s under a TFLOPs heading)"

_FP8_BEST_TFLOPS = 1523.0
_FP8_BEST_SHAPE = (8192, 8192, 16384)
"""The best of that sweep (the FP8 main loop is solved on it; the others are a check:
python/fabricsim/analysis/gemm_validation.py)."""

_KERNEL_FIXED_US = 3.1
"""Measured on H100 (the module's text); A100's and H200's carry it over, not measured."""

_PRESETS: dict[str, GpuSpec] = {
    "a100_sxm_80gb": GpuSpec(
        name="a100_sxm_80gb",
        description="NVIDIA A100 SXM4 80 GB: 108 SMs, HBM2e (5 stacks), 12 NVLink-3 links",
        peak_tflops={"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
        matmul_efficiency=271.2 / 312.0,
        matmul_best_shape=(1024, 10240, 5120),
        kernel_fixed_us=_KERNEL_FIXED_US,
        sms=108,
        hbm="hbm2e",
        hbm_stacks=5,
        hbm_gbyte_per_s=2039.0,
        memory_gib=80.0,
        nvlink_ports=12,
        nvlink_gbyte_per_s=300.0,
        attention_efficiency=0.73,
        sources=(
            "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (312 TFLOPS bf16, 2,039 GB/s, 80 GB, 600 GB/s NVLink)",
            "https://images.nvidia.com/aem-dam/en-zz/Solutions/data-center/nvidia-ampere-architecture-whitepaper.pdf (108 SMs, 12 NVLink links)",
            _MAMF + ": A100 SXM 271.2 TFLOPS (86.9%) at 1024 x 10240 x 5120",
            "Dao, FlashAttention-2, arXiv 2307.08691, abstract: the kernel reaches 50-73% of the theoretical maximum FLOP/s on A100 (the best: 73%)",
        ),
    ),
    "h100_sxm": GpuSpec(
        name="h100_sxm",
        description="NVIDIA H100 SXM5 80 GB: 132 SMs, HBM3 (5 stacks), 18 NVLink-4 links",
        peak_tflops={"bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "tf32": 494.7, "fp32": 66.9},
        matmul_efficiency=794.5 / 989.4,
        matmul_best_shape=(2048, 2048, 13312),
        fp8_matmul_efficiency=_FP8_BEST_TFLOPS / 1978.9,
        fp8_matmul_best_shape=_FP8_BEST_SHAPE,
        kernel_fixed_us=_KERNEL_FIXED_US,
        sms=132,
        hbm="hbm3",
        hbm_stacks=5,
        hbm_gbyte_per_s=3350.0,
        memory_gib=80.0,
        nvlink_ports=18,
        nvlink_gbyte_per_s=450.0,
        attention_efficiency=_FA3_MAINLOOP,
        attention_block_us=_FA3_BLOCK_US,
        attention_backward_efficiency=_FA3_BWD_MAINLOOP,
        attention_backward_block_us=_FA3_BWD_BLOCK_US,
        sources=(
            "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet (H100 SXM: 989 TFLOPS bf16 dense, 3.35 TB/s, 80 GB, 900 GB/s NVLink)",
            "https://glennklockwood.com/garden/peak-FLOPS (132 SMs x 4 tensor cores x 1024 FLOP/clock x 1.83 GHz = 989.4 TFLOPS)",
            _MAMF + ": H100 SXM 794.5 TFLOPS (80.3%) at 2048 x 2048 x 13312",
            _XLA + ": the smallest GEMMs, 5.8-5.9 us (kernel_fixed_us)",
            _FA3 + " (attention_efficiency, attention_block_us)",
            _FA3_BWD + " (attention_backward_efficiency, attention_backward_block_us)",
            _FP8 + " (fp8_matmul_efficiency, fp8_matmul_best_shape)",
        ),
    ),
    "h200_sxm": GpuSpec(
        name="h200_sxm",
        description="NVIDIA H200 SXM 141 GB: H100's compute, HBM3e (6 stacks, 4.8 TB/s), 18 NVLink-4 links",
        peak_tflops={"bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "tf32": 494.7, "fp32": 66.9},
        matmul_efficiency=794.5 / 989.4,
        matmul_best_shape=(2048, 2048, 13312),
        fp8_matmul_efficiency=_FP8_BEST_TFLOPS / 1978.9,
        fp8_matmul_best_shape=_FP8_BEST_SHAPE,
        kernel_fixed_us=_KERNEL_FIXED_US,
        sms=132,
        hbm="hbm3e",
        hbm_stacks=6,
        hbm_gbyte_per_s=4800.0,
        memory_gib=140.4,
        nvlink_ports=18,
        nvlink_gbyte_per_s=450.0,
        attention_efficiency=_FA3_MAINLOOP,
        attention_block_us=_FA3_BLOCK_US,
        attention_backward_efficiency=_FA3_BWD_MAINLOOP,
        attention_backward_block_us=_FA3_BWD_BLOCK_US,
        sources=(
            "https://www.nvidia.com/en-us/data-center/h200/ (141 GB HBM3e, 4.8 TB/s, 989 TFLOPS bf16 dense)",
            _MAMF + ": H100 SXM 794.5 TFLOPS (80.3%) at 2048 x 2048 x 13312, 'H200 is the same'",
            _FA3 + " (H100's, the same SMs)",
            _FA3_BWD + " (H100's)",
            _FP8 + " (H100's)",
        ),
    ),
}

__all__ = ["GpuSpec", "hbm_stream_efficiency"]
