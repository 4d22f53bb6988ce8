"""The flow fidelity cross-checked against the cycle engine: the same scenarios (fabric,
workload, seed) run at both fidelities, and the error of the flow model on each one's
headline number. ``fabricsim validate --only fidelity`` prints the table of docs/fidelity.md;
the test suite runs the quick scenarios and asserts their bounds.

A scenario is *link-dominated* when its time is set by how fast links move bytes (large
collectives, large messages through a shared bottleneck): the flow model's goal there is 5%.
The others (many-to-one bursts, all-to-all, loaded latency) are where the cycle engine sees
head-of-line blocking, buffers and packet-level arbitration that a flow model does not; the
table states their error as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fabricsim import topology
from fabricsim.collectives.api import all_reduce, all_to_all, reduce_scatter
from fabricsim.fabric import Fabric
from fabricsim.memory.load import MemoryLoad, dma, loads
from fabricsim.result import Result
from fabricsim.run_contract import RunResultBase, Workload
from fabricsim.specs import HbmSpec, LinkSpec
from fabricsim.traffic.messages import MessageTraffic, messages
from fabricsim.traffic.synthetic import synthetic

MIB = 1 << 20


@dataclass(frozen=True)
class Scenario:
    name: str
    fabric: Callable[[], Fabric]
    workload: Callable[[Fabric], Workload]
    metric: str
    """What is compared: ``time_us`` (a collective's time, the last message's delivery),
    ``accepted_rate`` (a synthetic load's delivered flits per endpoint per cycle) or
    ``latency_cycles`` (its mean packet latency)."""
    link_dominated: bool
    bound_pct: float
    """The largest |error| the test suite accepts (5 where links dominate)."""
    quick: bool = False
    """Part of the test suite's run (a few seconds at cycle fidelity)."""


@dataclass(frozen=True)
class Comparison:
    scenario: Scenario
    cycle: float
    flow: float
    cycle_wall_s: float
    flow_wall_s: float

    @property
    def error_pct(self) -> float:
        """(flow - cycle) / cycle, percent."""
        return (self.flow / self.cycle - 1.0) * 100.0 if self.cycle else 0.0


def metric(res: RunResultBase, name: str) -> float:
    """A result's headline number ``name`` (see :attr:`Scenario.metric`)."""
    if name == "time_us":
        t = getattr(res, "time_ns", None)
        if t is not None:
            return float(t) / 1000.0
        assert isinstance(res, Result)
        return float(res.messages["deliver_ps"].max()) / 1e6
    assert isinstance(res, Result)
    if name == "accepted_rate":
        return float(res.accepted_rate)
    if name == "latency_cycles":
        return float(np.mean(res.packet_latency_cycles))
    raise ValueError(f"metric must be time_us, accepted_rate or latency_cycles, got {name!r}")


def _incast(fab: Fabric) -> MessageTraffic:
    n = fab.num_ranks
    return messages(src=np.arange(1, n), dst=0, bytes=MIB)


def _permutation(seed: int) -> Callable[[Fabric], MessageTraffic]:
    def build(fab: Fabric) -> MessageTraffic:
        n = fab.num_ranks
        rng = np.random.default_rng(seed)
        dst = rng.permutation(n)
        src = np.arange(n)
        keep = src != dst
        return messages(src=src[keep], dst=dst[keep], bytes=MIB)

    return build


def _shift(nbytes: int, by: int) -> Callable[[Fabric], MessageTraffic]:
    def build(fab: Fabric) -> MessageTraffic:
        n = fab.num_ranks
        src = np.arange(n)
        return messages(src=src, dst=(src + by) % n, bytes=nbytes)

    return build


def _stream(count: int, nbytes: int) -> Callable[[Fabric], MessageTraffic]:
    return lambda fab: messages(src=np.zeros(count, int), dst=1, bytes=nbytes)


def _noc_mesh() -> Fabric:
    return Fabric(topology=topology.mesh([8, 8]), link=LinkSpec.preset("noc"))


def _uniform(fab: Fabric) -> Workload:
    return synthetic("uniform", rate=0.1, measure_cycles=5000, warmup_cycles=1000)


def _ib_star(n: int) -> Callable[[], Fabric]:
    return lambda: Fabric(topology=topology.switch_star(n), link=LinkSpec.preset("ib_ndr_4x"))


def _collective(build: Callable[..., Workload], nbytes: int) -> Callable[[Fabric], Workload]:
    return lambda fab: build(bytes=nbytes)


def _preset(name: str) -> Callable[[], Fabric]:
    return lambda: Fabric.preset(name)


def _memory_star() -> Fabric:
    """Four accelerators on a CXL-like switch, HBM3 behind each."""
    return Fabric(
        topology=topology.switch_star(4), link=LinkSpec.preset("cxl3_256b"), hbm=HbmSpec.preset("hbm3")
    )


def _together(parts: list[MemoryLoad]) -> MemoryLoad:
    return MemoryLoad(tuple(q for part in parts for q in part.requesters))


def _peer_dma(nbytes: int, shift: int) -> Callable[[Fabric], Workload]:
    """Every accelerator DMAs ``nbytes`` from the HBM of the one ``shift`` ranks on."""

    def build(fab: Fabric) -> Workload:
        n = fab.num_endpoints - len(fab.memory_expanders)
        return _together([dma(e, (e + shift) % n, bytes=nbytes, chunk=256, window=64) for e in range(n)])

    return build


def _memory_load(
    requesters: list[int], target: Callable[[int], str], **kw: Any
) -> Callable[[Fabric], Workload]:
    return lambda fab: _together([loads(e, target(e), **kw) for e in requesters])


# The presets where an all-to-all crosses one switch between GPUs (no scale-out network, no
# multi-hop torus): its time is the links' there.
ONE_SWITCH_HOP = ("dgx8_nvswitch", "dgx8_nvls", "dgx_a100")


def scenarios() -> list[Scenario]:
    """Every scenario of the cross-check, quick ones marked."""
    out = []
    for name in Fabric.presets():
        big = name == "nvl72"  # 72 GPUs: smaller sizes keep the cycle run under a minute
        size = 4 * MIB if big else 16 * MIB
        out.append(
            Scenario(
                f"{name}: all_reduce {size // MIB} MiB (auto)",
                _preset(name),
                _collective(all_reduce, size),
                "time_us",
                True,
                5.0,
                quick=name in ("dgx8_nvswitch", "dgx8_nvls"),
            )
        )
        a2a = MIB if big else 4 * MIB
        out.append(
            Scenario(
                f"{name}: all_to_all {a2a // MIB} MiB",
                _preset(name),
                _collective(all_to_all, a2a),
                "time_us",
                name in ONE_SWITCH_HOP,
                5.0 if name in ONE_SWITCH_HOP else 80.0,
                quick=name in ("dgx8_nvswitch", "tpu_v4_cube"),
            )
        )
    out += [
        Scenario(
            "dgx8_cluster4: reduce_scatter 16 MiB (ring)",
            _preset("dgx8_cluster4"),
            lambda fab: reduce_scatter(bytes=16 * MIB, algorithm="ring"),
            "time_us",
            True,
            5.0,
        ),
        Scenario(
            "dgx8_cluster4: all_reduce 16 MiB (hierarchical_tree, 8 chunks)",
            _preset("dgx8_cluster4"),
            lambda fab: all_reduce(bytes=16 * MIB, algorithm="hierarchical_tree", chunks=8),
            "time_us",
            False,
            25.0,
        ),
        Scenario(
            "switch_star(16), ib_ndr_4x: incast 15 -> 1, 1 MiB each",
            _ib_star(16),
            _incast,
            "time_us",
            True,
            5.0,
            quick=True,
        ),
        Scenario(
            "fat_tree(8), ib_ndr_4x: random permutation, 1 MiB each",
            lambda: Fabric(topology=topology.fat_tree(8), link=LinkSpec.preset("ib_ndr_4x")),
            _permutation(1),
            "time_us",
            True,
            5.0,
            quick=True,
        ),
        Scenario(
            "dgx8_cluster4: shift by 8 (every GPU to the next node), 4 MiB each",
            _preset("dgx8_cluster4"),
            _shift(4 * MIB, 8),
            "time_us",
            True,
            5.0,
        ),
        Scenario(
            "torus(4x4), noc: shift by 5, 64 KiB each",
            lambda: Fabric(topology=topology.torus([4, 4]), link=LinkSpec.preset("noc")),
            _shift(64 << 10, 5),
            "time_us",
            False,
            60.0,
            quick=True,
        ),
        Scenario(
            "point_to_point, nvlink4 at BER 1e-5 (go-back-N): 64 x 64 KiB",
            lambda: Fabric(
                topology=topology.point_to_point(), link=LinkSpec.preset("nvlink4").replace(ber=1e-5)
            ),
            _stream(64, 64 << 10),
            "time_us",
            True,
            5.0,
            quick=True,
        ),
        Scenario(
            "switch_star(4), cxl3_256b, HBM3: DMA of 1 MiB from a peer, 256 B requests, 32 in flight",
            _memory_star,
            lambda fab: dma(0, 1, bytes=MIB, chunk=256, window=32),
            "time_us",
            True,
            5.0,
            quick=True,
        ),
        Scenario(
            "switch_star(4), cxl3_256b, HBM3: random 64 B reads and writes to a peer, 64 in flight",
            _memory_star,
            _memory_load([0], lambda e: "peer:1", bytes=64, outstanding=64, requests=4000, read_ratio=0.5),
            "time_us",
            False,
            5.0,
            quick=True,
        ),
        Scenario(
            "switch_star(4), cxl3_256b, HBM3: incast 3 -> 1, random 64 B reads, 32 in flight each",
            _memory_star,
            _memory_load([0, 1, 2], lambda e: "peer:3", bytes=64, outstanding=32, requests=3000),
            "time_us",
            False,
            5.0,
            quick=True,
        ),
        Scenario(
            "switch_star(4), cxl3_256b, HBM3: all to the global space, random 64 B reads, 32 in flight",
            _memory_star,
            _memory_load(list(range(4)), lambda e: "global", bytes=64, outstanding=32, requests=3000),
            "time_us",
            False,
            25.0,
            quick=True,
        ),
        Scenario(
            "dgx8_nvswitch (HBM3): all_reduce 16 MiB through memory (ring, 4 chunks)",
            _preset("dgx8_nvswitch"),
            lambda fab: all_reduce(bytes=16 * MIB, algorithm="ring", chunks=4, memory=True),
            "time_us",
            True,
            5.0,
        ),
        Scenario(
            "dgx8_nvls (HBM3): all_reduce 16 MiB through memory (auto)",
            _preset("dgx8_nvls"),
            lambda fab: all_reduce(bytes=16 * MIB, memory=True),
            "time_us",
            False,
            15.0,
        ),
        Scenario(
            "dgx8_nvswitch (HBM3): every GPU DMAs 1 MiB from the next GPU's HBM",
            _preset("dgx8_nvswitch"),
            _peer_dma(MIB, 1),
            "time_us",
            True,
            5.0,
        ),
        Scenario(
            "dgx8_cluster4 (HBM3): every GPU DMAs 512 KiB from its peer in the next node",
            _preset("dgx8_cluster4"),
            _peer_dma(MIB // 2, 8),
            "time_us",
            True,
            5.0,
        ),
        Scenario(
            "mesh(8x8), noc: uniform random at 0.1 flits/node/cycle",
            _noc_mesh,
            _uniform,
            "accepted_rate",
            True,
            5.0,
            quick=True,
        ),
        Scenario(
            "mesh(8x8), noc: uniform random at 0.1, mean packet latency",
            _noc_mesh,
            _uniform,
            "latency_cycles",
            False,
            40.0,
        ),
    ]
    return out


def cross_check(chosen: list[Scenario] | None = None, seed: int = 0) -> list[Comparison]:
    """Runs each scenario at both fidelities (same fabric, workload and seed)."""
    rows = []
    for sc in chosen if chosen is not None else scenarios():
        fab = sc.fabric()
        wl = sc.workload(fab)
        walls, values = [], []
        for fidelity in ("cycle", "flow"):
            started = time.perf_counter()
            res = fab.run(wl, seed=seed, fidelity=fidelity)
            walls.append(time.perf_counter() - started)
            values.append(metric(res, sc.metric))
        rows.append(Comparison(sc, values[0], values[1], walls[0], walls[1]))
    return rows


def fidelity_table(log: Callable[[str], None] = lambda s: None) -> str:
    """docs/fidelity.md's table: every scenario, both fidelities, the error, the wall times."""
    lines = [
        "| scenario | metric | cycle | flow | error | link-dominated | wall cycle / flow |",
        "|---|---|---:|---:|---:|:-:|---:|",
    ]
    for sc in scenarios():
        log(sc.name)
        (row,) = cross_check([sc])
        lines.append(
            f"| {sc.name} | {sc.metric} | {row.cycle:.4g} | {row.flow:.4g} | {row.error_pct:+.1f}% | "
            f"{'yes' if sc.link_dominated else 'no'} | {row.cycle_wall_s:.2f} s / {row.flow_wall_s:.3f} s |"
        )
    return "\n".join(lines)


__all__ = ["Comparison", "Scenario", "cross_check", "fidelity_table", "metric", "scenarios"]
