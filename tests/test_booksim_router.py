"""The `booksim_4stage` preset against BookSim2's calibration curve, and the pieces it
stands on: iSLIP VC allocation, packets to their own source, BookSim's torus routing."""

from __future__ import annotations

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis.validation import BOOKSIM_CURVE

# shared/reference/noc_calibration.md: BookSim2 on the 8x8 mesh, 2 VCs x 8 flits, 1-flit
# packets, uniform traffic with the source included (offered: latency, accepted); below the knee
BOOKSIM = {rate: point for rate, point in BOOKSIM_CURVE.items() if rate <= 0.25}
BOOKSIM_SATURATED_ACCEPTED = BOOKSIM_CURVE[0.3125][1]  # past the knee


def calibration_mesh(router: fs.RouterSpec | None = None) -> fs.Fabric:
    return fs.Fabric(
        topology=fs.topology.mesh((8, 8)),
        link=fs.LinkSpec.preset("noc").replace(vcs=2, credits_per_vc=8),
        router=router or fs.RouterSpec.preset("booksim_4stage"),
    )


def uniform(rate: float, **kw: object) -> fs.traffic.SyntheticLoad:
    return fs.traffic.synthetic(
        "uniform", rate=rate, warmup_cycles=3000, measure_cycles=5000, seed=0, include_self=True, **kw
    )


@pytest.mark.parametrize("rate", sorted(BOOKSIM))
def test_the_preset_follows_booksims_latency_curve_within_5_percent(rate: float) -> None:
    res = calibration_mesh().run(uniform(rate))
    latency, accepted = BOOKSIM[rate]
    assert res.packet_latency_cycles.mean() == pytest.approx(latency, rel=0.05)
    assert res.accepted_rate == pytest.approx(accepted, rel=0.05, abs=0.002)


def test_the_preset_saturates_where_booksim_does_and_the_old_models_do_not() -> None:
    accepted = calibration_mesh().run(uniform(0.3125)).accepted_rate
    assert accepted == pytest.approx(BOOKSIM_SATURATED_ACCEPTED, rel=0.05)
    # VC allocation in one pass hands an output both its VCs in a cycle its switch passes one
    # flit in: the staged router with it saturates below BookSim (docs/validation.md)
    in_one_pass = fs.RouterSpec.preset("booksim_4stage").replace(vc_allocator="in_turn")
    assert calibration_mesh(in_one_pass).run(uniform(0.3125)).accepted_rate < 0.95 * accepted
    # the lumped pipeline holds a 1-flit packet's VC one cycle: it saturates well above BookSim
    lumped = calibration_mesh(fs.RouterSpec(pipeline_cycles=3)).run(uniform(0.3125))
    assert lumped.accepted_rate == pytest.approx(0.3125, rel=0.02)


def test_the_preset_is_booksims_configuration() -> None:
    r = fs.RouterSpec.preset("booksim_4stage")
    assert r.stages == {"routing": 1, "vc_allocation": 1, "switch_allocation": 1, "traversal": 1}
    assert (r.allocator, r.vc_allocator, r.islip_iterations) == ("islip", "islip", 1)
    assert fs.RouterSpec().vc_allocator == "in_turn" and fs.RouterSpec().islip_iterations is None


def test_islip_options_are_checked() -> None:
    with pytest.raises(fs.SpecError, match=r"router\.islip_iterations: must be 1\.\.=16, got 0"):
        fs.RouterSpec(islip_iterations=0)
    with pytest.raises(fs.SpecError, match=r"router\.vc_allocator: unknown variant `fair`"):
        fs.RouterSpec(vc_allocator="fair")


def test_more_islip_rounds_never_lose_throughput_and_keep_every_invariant() -> None:
    rates = []
    for rounds in (1, 3):
        router = fs.RouterSpec.preset("booksim_4stage").replace(islip_iterations=rounds)
        res = calibration_mesh(router).run(uniform(0.4), check_invariants=True)
        rates.append(res.accepted_rate)
    assert rates[1] >= rates[0] - 0.002


def test_a_packet_to_its_own_source_loops_back_through_its_router() -> None:
    fab = calibration_mesh()
    # BookSim: 1 cycle at the source, injection channel, 4 router stages, ejection channel
    res = fab.run(fs.traffic.messages([5, 5], [5, 6], [16, 16], at_ns=[0, 100]))
    assert res.latency_ns().tolist() == [7.0, 12.0]
    flow = fab.run(fs.traffic.messages([5], [5], [16]), fidelity="flow")
    assert flow.latency_ns().tolist() == [7.0]
    p2p = fs.Fabric(topology=fs.topology.point_to_point(), link=fs.LinkSpec.preset("noc"))
    with pytest.raises(fs.SpecError, match=r"traffic\.dst\[0\]: equals src \(1\); on a point-to-point link"):
        p2p.run(fs.traffic.messages([1], [1], [16]))


def test_include_self_keeps_the_packets_a_pattern_sends_home() -> None:
    n, rate = 16, 0.5
    kw = dict(num_endpoints=n, rate=rate, cycles=4000, cycle_ps=1000.0, packet_bytes=16, seed=4)
    home = fs.traffic.synthetic("uniform", include_self=True, **kw)
    share = np.mean(home.src == home.dst)
    assert share == pytest.approx(1 / n, abs=0.01)
    assert not np.any(fs.traffic.synthetic("uniform", **kw).src == fs.traffic.synthetic("uniform", **kw).dst)
    # transpose: the diagonal's nodes send to themselves only when asked
    t = fs.traffic.synthetic("transpose", include_self=True, dims=(4, 4), **kw)
    assert set(t.src[t.src == t.dst].tolist()) == {0, 5, 10, 15}
    t = fs.traffic.synthetic("transpose", dims=(4, 4), **kw)
    assert not np.any(t.src == t.dst)


def test_half_way_round_an_even_ring_the_pairs_split_between_the_ways_in_both_fidelities() -> None:
    fab = fs.Fabric(
        topology=fs.topology.ring(8),
        link=fs.LinkSpec.preset("noc"),
        router=fs.RouterSpec.preset("booksim_4stage"),
    )
    # from each router's endpoint to the one 4 hops away either way round, 8 messages each,
    # one at a time
    src = np.repeat(np.arange(8), 8)
    traffic = fs.traffic.messages(src, (src + 4) % 8, 16, at_ns=np.arange(64) * 100.0)
    plus = [fab.link_index(8 + r, 8 + (r + 1) % 8) for r in range(8)]
    minus = [fab.link_index(8 + r, 8 + (r - 1) % 8) for r in range(8)]
    ways = {}
    for fidelity in ("cycle", "flow"):
        res = fab.run(traffic, fidelity=fidelity)
        flits = res.links["flits"]
        assert np.all(res.latency_ns() == 5 * 5 + 2), fidelity  # 5 routers either way
        ways[fidelity] = (flits[plus].tolist(), flits[minus].tolist())
        # 4 hops a message: 8 x 8 x 4 router-to-router flits, both ways used
        assert sum(flits[plus]) + sum(flits[minus]) == 256
        assert 0 < sum(flits[plus]) < 256, fidelity
    assert ways["cycle"] == ways["flow"]  # the same ways in both fidelities


@pytest.mark.parametrize(
    "topology", [fs.topology.ring(8), fs.topology.torus((8, 8)), fs.topology.torus((5, 4))]
)
def test_booksims_dateline_classes_are_proven_deadlock_free_and_survive_overload(
    topology: fs.Topology,
) -> None:
    # (which class each hop takes is tested on the routing function: rust/core/src/routing/dor.rs)
    link = fs.LinkSpec.preset("noc").replace(vcs=2)
    fab = fs.Fabric(topology=topology, link=link, router=fs.RouterSpec.preset("booksim_4stage"))
    report = fab.check_deadlock_freedom()
    assert report.ok, str(report)
    one_vc = fs.Fabric(topology=topology, link=link.replace(vcs=1), router=fab.router)
    assert not one_vc.check_deadlock_freedom().ok
    load = fs.traffic.synthetic(
        "uniform", rate=0.9, warmup_cycles=500, measure_cycles=1500, seed=1, include_self=True
    )
    res = fab.run(load, check_invariants=True)  # no deadlock: it would raise
    assert res.delivered() > 0.8 * len(res.messages)
