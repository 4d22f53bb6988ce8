"""The tables of docs/validation.md, reproduced: ``fabricsim validate`` prints them (each with
the command that made it). Every point is the defaults a user gets; nothing here is fitted.

- ``collectives``: all-reduce (and all-gather, reduce-scatter) on the H100- and A100-like presets against public nccl-tests
  figures, with the geometric-mean error per GPU count (about a second: flow fidelity at the
  measured sizes);
- ``noc``: the 8x8 mesh latency curve beside BookSim2's (shared/reference/noc_calibration.md);
- ``hbm``: HBM2 and HBM3 streaming and random reads beside DRAMsim3 and Ramulator 2
  (shared/reference/dram_calibration.md);
- ``fidelity``: the flow fidelity against the cycle engine on the same scenarios
  (docs/fidelity.md; about 5 minutes);
- ``gemm``: the GEMM model against XLA's measured matmul throughput on H100 (under a second);
- ``training``: training steps of published large-scale runs (MT-NLG 530B, Llama 3 405B)
  beside their published step time or MFU (about 3 minutes);
- ``fault_windows``: faults for part of a step on the reduced step's clock against the step
  run whole (docs/fidelity.md; about 5 minutes);
- ``plans``: the step run whole against the reduced step on every small plan of the
  hypothesis test (docs/fidelity.md; about 5 minutes);
- ``mlperf``: NVIDIA's MLPerf Training v3.1 GPT-3 175B steps on 512 to 10,752 H100s beside
  ours (docs/validation.md; about 10 minutes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fabricsim import topology
from fabricsim.collectives import api
from fabricsim.fabric import Fabric
from fabricsim.memory.stack import run_memory
from fabricsim.specs import HbmSpec, LinkSpec, RouterSpec
from fabricsim.traffic.stack_requests import memory
from fabricsim.traffic.synthetic import synthetic


@dataclass(frozen=True)
class Point:
    system: str
    gpus: int
    algorithm: str
    bytes: int
    measured: float
    unit: str  # "busbw" (GB/s) or "us"
    source: str
    fidelity: str = "cycle"
    collective: str = "all_reduce"


H100 = "8x H100 SXM (NVLink 4, NVSwitch gen 3)"
H100_PART = "2, 4 or 6 of 8 H100 SXM (HGX, NCCL 2.18.3)"
A100 = "8x A100 SXM (NVLink 3, NVSwitch gen 2)"
A100_HDR = "2 nodes x 8 A100 SXM (a 200 Gb/s HDR NIC per GPU)"
MIB = 1 << 20

GIB = 1 << 30

# Large-size points at the hardware's sizes (1 GiB; the figures are for 1-2 GiB), at flow
# fidelity: on every H100 row it gives the cycle engine's busbw at 256 MiB to 0.01 GB/s
# (ring 356.76, 356.23, 354.37 on 8, 4, 2 GPUs; NVLS 450.43 / 450.46 at flow, 436.26 / 436.28,
# 417.17 / 417.18, 391.13 / 391.15 on 8, 7, 6, 5), where the cycle engine at 1 GiB would take
# minutes a row.
POINTS = [
    Point(H100, 8, "ring", GIB, 367.5, "busbw", "nccl-tests#212, nccl#1455: 365-370 at 1-2 GiB", "flow"),
    Point(H100, 8, "nvls", GIB, 480.0, "busbw", "nccl-tests#212, nccl#1455: ~480 at large sizes", "flow"),
    *(
        Point(
            H100,
            8,
            "ring",
            GIB,
            370.0,
            "busbw",
            "nccl-tests#212 (NVIDIA): ~370 effective NVLink bandwidth, seen as busbw of non-allreduce operations",
            "flow",
            kind,
        )
        for kind in ("all_gather", "reduce_scatter", "broadcast")
    ),
    # the curve below the peak: NVIDIA's reply to the same issue says its user's largest size,
    # 256 MiB, is "too small to reach peak bandwidth"; that user saw an algbw of about 250 GB/s
    # (busbw 250 x 2 x 7/8 = 437.5) where the peak is ~275 (480)
    Point(
        H100,
        8,
        "nvls",
        256 * MIB,
        437.5,
        "busbw",
        "nccl-tests#212: algbw ~250 (busbw 437.5) at 256 MiB, its largest size, which NVIDIA's reply "
        "calls too small to reach the peak",
        "flow",
    ),
    Point(H100, 7, "nvls", GIB, 460.0, "busbw", "nccl#1455", "flow"),
    Point(H100, 6, "nvls", GIB, 440.0, "busbw", "nccl#1455", "flow"),
    Point(H100, 5, "nvls", GIB, 420.0, "busbw", "nccl#1455", "flow"),
    Point(H100, 4, "ring", GIB, 370.0, "busbw", "nccl#1455: ~370 on 2-4 GPUs", "flow"),
    Point(H100, 2, "ring", GIB, 370.0, "busbw", "nccl#1455: ~370 on 2-4 GPUs", "flow"),
    # waynehacking8/nccl-collectives-bench (2026): nccl-tests 2.18.3, NCCL 2.18.3, 2/4/6 GPUs of
    # one HGX H100 (NV18 between every pair), one process (-g N); the algorithm its NCCL log
    # names (ring on 2 and 4 GPUs, NVLS on 6; NVLS on 2 and 4 forced by NCCL_ALGO)
    *(
        Point(H100_PART, gpus, algorithm, size, busbw, "busbw", f"nccl-collectives-bench {where}", "flow")
        for gpus, algorithm, where, sizes in (
            (
                2,
                "ring",
                "results/scaling.txt (auto: ring)",
                ((256 * MIB, 300.56), (GIB, 326.71), (8 * GIB, 346.86)),
            ),
            (
                4,
                "ring",
                "results/scaling.txt (auto: ring)",
                ((256 * MIB, 338.74), (GIB, 354.46), (8 * GIB, 364.63)),
            ),
            (
                6,
                "nvls",
                "results/scaling.txt (auto: NVLS)",
                ((256 * MIB, 403.22), (GIB, 424.24), (8 * GIB, 442.96)),
            ),
            (
                4,
                "nvls",
                "results/algo_sweep.txt (NCCL_ALGO=NVLS)",
                ((256 * MIB, 359.34), (GIB, 371.38), (8 * GIB, 376.52)),
            ),
            (
                2,
                "nvls",
                "results/scaling_attributed/g2_NVLS.log (NCCL_ALGO=NVLS, NCCL 2.29.2)",
                ((8 * GIB, 206.99),),
            ),
        )
        for size, busbw in sizes
    ),
    Point(
        A100_HDR,
        16,
        "ring",
        GIB,
        192.0,
        "busbw",
        "NVIDIA's maintainer in nccl#812 (quoted in nccl#1576): 192 GB/s all-reduce busbw between "
        "DGX A100s, 8x 200 Gb/s IB each, beside 'only 60 GB/s from Ring' on 8x 100 Gb/s called low",
        "flow",
    ),
    # the two 8-GPU A100 points at their measured sizes, at flow fidelity (which gives the
    # cycle engine's busbw on this ring: 238.6 GB/s at 256 MiB and 239.3 at 512 MiB in both)
    Point(
        A100,
        8,
        "ring",
        4096 * MIB,
        232.54,
        "busbw",
        "nccl-tests#175: 232.54 on one node of 8x A100 (-e 4G); NVIDIA's reply in nccl-tests#149: "
        "12 x 20 = 240 effective, ~230 with the GPU's other limits, at 8 GiB",
        "flow",
    ),
    Point(
        A100,
        8,
        "ring",
        512 * MIB,
        200.0,
        "busbw",
        "nccl-tests#149: ~200 at 512 MiB, its sweep's largest (HPE Apollo 6500, 8x A100 80 GB); "
        "NVIDIA's reply: still rising there",
        "flow",
    ),
    Point(
        A100,
        2,
        "ring",
        4096 * MIB,
        208.0,
        "busbw",
        "nccl-tests#178: 208 (2x A100 SXM, 12 NVLinks between them; sizes to 12 GiB)",
        "flow",
    ),
    Point(A100, 2, "auto", 32, 10.14, "us", "nccl#583: 10.14 us at 32 B (2x A100 SXM4 40 GB)"),
]


CURVE_US = {
    1 << 10: 23.67,
    8 << 10: 24.73,
    64 << 10: 26.20,
    256 << 10: 27.69,
    1 << 20: 27.03,
    4 << 20: 43.41,
    16 << 20: 102.10,
    64 << 20: 325.86,
    256 << 20: 1181.43,
    1 << 30: 4511.11,
    8 << 30: 35168.9,
}
"""An all-reduce's time (us, out-of-place) over sizes on 4 H100s of an HGX H100, nccl-tests
2.18.3 with NCCL 2.18.3, one process driving the 4 GPUs (-g 4), no CUDA graph, NCCL's
automatic choices: waynehacking8/nccl-collectives-bench, results/all_reduce.txt (its
results/quiet/all_reduce.txt, rerun on an idle node, agrees within 2%)."""

CURVE_CYCLE_MAX_BYTES = 16 << 20
"""The curve's sizes up to this run on the cycle engine, larger ones at flow fidelity."""


def _size_label(nbytes: int) -> str:
    if nbytes >= GIB:
        return f"{nbytes >> 30} GiB"
    if nbytes >= MIB:
        return f"{nbytes // MIB} MiB"
    return f"{nbytes >> 10} KiB" if nbytes >= 1024 and nbytes % 1024 == 0 else f"{nbytes} B"


def curve_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The curve below the peak: :data:`CURVE_US` beside the defaults a user gets (the tuner's
    algorithm, protocol and chunks) on 4 GPUs of the H100 node whose switches reduce."""
    gpus = 4
    fab = _fabric(H100_PART, gpus, True)
    lines = [
        "| size | measured (us) | busbw (GB/s) | fabricsim (us) | busbw (GB/s) | ran | error (time) |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, us in CURVE_US.items():
        fidelity = "cycle" if size <= CURVE_CYCLE_MAX_BYTES else "flow"
        res = fab.run(api.all_reduce(bytes=size), fidelity=fidelity)
        busbw = size / (us * 1e3) * 2 * (gpus - 1) / gpus
        err = res.time_us / us - 1
        log(f"curve {size}: {res.time_us:.2f} us vs {us} ({100 * err:+.1f}%)")
        label = _size_label(size)
        lines.append(
            f"| {label} | {us:g} | {busbw:.1f} | {res.time_us:.2f} | {res.busbw_gbyte_per_s:.1f} | "
            f"{res.schedule.algorithm}/{res.protocol}, {res.chunks} chunks, {fidelity} | {100 * err:+.1f}% |"
        )
    return "\n".join(lines)


def _fabric(system: str, gpus: int, nvls: bool) -> Fabric:
    if system == A100_HDR:
        return Fabric.preset("dgx_a100_cluster", nodes=gpus // 8)
    nvls = nvls or system == H100_PART  # a part of the node whose switches reduce (it ran NVLS on some)
    base = Fabric.preset("dgx_a100" if system == A100 else ("dgx8_nvls" if nvls else "dgx8_nvswitch"))
    if gpus == 8:
        return base
    planes = int(base.topology.params["planes"])
    topo = topology.switch_star(gpus, planes=planes, reduction_ports=gpus if nvls else 0)
    return Fabric(topology=topo, link=base.link, router=base.router, endpoint=base.endpoint)


def _simulate(p: Point) -> tuple[float, str]:
    fab = _fabric(p.system, p.gpus, p.algorithm == "nvls")
    op = getattr(api, p.collective)(bytes=p.bytes, algorithm=p.algorithm)
    res = fab.run(op, fidelity=p.fidelity)
    ran = f"{res.schedule.algorithm}/{res.protocol}, {res.chunks} chunks" + (
        f", {p.fidelity}" if p.fidelity != "cycle" else ""
    )
    return (res.busbw_gbyte_per_s if p.unit == "busbw" else res.time_us), ran


def collectives_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The collectives section's three tables (Markdown): the points, the geometric-mean error
    per system and GPU count, and the curve over sizes (:func:`curve_table`)."""
    rows = []
    errors: dict[tuple[str, int], list[float]] = {}
    for p in POINTS:
        value, ran = _simulate(p)
        err = (value - p.measured) / p.measured
        errors.setdefault((p.system, p.gpus), []).append(abs(err))
        rows.append((p, value, ran, err))
        log(f"{p.system} {p.gpus} {p.algorithm} {p.bytes}: {value:.2f} vs {p.measured} ({100 * err:+.1f}%)")
    lines = [
        "| system | GPUs | collective | size | measured | fabricsim (ran) | error | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p, value, ran, err in rows:
        size = _size_label(p.bytes)
        unit = "GB/s busbw" if p.unit == "busbw" else "us"
        lines.append(
            f"| {p.system} | {p.gpus} | {p.collective.replace('_', '-')}, {p.algorithm} | {size} | {p.measured:g} {unit} | "
            f"{value:.1f} ({ran}) | {100 * err:+.1f}% | {p.source} |"
        )
    lines += ["", "| system | GPUs | points | geometric-mean error |", "|---|---|---|---|"]
    for (system, gpus), errs in sorted(errors.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        geo = math.exp(sum(math.log(max(e, 1e-4)) for e in errs) / len(errs))
        lines.append(f"| {system} | {gpus} | {len(errs)} | {100 * geo:.1f}% |")
    return "\n".join([*lines, "", curve_table(log)])


BOOKSIM_CURVE = {
    0.01: (33.23, 0.0098),
    0.05: (33.48, 0.0505),
    0.10: (34.09, 0.0999),
    0.15: (35.34, 0.1504),
    0.20: (37.07, 0.2002),
    0.25: (41.13, 0.2495),
    0.30: (101.06, 0.2967),
    0.3125: (431.10, 0.2959),
}
"""BookSim2's mean packet latency and accepted rate on the calibration mesh
(shared/reference/noc_calibration.md)."""


def noc_table(log: Callable[[str], None] = lambda s: None) -> str:
    """The `booksim_4stage` preset's curve on the 8x8 calibration mesh beside BookSim2's
    (Markdown; BookSim's uniform traffic, the source included)."""
    lines = [
        "| offered | BookSim latency | fabricsim latency | error | BookSim accepted | fabricsim accepted |",
        "|---|---|---|---|---|---|",
    ]
    fab = Fabric(
        topology=topology.mesh((8, 8)),
        link=LinkSpec.preset("noc").replace(vcs=2, credits_per_vc=8),
        router=RouterSpec.preset("booksim_4stage"),
    )
    for rate, (ref_latency, ref_accepted) in BOOKSIM_CURVE.items():
        shown = f"{rate:.2f}" if round(rate, 2) == rate else f"{rate:g}"
        load = synthetic(
            "uniform", rate=rate, warmup_cycles=3000, measure_cycles=5000, seed=0, include_self=True
        )
        r = fab.run(load)
        latency = float(r.packet_latency_cycles.mean())
        log(f"noc {rate}: {latency:.2f} cycles, {r.accepted_rate:.4f} accepted")
        lines.append(
            f"| {shown} | {ref_latency:.2f} | {latency:.2f} | {100 * (latency / ref_latency - 1):+.1f}% | "
            f"{ref_accepted:.4f} | {r.accepted_rate:.4f} |"
        )
    return "\n".join(lines)


def hbm_table(log: Callable[[str], None] = lambda s: None) -> str:
    """HBM2 and HBM3 against the DRAM references, both refresh modes (Markdown)."""
    lines = ["| preset, workload | all-bank refresh | per-bank refresh (default) |", "|---|---|---|"]
    cases: tuple[tuple[str, Literal["stream", "random"]], ...] = (
        ("hbm2", "stream"),
        ("hbm2", "random"),
        ("hbm3", "stream"),
        ("hbm3", "random"),
    )
    for preset, pattern in cases:
        hbm = HbmSpec.preset(preset)
        cells = []
        for mode in ("all_bank", "per_bank"):
            res = run_memory(hbm, memory(pattern, 200_000, bytes=64), refresh=mode)
            cells.append(
                f"{res.bandwidth_gbyte_per_s:.1f} GB/s ({100 * res.bandwidth_gbyte_per_s / float(hbm.resolved()['peak_gbyte_per_s']):.1f}%)"
            )
        log(f"hbm {preset} {pattern}: {cells}")
        lines.append(f"| {preset}, {pattern} 64 B reads | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fidelity_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/fidelity.md's cross-check (:mod:`fabricsim.analysis.fidelity`)."""
    from fabricsim.analysis.fidelity import fidelity_table as table

    return table(log)


def training_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's end-to-end section (:mod:`fabricsim.analysis.training_validation`)."""
    from fabricsim.analysis.training_validation import (
        mpt_check_table,
        nemo_fp8_check_table,
        reuse_table,
        torchtitan_check_table,
        training_table,
    )

    return (
        training_table(log)
        + "\n\nThe H100 check (MosaicML's MPT rows, docs/validation.md):\n\n"
        + mpt_check_table("h100_sxm", log)
        + "\n\nThe same check on A100 (the same software's MPT rows):\n\n"
        + mpt_check_table("a100_sxm_80gb", log)
        + "\n\nOn A100 with PyTorch's FSDP2 (torchtitan's rows, docs/validation.md):\n\n"
        + torchtitan_check_table(log)
        + "\n\nNVIDIA NeMo on H100 in FP8 (docs/validation.md):\n\n"
        + nemo_fp8_check_table(log)
        + "\n\nThe reduced step against the unreduced run (docs/fidelity.md):\n\n"
        + reuse_table(log)
    )


def gemm_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's GEMM check against XLA's H100 measurements
    (:mod:`fabricsim.analysis.gemm_validation`)."""
    from fabricsim.analysis.gemm_validation import gemm_table as table

    return table(log)


def plans_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/fidelity.md's agreement of the step run whole with the reduced step on every
    small plan (:func:`fabricsim.analysis.training_validation.plans_table`)."""
    from fabricsim.analysis.training_validation import plans_table as table

    return table(log)


def mlperf_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/validation.md's MLPerf Training GPT-3 check, 512 to 10,752 H100s
    (:func:`fabricsim.analysis.training_validation.mlperf_gpt3_check_table`)."""
    from fabricsim.analysis.training_validation import mlperf_gpt3_check_table as table

    return table(log)


def fault_window_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/fidelity.md's check of fault windows (:mod:`fabricsim.analysis.fault_window_check`)."""
    from fabricsim.analysis.fault_window_check import fault_window_table as table

    return table(log)


TABLES: dict[str, Callable[[Callable[[str], None]], str]] = {
    "noc": noc_table,
    "hbm": hbm_table,
    "fidelity": fidelity_table,
    "collectives": collectives_table,
    "gemm": gemm_table,
    "training": training_table,
    "fault_windows": fault_window_table,
    "plans": plans_table,
    "mlperf": mlperf_table,
}
"""The tables ``fabricsim validate`` reproduces, by section (fastest first)."""


__all__ = [
    "POINTS",
    "TABLES",
    "Point",
    "collectives_table",
    "fault_window_table",
    "fidelity_table",
    "gemm_table",
    "hbm_table",
    "mlperf_table",
    "noc_table",
    "plans_table",
    "training_table",
]
