"""The demo behind ``make run``: credits and message size on one link preset, link-level
retry against the bit-error rate, routed fabrics of about a hundred endpoints, the HBM
presets at cycle level, the memory fabric's loaded latency, and all-reduce on the 8-GPU preset.

Each row runs a stream of messages from endpoint 0 to 1, offered at 90% of what the link
can carry for that message size. Below the credit round trip (cycles from spending a credit
to having it back), a VC can keep only ``credits / round_trip`` of the link busy: the row is
credit-limited, goodput sits at that bound and queues grow (latency explodes). At or above
it the link itself is the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fabricsim.fabric import Fabric
from fabricsim.memory.stack import run_memory
from fabricsim.specs import HbmSpec, LinkSpec, RouterSpec
from fabricsim.topology import Topology, dragonfly, fat_tree, mesh, point_to_point, torus
from fabricsim.traffic.messages import concat, stream
from fabricsim.traffic.stack_requests import memory
from fabricsim.traffic.synthetic import synthetic

OFFERED_FRACTION = 0.9


@dataclass(frozen=True)
class DemoRow:
    credits: int
    message_bytes: int
    offered_gbps: float
    goodput_gbps: float
    bound_gbps: float
    latency_mean_ns: float
    latency_p99_ns: float
    regime: str


def sweep_credits_and_sizes(
    link: LinkSpec, credits: list[int], sizes: list[int], messages_bytes: int = 8 << 20
) -> list[DemoRow]:
    """One row per (credits, size): measured goodput and latency next to the analytic bound."""
    base = link.resolved()
    rtt = int(base["credit_round_trip_cycles"])
    cycle_ns = float(base["cycle_ps"]) / 1000.0
    rows = []
    for c in credits:
        lk = link.replace(credits_per_vc=c)
        fab = Fabric(topology=point_to_point(), link=lk)
        for size in sizes:
            flits = lk.message_flits(size)
            wire_ns = flits * cycle_ns  # the message alone on an idle link
            line_gbps = size * 8 / wire_ns
            bound_gbps = line_gbps * min(1.0, c / rtt)
            interval = wire_ns / OFFERED_FRACTION
            count = max(64, min(8192, messages_bytes // size))
            s = fab.run(stream(0, 1, count, size, interval_ns=interval)).stats()
            rows.append(
                DemoRow(
                    credits=c,
                    message_bytes=size,
                    offered_gbps=size * 8 / interval,
                    goodput_gbps=s["goodput_gbps"],
                    bound_gbps=bound_gbps,
                    latency_mean_ns=s["latency_mean_ns"],
                    latency_p99_ns=s["latency_p99_ns"],
                    regime="credit-limited" if c < rtt else "bandwidth-limited",
                )
            )
    return rows


def retry_demo(preset: str = "pcie6_x16", bers: tuple[float, ...] = (0.0, 1e-6, 1e-5, 3e-5, 1e-4)) -> str:
    """Goodput of a saturating stream against BER, go-back-N vs selective repeat, as text."""
    base = LinkSpec.preset(preset).replace(
        fec_correctable_symbols=0, credits_per_vc=64, replay_buffer_flits=256
    )
    r = base.resolved()
    w = int(r["credit_round_trip_cycles"])
    out = [
        f"link-level retry on {preset} (FEC off so that every error counts; 256-flit replay buffer;",
        f"  a NAK comes back W = {w} flit times after the flit it names)",
        "",
        f"{'BER':>8} {'flit err':>9} {'go-back-N':>10} {'(analytic)':>10} {'selective':>10} {'(analytic)':>10}  Gb/s",
    ]
    for ber in bers:
        cells = []
        p = float(base.replace(ber=ber).resolved()["flit_error_prob"])
        for retry, eff in (("go_back_n", (1 - p) / (1 + (w - 1) * p)), ("selective_repeat", 1 - p)):
            link = base.replace(ber=ber, retry=retry)
            res = Fabric(topology=point_to_point(), link=link).run(stream(0, 1, 100, 1 << 20), seed=1)
            cells += [res.goodput_gbps(), float(r["max_goodput_gbps"]) * eff]
        out.append(f"{ber:8.0e} {p:9.2%} {cells[0]:10.1f} {cells[1]:10.1f} {cells[2]:10.1f} {cells[3]:10.1f}")
    return "\n".join(out)


def _size(n: int) -> str:
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k} {unit}"
    return f"{n} B"


def link_demo(preset: str = "pcie6_x16") -> str:
    """The demo table for a link preset, as text."""
    link = LinkSpec.preset(preset)
    r = link.resolved()
    rtt = int(r["credit_round_trip_cycles"])
    credits = sorted({2, 4, 8, rtt, 2 * rtt, link.credits_per_vc})
    sizes = [256, 4096, 65536, 1 << 20]
    rows = sweep_credits_and_sizes(link, credits, sizes)
    out = [
        f"fabricsim link demo: {link.name} - {link.description}",
        f"  raw {r['raw_gbps']:.0f} Gb/s; one flit = {r['cycle_ps']:g} ps; max goodput {r['max_goodput_gbps']:.1f} "
        f"Gb/s ({link.packing} packets of {link.mtu_bytes} B + {link.packet_overhead_bytes} B header in "
        f"{link.flit_bytes} B flits with {link.flit_overhead_bytes} B overhead)",
        f"  credit round trip = 1 + {r['latency_cycles']} (latency) + {r['credit_return_cycles']} (credit return) "
        f"= {rtt} flit times; fewer credits than that per VC cap throughput at credits/{rtt}",
        f"  each row: a stream offered at {OFFERED_FRACTION:.0%} of the link's capacity for that message size",
        "",
        f"{'credits':>7} {'message':>9} {'offered':>9} {'goodput':>9} {'bound':>9} {'lat mean':>11} {'lat p99':>11}  regime",
        f"{'/VC':>7} {'':>9} {'Gb/s':>9} {'Gb/s':>9} {'Gb/s':>9} {'ns':>11} {'ns':>11}",
    ]
    for row in rows:
        out.append(
            f"{row.credits:>7} {_size(row.message_bytes):>9} {row.offered_gbps:>9.1f} {row.goodput_gbps:>9.1f} "
            f"{row.bound_gbps:>9.1f} {row.latency_mean_ns:>11.1f} {row.latency_p99_ns:>11.1f}  {row.regime}"
            + ("  (saturated: queue grows)" if row.bound_gbps < row.offered_gbps else "")
        )
    return "\n".join(out)


def fabric_demo(rate: float = 0.2, cycles: int = 2000) -> str:
    """Routed fabrics on the ``noc`` link with 4-stage routers: the static deadlock check's
    verdict, then uniform random 1-flit packets at ``rate`` flits/endpoint/cycle; and one
    adversarial pattern where Valiant routing beats minimal on a dragonfly."""
    cases: list[tuple[str, Topology, int]] = [
        ("8x8 mesh", mesh((8, 8)), 2),
        ("8x8 torus", torus((8, 8)), 2),
        ("8x8 torus, 1 VC", torus((8, 8)), 1),
        ("k=8 fat-tree (3 levels)", fat_tree(8, levels=3), 1),
        ("dragonfly p=2 a=4 h=2", dragonfly(2), 2),
    ]
    out = [
        f"routed fabrics: noc link (1 flit/cycle, 1 cycle), routers with 3 pipeline cycles; uniform random "
        f"1-flit packets at {rate} flits/endpoint/cycle for {cycles} cycles",
        "",
        f"{'topology':26} {'endpoints':>9} {'VCs':>4} {'deadlock-free':>14} {'lat mean':>9} {'lat p99':>8}  routing",
    ]
    for name, topology, vcs in cases:
        fab = Fabric(
            topology=topology,
            link=LinkSpec.preset("noc").replace(vcs=vcs),
            router=RouterSpec(pipeline_cycles=3),
        )
        report = fab.check_deadlock_freedom()
        if report.ok:
            n = topology.num_endpoints
            res = fab.run(synthetic("uniform", n, rate=rate, cycles=cycles, cycle_ps=1000.0, packet_bytes=16))
            stats = res.stats()
            lat = f"{stats['latency_mean_ns']:>9.1f} {stats['latency_p99_ns']:>8.1f}"
        else:
            lat = f"{'(refused: a cycle of ' + str(len(report.cycle)) + ' channels)':>18}"
        verdict = "yes" if report.ok else "NO"
        out.append(f"{name:26} {topology.num_endpoints:>9} {vcs:>4} {verdict:>14} {lat}  {report.routing}")
    # Group 0's 8 endpoints all stream to group 1: minimal routing has one global link for them.
    traffic = concat(*[stream(i, 8 + i, 50, 64) for i in range(8)])
    took = {}
    for routing in ("minimal", "valiant", "ugal"):
        fab = Fabric(topology=dragonfly(2, routing=routing), link=LinkSpec.preset("noc").replace(vcs=3))
        took[routing] = fab.run(traffic).stats()["cycles"]
    out += [
        "",
        "dragonfly, group 0 -> group 1 (8 streams of 50 x 64 B): "
        f"minimal {took['minimal']:.0f} cycles (one global link), Valiant {took['valiant']:.0f} cycles, "
        f"UGAL {took['ugal']:.0f} cycles",
    ]
    return "\n".join(out)


__all__ = ["DemoRow", "fabric_demo", "link_demo", "retry_demo", "sweep_credits_and_sizes"]


def _activation_bound_gbyte_per_s(hbm: HbmSpec) -> float:
    """Random row-miss accesses: each needs an ACT; a pseudo-channel opens at most 4 rows per
    tFAW and one per tRRD_S, its banks one each per tRC."""
    t = hbm.timing
    pcs = hbm.channels * hbm.pseudo_channels
    banks = hbm.sids * hbm.bank_groups * hbm.banks_per_group
    per_cycle = min(4 / t["faw"], 1 / t["rrd_s"], banks / t["rc"])
    access = hbm.resolved()["access_bytes"]
    return float(min(pcs * per_cycle * access / hbm.tck_ns, hbm.peak_gbyte_per_s))


def memory_demo(requests: int = 40_000) -> str:
    """Each HBM preset under streaming and random 64 B reads, next to its peak and its
    activation bound, and the latency of isolated reads next to the closed-bank (miss) and
    open-other-row (conflict) latencies of its timing table; then HBM3's loaded-latency
    curve (closed loop, rising outstanding requests)."""
    lines = [
        "HBM stacks at cycle level (64 B reads, FR-FCFS, open page, per-bank refresh):",
        "",
        f"{'preset':7} {'peak GB/s':>9} {'stream GB/s':>12} {'% peak':>7} {'random GB/s':>12} "
        f"{'ACT bound':>10} {'idle read ns':>13} {'miss ns':>8} {'conflict ns':>12} {'refresh':>8}",
    ]
    for name in HbmSpec.presets():
        h = HbmSpec.preset(name)
        t = h.timing
        s = run_memory(h, memory("stream", requests, bytes=64))
        r = run_memory(h, memory("random", requests, bytes=64), seed=1)
        idle = run_memory(h, memory("random", 2_000, bytes=64, interval_ns=500.0))
        lines.append(
            f"{name:7} {h.peak_gbyte_per_s:9.1f} {s.bandwidth_gbyte_per_s:12.1f} {100 * s.peak_fraction:6.1f}% "
            f"{r.bandwidth_gbyte_per_s:12.1f} {_activation_bound_gbyte_per_s(h):10.1f} {idle.read_latency_ns.mean():13.2f} "
            f"{(t['rcd_rd'] + t['cl'] + t['bl']) * h.tck_ns:8.2f} "
            f"{(t['rp'] + t['rcd_rd'] + t['cl'] + t['bl']) * h.tck_ns:12.2f} {100 * s.refresh_time_share:7.1f}%"
        )
    h = HbmSpec.preset("hbm3")
    lines += ["", "HBM3 loaded latency (random 64 B reads, n requests outstanding):", ""]
    lines.append(f"{'outstanding':>11} {'GB/s':>8} {'mean ns':>8} {'p99 ns':>8}")
    for n in (1, 4, 16, 64, 256, 1024):
        res = run_memory(h, memory("random", requests // 2, bytes=64, outstanding=n))
        lat = res.read_latency_ns
        lines.append(
            f"{n:11} {res.bandwidth_gbyte_per_s:8.1f} {lat.mean():8.1f} {np.percentile(lat, 99):8.1f}"
        )
    return "\n".join(lines)


def _plotted(table: Any, plot: str | None, what: str) -> list[str]:
    """Plots ``table`` to ``plot`` (if given); the lines saying so."""
    if not plot:
        return []
    try:
        return ["", f"wrote {table.plot(plot)} ({what})"]
    except ImportError:
        return ["", "matplotlib is not installed: no plot"]


def memory_fabric_demo(plot: str | None = "fabricsim_loaded_latency.png", requests: int = 4000) -> str:
    """Loads to local HBM, a peer's HBM and a memory expander (a narrow, capacity-oriented
    device: two HBM2 channels, 64 GB/s, about two DDR5 channels' worth) across one
    CXL-3-like switch: the loaded-latency curve of each (random 64 B reads, rising
    requests in flight), with the latency split into its fabric and memory parts, and a plot
    of latency against bandwidth."""
    from fabricsim import topology
    from fabricsim.analysis.sweep import loaded_latency_table
    from fabricsim.specs import LinkSpec, ProtocolSpec, RouterSpec

    fab = Fabric(
        topology=topology.switch_star(4, memory_expanders=1),
        link=LinkSpec.preset("cxl3_256b"),
        router=RouterSpec(pipeline_cycles=2),
        hbm=HbmSpec.preset("hbm3"),
        expander_memory=HbmSpec.preset("hbm2").replace(channels=2),
        protocol=ProtocolSpec.preset("cxl_mem"),
    )
    table = loaded_latency_table(
        fab, 0, ["local", "peer:1", "expander:0"], [1, 4, 16, 64, 256], requests=requests
    )
    link_gbyte_per_s = 3 * 64 / float(fab.link.resolved()["cycle_ps"]) * 1000
    lines = [
        "Memory fabric: 4 accelerators with HBM3 and a 64 GB/s memory expander (2 HBM2 channels) on",
        "one switch, CXL 3",
        "x16 256 B-flit links, CXL.mem-shaped protocol (a 256 B flit carries up to three 64 B data",
        f"responses: {link_gbyte_per_s:.0f} GB/s of read data per direction); random 64 B reads:",
        "",
        str(table),
    ]
    return "\n".join(lines + _plotted(table, plot, "latency against bandwidth"))


def collective_demo(largest: int = 64 << 20, plot: str | None = "fabricsim_allreduce_busbw.png") -> str:
    """The headline experiment: all-reduce from 1 KiB up to ``largest`` on the 8-GPU
    NVSwitch-like node as nccl-tests runs NCCL: ``auto`` (the tuner's algorithm, protocol and
    chunks per size, said in the ``ran`` column), then ring and in-network reduction (``nvls``:
    the dgx8_nvls preset is dgx8_nvswitch whose switches reduce and multicast) forced, all with
    NCCL's launch, hop and protocol costs (``fs.collectives.Library.preset("nccl")``); an
    nccl-tests-like table with the alpha-beta estimate and bottleneck beside each row, and a
    busbw-against-size plot (``plot`` names the PNG; None skips it)."""
    from fabricsim.analysis.sweep import collective, sizes

    fab = Fabric.preset("dgx8_nvls")
    table = collective(fab, "all_reduce", sizes(1 << 10, largest, 4), ["auto", "ring", "nvls"])
    lines = [
        f"all-reduce on {fab.name}: {fab.description}",
        f"(busbw = algbw x 2(n-1)/n as nccl-tests reports it; the link peak is "
        f"{4 * float(fab.link.resolved()['max_goodput_gbps']) / 8:.0f} GB/s of data per GPU and direction, "
        "NVLink's packet overheads taken; nccl-tests on 8 H100 reports about 365-370 GB/s for ring "
        "and 480 for NVLS at 1-2 GiB: docs/validation.md)",
        "",
        str(table),
    ]
    return "\n".join(lines + _plotted(table, plot, "busbw against size"))


def training_demo() -> str:
    """One training step of GPT-3 175B on 1,024 A100s (``dgx_a100_cluster``, 128 nodes) at
    flow fidelity, then the same step with one GPU at 80% speed, with one NVLink port at a
    quarter of its rate, with that port failed (its traffic on the other planes) and with the
    GPU's NIC down for 2 s of the step: where the time goes, from the critical GPU's breakdown
    (docs/training.md)."""
    from fabricsim import faults
    from fabricsim.workload import Parallelism, training_step

    fab = Fabric.preset("dgx_a100_cluster", nodes=128)
    plan = Parallelism(tp=8, pp=16, dp=8, global_batch=1536, recompute="full")
    step = training_step("gpt3_175b", plan, "a100_sxm_80gb")
    links = fab.link_directions()
    link = fab.link_index(8, int(links["dst"][links["src"] == 8][0]))
    nic = fab.link_index(8, int(links["dst"][(links["src"] == 8) & (links["flit_rate"] < 1)][0]))
    runs = [
        ("as built", fab.run(step, fidelity="flow")),
        (
            "GPU 8 at 80%",
            fab.run(training_step("gpt3_175b", plan, "a100_sxm_80gb", gpu_speed={8: 0.8}), fidelity="flow"),
        ),
        (
            "GPU 8's first NVLink port at 25%",
            fab.run(step, fidelity="flow", faults=[faults.link_slow(link, rate=0.25)]),
        ),
        (
            "GPU 8's first NVLink port failed",
            fab.run(step, fidelity="flow", faults=[faults.link_failed(link)]),
        ),
        (
            # a fault for part of the step: on the reduced step's clock (docs/training.md)
            "GPU 8's NIC down from 5 s to 7 s",
            fab.run(step, fidelity="flow", faults=[faults.link_down(nic, at_ns=5e9, duration_ns=2e9)]),
        ),
    ]
    keys = ("compute_s", "memory_bound_s", "tp_s", "pp_s", "bubble_s", "replica_wait_s", "dp_s")
    lines = [
        "training step: GPT-3 175B on 1,024 A100s (dgx_a100_cluster, 128 nodes), TP 8 x PP 16 x DP 8,",
        "1,536 sequences of 2,048 tokens, full recomputation, flow fidelity; the critical GPU's seconds:",
        "",
        f"{'case':34} {'step s':>7} {'TFLOP/s':>8} " + " ".join(f"{k[:-2]:>9}" for k in keys),
    ]
    for name, res in runs:
        lines.append(
            f"{name:34} {res.step_time_s:7.2f} {res.model_tflops_per_gpu:8.1f} "
            + " ".join(f"{res.breakdown[k]:9.2f}" for k in keys)
        )
    lines.append(
        f"(memory {runs[0][1].memory_per_gpu_gib:.1f} GiB per GPU; published runs of this size, docs/validation.md: "
        "we are about 30% optimistic)"
    )
    return "\n".join(lines)
