"""fabricsim benchmarks: ``make bench`` (or ``python benches/bench.py --write BENCHMARKS.md``).

Each workload runs in a fresh subprocess (so peak memory is its own), ``--repeat`` times;
the table reports medians. Speeds are wall-clock figures of the engine's cycle loop
(``Result.wall_seconds``); ``py overhead`` is the rest of ``Fabric.run`` (building inputs,
converting results). Never asserted anywhere: these are measurements, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# numpy's OpenBLAS threads spin for a while after any BLAS call; on a 2-core machine they
# steal the engine's core. Nothing here needs BLAS threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import fabricsim as fs
from fabricsim.analysis.training_validation import build, llama3_run


def _p2p(link: fs.LinkSpec, **endpoint: float) -> fs.Fabric:
    return fs.Fabric(topology=fs.topology.point_to_point(), link=link, endpoint=fs.EndpointSpec(**endpoint))


def _pcie(**changes: object) -> fs.LinkSpec:
    return fs.LinkSpec.preset("pcie6_x16").replace(**changes)


def _light_load(engine: str) -> tuple[fs.Fabric, fs.traffic.MessageTraffic, dict[str, object]]:
    link = _pcie(credits_per_vc=64)
    wire_ns = link.message_flits(4096) * link.resolved()["cycle_ps"] / 1000
    return _p2p(link), fs.traffic.stream(0, 1, 20_000, 4096, interval_ns=100 * wire_ns), {"engine": engine}


def _uniform(
    topology: fs.topology.Topology, rate: float, cycles: int, vcs: int = 2
) -> tuple[fs.Fabric, fs.traffic.MessageTraffic, dict[str, object]]:
    fab = fs.Fabric(
        topology=topology,
        link=fs.LinkSpec.preset("noc").replace(vcs=vcs),
        router=fs.RouterSpec(pipeline_cycles=3),
    )
    n = topology.num_endpoints
    t = fs.traffic.synthetic("uniform", n, rate=rate, cycles=cycles, cycle_ps=1000.0, packet_bytes=16, seed=0)
    return fab, t, {}


def _mesh(
    dims: tuple[int, int], rate: float, cycles: int
) -> tuple[fs.Fabric, fs.traffic.MessageTraffic, dict[str, object]]:
    return _uniform(fs.topology.mesh(dims), rate, cycles)


WORKLOADS: dict[
    str, tuple[str, Callable[[], tuple[fs.Fabric, fs.traffic.MessageTraffic, dict[str, object]]]]
] = {
    "pcie6_saturated": (
        "PCIe 6 x16 preset (go-back-N, ACK per 8 flits), 64 credits/VC, 4000 x 1 MiB back to back (one saturated link, BER 0)",
        lambda: (_p2p(_pcie(credits_per_vc=64)), fs.traffic.stream(0, 1, 4000, 1 << 20), {}),
    ),
    "pcie6_saturated_ber_1e-6": (
        "same at BER 1e-6 (go-back-N replays ~0.2% of flits, FEC off to make errors count)",
        lambda: (
            _p2p(_pcie(credits_per_vc=64, ber=1e-6, fec_correctable_symbols=0)),
            fs.traffic.stream(0, 1, 4000, 1 << 20),
            {},
        ),
    ),
    "pcie6_saturated_no_retry": (
        "same at BER 0 with retry='none' (no sequence numbers, replay buffer or ACKs)",
        lambda: (_p2p(_pcie(credits_per_vc=64, retry="none")), fs.traffic.stream(0, 1, 4000, 1 << 20), {}),
    ),
    "pcie6_saturated_tick_all": (
        "same, engine='tick_all' (the debug mode; shows what idle skipping costs under load)",
        lambda: (
            _p2p(_pcie(credits_per_vc=64)),
            fs.traffic.stream(0, 1, 4000, 1 << 20),
            {"engine": "tick_all"},
        ),
    ),
    "pcie6_credit_limited": (
        "PCIe 6 x16 preset, 4 credits/VC (4 of 11 cycles busy), 1000 x 1 MiB",
        lambda: (_p2p(_pcie(credits_per_vc=4)), fs.traffic.stream(0, 1, 1000, 1 << 20), {}),
    ),
    "pcie6_paced_receiver": (
        "PCIe 6 x16 preset, receiver drains at 256 Gb/s (back-pressure), 1000 x 1 MiB",
        lambda: (_p2p(_pcie(), drain_gbps=256.0), fs.traffic.stream(0, 1, 1000, 1 << 20), {}),
    ),
    "nvlink4_saturated": (
        "NVLink-4-like preset (16 B flits, padded packets), 1000 x 1 MiB back to back",
        lambda: (_p2p(fs.LinkSpec.preset("nvlink4")), fs.traffic.stream(0, 1, 1000, 1 << 20), {}),
    ),
    "mesh8x8_uniform_0.1": (
        "8x8 mesh, noc link, 4-stage routers (pipeline 3), uniform random 1-flit packets at 0.1 flits/node/cycle, 6000 cycles",
        lambda: _mesh((8, 8), 0.1, 6000),
    ),
    "mesh8x8_uniform_0.3": (
        "same at 0.3 (near saturation)",
        lambda: _mesh((8, 8), 0.3, 6000),
    ),
    "mesh16x16_uniform_0.1": ("16x16 mesh at 0.1, 6000 cycles", lambda: _mesh((16, 16), 0.1, 6000)),
    "mesh32x32_uniform_0.05": ("32x32 mesh at 0.05, 6000 cycles", lambda: _mesh((32, 32), 0.05, 6000)),
    "fat_tree3_k8_uniform_0.3": (
        "three-level k=8 fat-tree (128 endpoints, 80 switches), d-mod-k, uniform at 0.3, 6000 cycles",
        lambda: _uniform(fs.topology.fat_tree(8, levels=3), 0.3, 6000),
    ),
    "dragonfly_p4_valiant_0.1": (
        "dragonfly p=4 a=8 h=4 (1056 endpoints, 264 routers), Valiant with 3 VCs, uniform at 0.1, 3000 cycles",
        lambda: _uniform(fs.topology.dragonfly(4, routing="valiant"), 0.1, 3000, vcs=3),
    ),
    "pcie6_light_load": (
        "PCIe 6 x16, 20000 x 4 KiB at 1% load (idle skipping at work)",
        lambda: _light_load("auto"),
    ),
    "pcie6_light_load_tick_all": (
        "same at 1% load, engine='tick_all'",
        lambda: _light_load("tick_all"),
    ),
}


def _hbm(preset: str, pattern: str, n: int, **kw: object) -> tuple[fs.HbmSpec, fs.traffic.MemoryTraffic]:
    return fs.HbmSpec.preset(preset), fs.traffic.memory(pattern, n, bytes=64, **kw)  # type: ignore[arg-type]


MEMORY_WORKLOADS: dict[str, tuple[str, Callable[[], tuple[fs.HbmSpec, fs.traffic.MemoryTraffic]]]] = {
    "hbm3_sequential_reads": (
        "HBM3 preset, 1,000,000 sequential 64 B reads all at time 0 (every pseudo-channel busy), FR-FCFS, open page",
        lambda: _hbm("hbm3", "stream", 1_000_000),
    ),
    "hbm3_random_reads": (
        "HBM3 preset, 1,000,000 random 64 B reads over the stack, all at time 0",
        lambda: _hbm("hbm3", "random", 1_000_000),
    ),
    "hbm3_random_mix": (
        "HBM3 preset, 1,000,000 random 64 B requests, 1/3 writes, all at time 0",
        lambda: _hbm("hbm3", "random", 1_000_000, read_ratio=2 / 3),
    ),
    "hbm2_random_reads": (
        "HBM2 preset (DRAMsim3 HBM2_8Gb_x128), 1,000,000 random 64 B reads, all at time 0",
        lambda: _hbm("hbm2", "random", 1_000_000),
    ),
    "hbm3_light_load": (
        "HBM3 preset, 100,000 random 64 B reads at 1% of peak (idle skipping at work)",
        lambda: _hbm("hbm3", "random", 100_000, rate_gbyte_per_s=8.19),
    ),
}


def _timed(
    run: Callable[[], Any], repeat: int, engine_seconds: Callable[[Any], float]
) -> tuple[Any, dict[str, float]]:
    """Runs ``run`` ``repeat`` times; the last result, and the medians of the engine's wall
    time and of the rest of the call (``py_overhead_s``) plus the process's peak RSS."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = run()
        samples.append((engine_seconds(res), time.perf_counter() - t0))
    engine_s = statistics.median(s[0] for s in samples)
    return res, {
        "engine_s": engine_s,
        "py_overhead_s": statistics.median(s[1] for s in samples) - engine_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


COLLECTIVE_WORKLOADS: dict[str, tuple[str, Callable[[], tuple[fs.Fabric, Any]]]] = {
    "dgx8_allreduce_ring_256MiB": (
        "256 MiB ring all-reduce (chunks=8) on the dgx8_nvswitch preset",
        lambda: (
            fs.Fabric.preset("dgx8_nvswitch"),
            fs.collectives.all_reduce(bytes=256 << 20, algorithm="ring", chunks=8),
        ),
    ),
    "tpu_v4_cube_allreduce_ring_64MiB": (
        "64 MiB ring all-reduce (chunks=4) on the tpu_v4_cube preset (4x4x4 torus, 64 chips)",
        lambda: (
            fs.Fabric.preset("tpu_v4_cube"),
            fs.collectives.all_reduce(bytes=64 << 20, algorithm="ring", chunks=4),
        ),
    ),
    "dgx8_nvls_allreduce_64MiB": (
        "64 MiB nvls all-reduce (in-network reduction, chunks=16) on the dgx8_nvls preset",
        lambda: (
            fs.Fabric.preset("dgx8_nvls"),
            fs.collectives.all_reduce(bytes=64 << 20, algorithm="nvls", chunks=16),
        ),
    ),
    "cluster4_allreduce_hier_64MiB": (
        "64 MiB hierarchical all-reduce (local=8, chunks=8) on the dgx8_cluster4 preset (32 GPUs, "
        "4 nodes, 400 Gb/s NICs on a rail-optimized fat-tree)",
        lambda: (
            fs.Fabric.preset("dgx8_cluster4"),
            fs.collectives.all_reduce(bytes=64 << 20, algorithm="hierarchical", local=8, chunks=8),
        ),
    ),
    "nvl72_alltoall_64MiB": (
        "64 MiB all-to-all (direct) on the nvl72 preset (72 GPUs, 18 switch planes)",
        lambda: (
            fs.Fabric.preset("nvl72"),
            fs.collectives.all_to_all(bytes=64 << 20, algorithm="direct"),
        ),
    ),
}


def _cluster(nodes: int) -> fs.Fabric:
    """``nodes`` nodes of dgx8_cluster4's GPUs, links and NICs (rails as one leaf each)."""
    base = fs.Fabric.preset("dgx8_cluster4")
    return fs.Fabric(
        topology=fs.topology.cluster(nodes, 8, 4), link=base.link, network_link=base.network_link
    )


FLOW_WORKLOADS: dict[str, tuple[str, str, Callable[[], tuple[fs.Fabric, Any]]]] = {
    "flow_dgx8_allreduce_ring_256MiB": (
        "dgx8_allreduce_ring_256MiB at fidelity flow",
        "dgx8_allreduce_ring_256MiB",
        COLLECTIVE_WORKLOADS["dgx8_allreduce_ring_256MiB"][1],
    ),
    "flow_nvl72_alltoall_64MiB": (
        "nvl72_alltoall_64MiB at fidelity flow",
        "nvl72_alltoall_64MiB",
        COLLECTIVE_WORKLOADS["nvl72_alltoall_64MiB"][1],
    ),
    "flow_cluster4_allreduce_hier_64MiB": (
        "cluster4_allreduce_hier_64MiB at fidelity flow",
        "cluster4_allreduce_hier_64MiB",
        COLLECTIVE_WORKLOADS["cluster4_allreduce_hier_64MiB"][1],
    ),
    **{
        f"flow_cluster{nodes}_allreduce_hier_1GiB": (
            f"1 GiB hierarchical all-reduce (chunks=1: its pieces already grow with the ranks) on {nodes} "
            f"nodes of dgx8_cluster4's GPUs and links ({8 * nodes} GPUs)",
            "",
            lambda nodes=nodes: (
                _cluster(nodes),
                fs.collectives.all_reduce(bytes=1 << 30, algorithm="hierarchical", chunks=1),
            ),
        )
        for nodes in (16, 32, 64, 128)
    },
    **{
        f"flow_cluster{nodes}_allreduce_hiertree_1GiB": (
            f"1 GiB hierarchical all-reduce with a double binary tree across nodes per rail "
            f"(hierarchical_tree, the tuner's chunks) on {nodes} nodes of dgx8_cluster4's GPUs and "
            f"links ({8 * nodes:,} GPUs)",
            "",
            lambda nodes=nodes: (
                _cluster(nodes),
                fs.collectives.all_reduce(bytes=1 << 30, algorithm="hierarchical_tree"),
            ),
        )
        for nodes in (16, 128, 512, 2048)
    },
}
"""Flow-fidelity workloads: (description, the cycle workload they repeat, builder). Their
time is the whole ``Fabric.run`` (schedule built and verified, engine, result)."""


def _training(model: str, gpu: str, fabric: str, nodes: int | None, **plan: Any) -> tuple[fs.Fabric, Any]:
    fab = fs.Fabric.preset(fabric, nodes=nodes) if nodes else fs.Fabric.preset(fabric)
    step = fs.workload.training_step(model, fs.workload.Parallelism(**plan), gpu, check_memory=False)
    return fab, step


def _gpt3_175b_1024() -> tuple[fs.Fabric, Any]:
    """GPT-3 175B on 1,024 A100s, the README's demo step."""
    return _training(
        "gpt3_175b",
        "a100_sxm_80gb",
        "dgx_a100_cluster",
        128,
        tp=8,
        pp=16,
        dp=8,
        global_batch=1536,
        recompute="full",
    )


def _nic_down(fab: fs.Fabric, step: Any) -> tuple[fs.Fabric, Any, list[Any]]:
    """GPU 8's NIC uplink down from 5 s to 7 s of the step: a fault for part of it, met on the
    reduced step's clock (docs/training.md)."""
    links = fab.link_directions()
    nic = fab.link_index(8, int(links["dst"][(links["src"] == 8) & (links["flit_rate"] < 1)][0]))
    return fab, step, [fs.faults.link_down(nic, at_ns=5e9, duration_ns=2e9)]


TRAINING_WORKLOADS: dict[str, tuple[str, str, Callable[[], tuple[Any, ...]]]] = {
    "train_llama3_8b_dgx8_cycle": (
        "Llama 3 8B, one step of 8 sequences on one dgx8_nvswitch node (tp 8), cycle fidelity",
        "cycle",
        lambda: _training("llama3_8b", "h100_sxm", "dgx8_nvswitch", None, tp=8, global_batch=8),
    ),
    "train_llama3_8b_dgx8_flow": (
        "the same at flow fidelity",
        "flow",
        lambda: _training("llama3_8b", "h100_sxm", "dgx8_nvswitch", None, tp=8, global_batch=8),
    ),
    "train_gpt3_175b_1024_a100": (
        "GPT-3 175B on 1,024 A100s (dgx_a100_cluster, 128 nodes), tp 8, pp 16, dp 8, 1,536 sequences, full recompute",
        "flow",
        lambda: _gpt3_175b_1024(),
    ),
    "train_gpt3_175b_1024_a100_nic_down": (
        "the same with GPU 8's NIC down from 5 s to 7 s (a fault window on the reduced step's clock)",
        "flow",
        lambda: _nic_down(*_gpt3_175b_1024()),
    ),
    "train_megatron_1t_3072_a100": (
        "1T-parameter GPT (megatron_1t) on 3,072 A100s (384 nodes), tp 8, pp 64, dp 6, 3,072 sequences, full recompute",
        "flow",
        lambda: _training(
            "megatron_1t",
            "a100_sxm_80gb",
            "dgx_a100_cluster",
            384,
            tp=8,
            pp=64,
            dp=6,
            global_batch=3072,
            recompute="full",
        ),
    ),
    **{
        f"train_llama3_405b_{128 * dp}_h100": (
            f"Llama 3 405B on {128 * dp:,} H100s (dgx_h100_cluster), the validation's plan "
            f"(tp 8, pp 16 x 8 virtual, dp {dp}, 2,048 sequences)",
            "flow",
            lambda dp=dp: build(llama3_run(dp, 2048 // dp, mfu=float("nan"))),
        )
        for dp in (8, 32, 64, 128)
    },
}
"""Training steps: (description, fidelity, builder). Their time is the whole ``Fabric.run``."""


def run_one_training(name: str, repeat: int) -> dict[str, float]:
    _, fidelity, build = TRAINING_WORKLOADS[name]
    fab, step, *rest = build()
    faults = rest[0] if rest else []
    t0 = time.perf_counter()
    res = fab.run(step, fidelity=fidelity, check_deadlock=False, faults=faults)
    wall = time.perf_counter() - t0
    return {
        "engine_s": wall,
        "run_s": wall,
        "gpus": float(step.plan.gpus),
        "fabric_runs": float(res.fabric_runs),
        "step_s": res.step_time_s,
        "mfu": res.mfu,
        "flits_per_s": 0.0,
        "cycles_per_s": 0.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_one_flow(name: str, repeat: int) -> dict[str, float]:
    fab, op = FLOW_WORKLOADS[name][2]()
    runs = max(1, min(repeat, 3))
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fab.run(op, fidelity="flow", check_deadlock=False)
        walls.append(time.perf_counter() - t0)
    return {
        "first_run_s": walls[0],
        "run_s": statistics.median(walls[1:] or walls),
        "engine_s": res.run.wall_seconds,
        "py_overhead_s": statistics.median(walls[1:] or walls) - res.run.wall_seconds,
        "ops": float(len(res.schedule)),
        "flows": float(len(res.run.messages)),
        "events": float(res.run.events),
        "sim_us": res.time_us,
        "busbw_gbyte_per_s": res.busbw_gbyte_per_s,
        "flits_per_s": float(res.run.links["flits"].sum()) / max(res.run.wall_seconds, 1e-9),
        "cycles_per_s": res.run.cycles / max(res.run.wall_seconds, 1e-9),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _memory_fabric(
    n: int, expanders: int, link: str, protocol: str, target: Callable[[int], str], bytes: int, requests: int
) -> tuple[fs.Fabric, Any]:
    fab = fs.Fabric(
        topology=fs.topology.switch_star(n, memory_expanders=expanders),
        link=fs.LinkSpec.preset(link),
        hbm=fs.HbmSpec.preset("hbm3"),
        protocol=protocol,
    )
    load = fs.traffic.MemoryLoad()
    for e in range(n):
        load = load + fs.traffic.loads(e, target(e), bytes=bytes, outstanding=64, requests=requests)
    return fab, load


MEMFABRIC_WORKLOADS: dict[str, tuple[str, Callable[[], tuple[fs.Fabric, Any]]]] = {
    "memfabric_nvlink_peer_reads": (
        "8 accelerators with HBM3 on one NVLink-4-like switch, each reading random 256 B from the next "
        "one's HBM (nvlink_peer), 64 in flight, 20,000 requests each",
        lambda: _memory_fabric(8, 0, "nvlink4", "nvlink_peer", lambda e: f"peer:{(e + 1) % 8}", 256, 20_000),
    ),
    "memfabric_cxl_expander_reads": (
        "4 accelerators and 1 HBM3 expander on one CXL-3 switch (cxl_mem), each accelerator reading "
        "random 64 B from the expander, 64 in flight, 50,000 requests each",
        lambda: _memory_fabric(4, 1, "cxl3_256b", "cxl_mem", lambda e: "expander:0", 64, 50_000),
    ),
}
# the same loads at flow fidelity (flows over the fabric, the stacks cycle-level)
MEMFABRIC_WORKLOADS.update(
    {
        f"{name}_flow": (f"`{name}` at fidelity flow", build)
        for name, (_, build) in list(MEMFABRIC_WORKLOADS.items())
    }
)


def run_one_memfabric(name: str, repeat: int) -> dict[str, float]:
    fab, load = MEMFABRIC_WORKLOADS[name][1]()
    fidelity = "flow" if name.endswith("_flow") else "cycle"
    res, out = _timed(lambda: fab.run(load, fidelity=fidelity), repeat, lambda r: r.fabric.wall_seconds)
    engine_s = out["engine_s"]
    n = float(len(res.rows["issue_ps"]))
    return {
        **out,
        "requests": n,
        "requests_per_s": n / engine_s,
        "flits_per_s": float(res.fabric.links["flits"].sum()) / engine_s,
        "cycles_per_s": res.fabric.cycles / engine_s,
        "bandwidth_gbyte_per_s": sum(q.bandwidth_gbyte_per_s for q in res.requesters),
        "latency_ns": float(sum(q.latency_ns.mean() for q in res.requesters) / len(res.requesters)),
    }


def run_one_collective(name: str, repeat: int) -> dict[str, float]:
    fab, op = COLLECTIVE_WORKLOADS[name][1]()
    # each run takes tens of seconds to minutes: the large ones once
    runs = 1 if name != "dgx8_allreduce_ring_256MiB" else min(repeat, 2)
    res, out = _timed(lambda: fab.run(op), runs, lambda r: r.run.wall_seconds)
    engine_s = out["engine_s"]
    return {
        **out,
        "bytes_per_s": float(res.schedule.bytes_sent()) / engine_s,
        "flits_per_s": float(res.run.links["flits"].sum()) / engine_s,
        "cycles_per_s": res.run.cycles / engine_s,
        "sim_us": res.time_us,
        "busbw_gbyte_per_s": res.busbw_gbyte_per_s,
    }


def run_one_memory(name: str, repeat: int) -> dict[str, float]:
    """Runs one memory workload ``repeat`` times in this process; returns its medians."""
    hbm, traffic = MEMORY_WORKLOADS[name][1]()
    res, out = _timed(lambda: fs.run_memory(hbm, traffic), repeat, lambda r: r.wall_seconds)
    return {
        **out,
        "requests": float(res.requests),
        "requests_per_s": res.requests / out["engine_s"],
        "cycles_per_s": res.cycles / out["engine_s"],
        "bandwidth_gbyte_per_s": res.bandwidth_gbyte_per_s,
        "peak_fraction": res.peak_fraction,
    }


def run_one(name: str, repeat: int) -> dict[str, float]:
    """Runs one workload ``repeat`` times in this process; returns its medians."""
    if name in MEMORY_WORKLOADS:
        return run_one_memory(name, repeat)
    if name in COLLECTIVE_WORKLOADS:
        return run_one_collective(name, repeat)
    if name in FLOW_WORKLOADS:
        return run_one_flow(name, repeat)
    if name in TRAINING_WORKLOADS:
        return run_one_training(name, repeat)
    if name in MEMFABRIC_WORKLOADS:
        return run_one_memfabric(name, repeat)
    fab, traffic, opts = WORKLOADS[name][1]()
    res, out = _timed(lambda: fab.run(traffic, **opts), repeat, lambda r: r.wall_seconds)  # type: ignore[arg-type]
    engine_s = out["engine_s"]
    flits = float(res.links["flits"].sum() + res.links["flits_replayed"].sum())
    # the flits of the delivered messages, once each (what BookSim counts as flits delivered)
    m = res.messages
    sizes, counts = np.unique(m["bytes"][m["deliver_ps"] >= 0], return_counts=True)
    delivered = float(
        sum(fab.link.message_flits(int(b)) * int(k) for b, k in zip(sizes, counts, strict=True))
    )
    return {
        **out,
        "flits": flits,
        "delivered_flits_per_s": delivered / engine_s,
        "cycles": float(res.cycles),
        "events": float(res.events),
        "flits_per_s": flits / engine_s,
        "events_per_s": res.events / engine_s,
        "cycles_per_s": res.cycles / engine_s,
    }


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "rustc": rustc or "unknown",
        "fabricsim": f"{fs.__version__} (commit {commit or 'unknown'})",
    }


def _si(x: float) -> str:
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= k:
            return f"{x / k:.1f} {unit}"
    return f"{x:.0f}"


CURVES: dict[str, tuple[fs.topology.Topology, float]] = {
    # name: (topology, the uniform-traffic capacity bound in flits/node/cycle: bisection, 4/k
    # on a k x k mesh, 8/k on a torus)
    "8x8 mesh": (fs.topology.mesh((8, 8)), 0.5),
    "8x8 torus": (fs.topology.torus((8, 8)), 1.0),
}


def curves() -> dict[str, fs.sweep.Curve]:
    """Latency against offered load, uniform random 1-flit packets, the BookSim-shaped router
    (2 VCs of 8 flits, 4-stage pipeline), up to just past saturation."""
    out = {}
    for name, (topology, bound) in CURVES.items():
        fab = fs.Fabric(
            topology=topology, link=fs.LinkSpec.preset("noc"), router=fs.RouterSpec(pipeline_cycles=3, vcs=2)
        )
        rates = [round(0.05 * k, 2) for k in range(1, int(bound / 0.05) + 1)]
        out[name] = fs.sweep.latency_throughput(fab, "uniform", rates=rates)
    return out


def render_curves(found: dict[str, fs.sweep.Curve]) -> list[str]:
    lines = [
        "",
        "## Latency against load",
        "",
        "`fs.sweep.latency_throughput` (`python benches/bench.py --curves` prints this section alone):",
        "uniform random traffic, 1-flit packets, Bernoulli injection,",
        "2 VCs of 8 flits, `RouterSpec(pipeline_cycles=3)` (BookSim's 4-stage router), 2,000 warm-up",
        "and 4,000 measured cycles per point, seed 0; latency in cycles of packets created in the",
        "window, accepted load in flits/node/cycle delivered in it. Each sweep stops at the first",
        "saturated point. The capacity bound (bisection) is what tests/test_sweep.py checks.",
        "",
        "| offered | " + " | ".join(f"{n} latency | {n} accepted" for n in found) + " |",
        "|---|" + "---|---|" * len(found),
    ]
    rates = sorted({p.offered for c in found.values() for p in c.points})
    for rate in rates:
        cells = []
        for c in found.values():
            p = next((p for p in c.points if p.offered == rate), None)
            if p is None:
                cells += ["", ""]
            else:
                lat = "saturated" if p.saturated else f"{p.latency_mean:.2f}"
                cells += [lat, f"{p.accepted:.4f}"]
        lines.append(f"| {rate:.2f} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, c in found.items():
        bound = CURVES[name][1]
        lines.append(
            f"- {name}: saturation (highest accepted load) {c.saturation:.3f} flits/node/cycle, "
            f"{100 * c.saturation / bound:.0f}% of the {bound:g} bound."
        )
    return lines


# What people wrote by hand about the tables (where the figures stand against the aims,
# what was measured and dropped, known regressions) sits between these lines, after the
# routers' targets; a rewrite of the report keeps it.
NOTES_BEGIN = "<!-- notes written by hand: make bench keeps what is between these lines -->"
NOTES_END = "<!-- end of notes -->"


def kept_notes(path: Path) -> str:
    """The hand-written notes of the report at ``path`` (empty when it has none)."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(NOTES_BEGIN), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_BEGIN) : end].strip("\n")


def render(
    results: dict[str, dict[str, float]],
    command: str,
    repeat: int,
    found: dict[str, fs.sweep.Curve] | None = None,
    notes: str = "",
) -> str:
    m = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` (benches/bench.py) on {time.strftime('%Y-%m-%d')}. Medians of {repeat} runs;",
        "each workload in its own process. `engine`: wall time of the cycle loop (GIL released);",
        "`py overhead`: the rest of `Fabric.run` (input and result conversion). Flits/s counts flits",
        "sent on links (replays included; on routed fabrics, flit-hops); delivered flits/s counts each",
        "delivered message's flits once (what BookSim reports as flits delivered); events are flit sends",
        "and arrivals, credit returns, ACK/NAKs and drains. Peak RSS is",
        "the whole Python process. The machine is shared and noisy: treat differences under ~10% as noise.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in m.items()),
        "",
        "| workload | engine s | flits | flits/s | delivered flits/s | events/s | sim cycles/s | py overhead s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if name in MEMORY_WORKLOADS or name in COLLECTIVE_WORKLOADS or name in MEMFABRIC_WORKLOADS:
            continue
        if name in FLOW_WORKLOADS or name in TRAINING_WORKLOADS:
            continue
        lines.append(
            f"| {name} | {r['engine_s']:.3f} | {_si(r['flits'])} | {_si(r['flits_per_s'])} | "
            f"{_si(r['delivered_flits_per_s'])} | {_si(r['events_per_s'])} | {_si(r['cycles_per_s'])} | "
            f"{r['py_overhead_s']:.3f} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "Router workloads count flits on every link they cross (injection, router-to-router,",
        "ejection) as flit-hops. The reference file (shared/reference/noc_calibration.md) gives BookSim2",
        "about 7,700 / 2,700 cycles/s on the 8x8 mesh at 0.1 / 0.3, 580 on 16x16 at 0.1 and 66 on",
        "32x32 at 0.05, measured on another machine: no ratio is stated from them. The ratios measured",
        "side by side on one machine (benches/side_by_side.py) are in the notes below.",
        "",
        "Targets set in the issues: one saturated link at 50 M flits/s or more; link-level",
        "reliability bookkeeping at BER 1e-6 costing under 2x the BER-0 figure (compare",
        "`pcie6_saturated_ber_1e-6` with `pcie6_saturated`). `pcie6_saturated_no_retry` shows",
        "what go-back-N bookkeeping itself costs at BER 0. Routers: 30x BookSim on 8x8, 80x on the",
        "larger meshes.",
        "",
        NOTES_BEGIN,
        *([notes] if notes else []),
        NOTES_END,
    ]
    memory = {k: v for k, v in results.items() if k in MEMORY_WORKLOADS}
    if memory:
        lines += [
            "",
            "## HBM",
            "",
            "`fs.run_memory`: one stack, 64 B requests (two 32 B accesses on HBM3, one 64 B access on HBM2).",
            "Requests/s and DRAM (CK) cycles/s of the cycle loop; GB/s is what the model achieved.",
            "",
            "| workload | engine s | requests | requests/s | DRAM cycles/s | GB/s (% of peak) | py overhead s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in memory.items():
            lines.append(
                f"| {name} | {r['engine_s']:.3f} | {_si(r['requests'])} | {_si(r['requests_per_s'])} | "
                f"{_si(r['cycles_per_s'])} | {r['bandwidth_gbyte_per_s']:.1f} ({100 * r['peak_fraction']:.1f}%) | "
                f"{r['py_overhead_s']:.3f} | {r['peak_rss_mib']:.0f} |"
            )
        lines += [
            "",
            "The public simulators in shared/reference/dram_calibration.md do 30,000 - 90,000 random and",
            "up to 460,000 sequential 64 B requests/s on this machine kind; the issue's aim is 2 million",
            "random and 5 million sequential.",
        ]
    coll = {k: v for k, v in results.items() if k in COLLECTIVE_WORKLOADS}
    if coll:
        lines += [
            "",
            "## Collectives",
            "",
            "| workload | engine s | simulated us | busbw GB/s | bytes sent / wall s | flits/s | sim cycles/s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in coll.items():
            lines.append(
                f"| {name} | {r['engine_s']:.3f} | {r['sim_us']:.1f} | {r['busbw_gbyte_per_s']:.1f} | "
                f"{_si(r['bytes_per_s'])}B | {_si(r['flits_per_s'])} | {_si(r['cycles_per_s'])} | {r['peak_rss_mib']:.0f} |"
            )
    memfab = {k: v for k, v in results.items() if k in MEMFABRIC_WORKLOADS}
    if memfab:
        lines += [
            "",
            "## Memory fabric",
            "",
            "Requests/s: remote requests (each a request and a response through the fabric and one",
            "HBM access) per wall second of the cycle loop; GB/s summed over requesters.",
            "",
            "| workload | engine s | requests | requests/s | flits/s | fabric cycles/s | GB/s | mean latency ns | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in memfab.items():
            lines.append(
                f"| {name} | {r['engine_s']:.3f} | {_si(r['requests'])} | {_si(r['requests_per_s'])} | "
                f"{_si(r['flits_per_s'])} | {_si(r['cycles_per_s'])} | {r['bandwidth_gbyte_per_s']:.1f} | "
                f"{r['latency_ns']:.1f} | {r['peak_rss_mib']:.0f} |"
            )
    lines += render_flow({k: v for k, v in results.items() if k in FLOW_WORKLOADS}, results)
    lines += render_training({k: v for k, v in results.items() if k in TRAINING_WORKLOADS})
    if found:
        lines += render_curves(found)
    lines += ["", "Workloads:", ""]
    lines += [f"- `{name}`: {desc}" for name, (desc, _) in WORKLOADS.items()]
    lines += [f"- `{name}`: {desc}" for name, (desc, _) in MEMORY_WORKLOADS.items()]
    lines += [f"- `{name}`: {desc}" for name, (desc, _) in COLLECTIVE_WORKLOADS.items()]
    lines += [f"- `{name}`: {desc}" for name, (desc, _) in MEMFABRIC_WORKLOADS.items()]
    lines += [f"- `{name}`: {desc}" for name, (desc, _, _) in FLOW_WORKLOADS.items()]
    lines += [f"- `{name}`: {desc}" for name, (desc, _, _) in TRAINING_WORKLOADS.items()]
    return "\n".join(lines) + "\n"


def render_training(runs: dict[str, dict[str, float]]) -> list[str]:
    """Training steps: the whole ``Fabric.run`` of one step, its fabric runs (one per distinct
    collective and the pipeline transfers), the simulated step and MFU, peak memory."""
    if not runs:
        return []
    lines = [
        "",
        "## Training steps",
        "",
        "`fab.run(fs.workload.training_step(...), fidelity=...)`, one run, whole call (docs/training.md).",
        "",
        "| workload | GPUs | fidelity | wall s | fabric runs | simulated step s | MFU | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {r['gpus']:,.0f} | {TRAINING_WORKLOADS[name][1]} | {r['run_s']:.2f} | {r['fabric_runs']:.0f} | "
            f"{r['step_s']:.3f} | {100 * r['mfu']:.1f}% | {r['peak_rss_mib']:.0f} |"
        )
    return lines


def render_flow(flow: dict[str, dict[str, float]], results: dict[str, dict[str, float]]) -> list[str]:
    """The flow fidelity's table: whole-run wall time (first run: the schedule verified; then
    cached), engine time, the schedule's size, the simulated time and busbw, the same work's
    cycle-engine time where it ran, and the error of the flow model's simulated time."""
    if not flow:
        return []
    lines = [
        "",
        "## Flow fidelity",
        "",
        '`fab.run(op, fidelity="flow")`, whole call: first run (schedule built and verified) and the',
        "median of the next (verification cached per shape); `engine`: the flow loop alone. `vs cycle`:",
        "the cycle workload of the same name's engine time over the flow run's, and the flow model's",
        "error on the simulated time.",
        "",
        "| workload | first run s | run s | engine s | ops | flows | events | simulated us | busbw GB/s | vs cycle | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in flow.items():
        twin = results.get(FLOW_WORKLOADS[name][1])
        versus = (
            f"{twin['engine_s'] / r['run_s']:.0f}x faster, {(r['sim_us'] / twin['sim_us'] - 1) * 100:+.2f}%"
            if twin
            else "-"
        )
        lines.append(
            f"| {name} | {r['first_run_s']:.2f} | {r['run_s']:.2f} | {r['engine_s']:.2f} | {_si(r['ops'])} | "
            f"{_si(r['flows'])} | {_si(r['events'])} | {r['sim_us']:.1f} | {r['busbw_gbyte_per_s']:.1f} | "
            f"{versus} | {r['peak_rss_mib']:.0f} |"
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="workload names (default: all)")
    ap.add_argument("--write", metavar="FILE", help="also write the markdown report to FILE")
    ap.add_argument("--curves", action="store_true", help="print only the latency-against-load section")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one workload, print JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.repeat)))
        return 0
    if args.curves:
        print("\n".join(render_curves(curves())))
        return 0
    names = args.only or [
        *WORKLOADS,
        *MEMORY_WORKLOADS,
        *MEMFABRIC_WORKLOADS,
        *COLLECTIVE_WORKLOADS,
        *FLOW_WORKLOADS,
        *TRAINING_WORKLOADS,
    ]
    results = {}
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(out.stdout)
        r = results[name]
        speed = (
            f"{_si(r['requests_per_s'])} req/s"
            if name in MEMORY_WORKLOADS or name in MEMFABRIC_WORKLOADS
            else f"{_si(r['flits_per_s'])} flits/s"
        )
        print(
            f"{name:28} engine {r['engine_s']:.3f} s  {speed}  "
            f"{_si(r['cycles_per_s'])} cycles/s  peak {r['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    if args.write:
        command = "make bench" if args.write == "BENCHMARKS.md" else " ".join(["python", *sys.argv])
        found = None if args.only else curves()
        out = Path(args.write)
        out.write_text(render(results, command, args.repeat, found, kept_notes(out)))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
