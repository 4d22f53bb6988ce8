"""Routers on routed topologies: zero-load latency by hand, invariants under load, engine
modes, and deadlock (the static check and the watchdog)."""

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.testing import check_all

NOC = fs.LinkSpec.preset("noc")  # 16 B flits, 1 ns cycles, 1-cycle latency, 2 VCs x 8 flits


def fabric(topology, pipeline=3, **link):
    return fs.Fabric(
        topology=topology, link=NOC.replace(**link), router=fs.RouterSpec(pipeline_cycles=pipeline)
    )


@pytest.mark.parametrize(
    ("topology", "src", "dst", "routers"),
    [
        (fs.topology.mesh((4, 4)), 0, 15, 7),  # corner to corner: 3 + 3 hops
        (fs.topology.mesh((4, 4)), 5, 6, 2),
        (fs.topology.mesh((4, 3, 2)), 0, 23, 7),  # 3 + 2 + 1 hops
        (fs.topology.torus((4, 4)), 0, 3, 2),  # over the wrap-around link
        (fs.topology.torus((8, 8)), 0, 36, 9),  # 4 + 4 hops (ties go +)
        (fs.topology.ring(5), 0, 3, 3),  # the short way round
        (fs.topology.switch_star(8), 2, 6, 1),
        (fs.topology.fully_connected(5), 1, 4, 2),
        (fs.topology.graph([(0, 1), (1, 2), (2, 3)]), 0, 3, 4),
        (fs.topology.fat_tree(8), 0, 3, 1),  # same leaf
        (fs.topology.fat_tree(8), 0, 31, 3),  # leaf, spine, leaf
        (fs.topology.fat_tree(6, oversubscription=2), 1, 17, 3),
        (fs.topology.fat_tree(4, levels=3), 0, 2, 3),  # edge, aggregation, edge
        (fs.topology.fat_tree(4, levels=3), 0, 15, 5),  # up to a core and down
        (fs.topology.dragonfly(2), 0, 2, 2),  # same group: one local hop
        (fs.topology.dragonfly(2), 0, 8, 3),  # global from router 0, then local in group 1
        (fs.topology.dragonfly(2), 0, 71, 4),  # local, global, local
    ],
)
@pytest.mark.parametrize("pipeline", [0, 3])
def test_zero_load_latency_is_injection_plus_routers_times_hop_time(topology, src, dst, routers, pipeline):
    # One flit reaches its first router 1 + L cycles after it is sent; each router forwards it
    # in the cycle it arrives plus `pipeline` cycles, onto a link of 1 + L: so
    # (1 + L) + routers x (1 + pipeline + L). With L = 1 and pipeline = 3: 5H + 2, BookSim's
    # zero-load latency (shared/reference/noc_calibration.md).
    latency = NOC.resolved()["latency_cycles"]
    res = fabric(topology, pipeline).run(fs.traffic.messages(src, dst, 16), check_invariants=True)
    expected = (1 + latency) + routers * (1 + pipeline + latency)
    assert res.messages["latency_ps"][0] == expected * 1000
    if pipeline == 3:
        assert expected == 5 * routers + 2


def test_a_packet_of_several_flits_is_pipelined_through_the_routers():
    # one 4-flit packet (mtu = 4 flits): its tail arrives 3 cycles after its head, at every hop
    fab = fabric(fs.topology.mesh((4, 4)), mtu_bytes=64)
    res = fab.run(fs.traffic.messages(0, 15, 64))
    assert res.messages["latency_ps"][0] == (5 * 7 + 2 + 3) * 1000


@pytest.mark.parametrize(
    ("topology", "vcs"),
    [
        (fs.topology.mesh((4, 4)), 2),
        (fs.topology.torus((4, 4)), 2),
        (fs.topology.ring(6), 2),
        (fs.topology.switch_star(6), 2),
        (fs.topology.fully_connected(5), 2),
        (fs.topology.graph([(0, 1), (1, 2), (1, 3), (3, 4)]), 2),
        (fs.topology.fat_tree(4), 1),
        (fs.topology.fat_tree(6, oversubscription=2, spine="ecmp"), 1),
        (fs.topology.fat_tree(4, levels=3, spine="ecmp"), 1),
        (fs.topology.dragonfly(1), 2),
        (fs.topology.dragonfly(1, routing="valiant"), 3),
        (fs.topology.dragonfly(1, routing="ugal"), 3),
    ],
)
def test_random_traffic_is_delivered_once_in_order_with_credits_conserved(topology, vcs):
    rng = np.random.default_rng(4)
    n, count = topology.num_endpoints, 400
    src = rng.integers(0, n, count)
    dst = (src + rng.integers(1, n, count)) % n
    traffic = fs.traffic.messages(src, dst, rng.integers(1, 120, count), at_ns=rng.uniform(0, 300, count))
    fab = fabric(topology, pipeline=1, credits_per_vc=3, mtu_bytes=32, vcs=vcs)
    res = fab.run(traffic, check_invariants=True)
    assert res.complete
    # Valiant routes each message through its own intermediate group: a flow may be reordered.
    check_all(res, fab.link, in_order_delivery=topology.params.get("routing") not in ("valiant", "ugal"))
    tick = fab.run(traffic, engine="tick_all")
    assert np.array_equal(res.messages, tick.messages) and np.array_equal(res.links, tick.links)


def test_errors_and_retry_work_hop_by_hop():
    fab = fabric(fs.topology.mesh((3, 3)), ber=3e-4, retry="selective_repeat")
    res = fab.run(
        fs.traffic.messages(np.arange(9), (np.arange(9) + 4) % 9, 2000), seed=2, check_invariants=True
    )
    assert res.links["flits_replayed"].sum() > 0
    check_all(res, fab.link)


def test_a_one_vc_torus_is_refused_by_the_static_check_and_caught_by_the_watchdog():
    fab = fabric(fs.topology.torus((8, 8)), vcs=1, credits_per_vc=2, mtu_bytes=64)
    # every node sends 3 hops along +x: the rings' buffers fill in a cycle
    n = 64
    src = np.repeat(np.arange(n), 4)
    dst = (src // 8) * 8 + (src % 8 + 3) % 8
    traffic = fs.traffic.messages(src, dst, 256)
    with pytest.raises(fs.DeadlockError, match="NOT deadlock-free") as info:
        fab.run(traffic)
    assert len(info.value.waiting) == 8
    with pytest.raises(fs.DeadlockError, match="watchdog") as info:
        fab.run(traffic, check_deadlock=False, watchdog_cycles=2000)
    reasons = [w["reason"] for w in info.value.waiting]
    assert any("waits for a credit" in r for r in reasons)
    # the report names the cycle: channels of one ring of routers, each waiting on the next
    cycle = [w for w in info.value.waiting if w["reason"].startswith("in the cycle")]
    assert len(cycle) >= 2
    routers = [w["node"] - n for w in cycle]
    assert len({r // 8 for r in routers}) == 1  # all on one x ring (same row)
    # with two VCs the dateline classes keep the same traffic flowing
    ok = fabric(fs.topology.torus((8, 8)), vcs=2, credits_per_vc=2, mtu_bytes=64).run(traffic)
    assert ok.complete
    # the flow model has no buffers: it runs the same traffic unless the check is asked for
    assert fab.run(traffic, fidelity="flow").complete
    with pytest.raises(fs.DeadlockError, match="NOT deadlock-free"):
        fab.run(traffic, fidelity="flow", check_deadlock=True)
    with pytest.raises(fs.SpecError, match=r"options\.check_deadlock: must be None, True or False"):
        fab.run(traffic, check_deadlock="yes")


def test_router_spec_is_validated():
    with pytest.raises(fs.SpecError, match=r"router\.pipeline_cycles: must be <= 1000"):
        fs.RouterSpec(pipeline_cycles=5000)


@pytest.mark.parametrize(
    ("allocator", "shares"), [("round_robin", (75, 75, 150)), ("oldest_first", (100, 100, 100))]
)
def test_oldest_first_allocation_fixes_the_parking_lot(allocator, shares):
    # Routers 0-1-2-3 in a line with one VC; the endpoints of routers 0, 1, 2 each offer one flit
    # per cycle to endpoint 3. Round-robin halves the share at every merge (1/4, 1/4, 1/2 of the
    # last link); oldest-first serves the flits in the order they were offered (1/3 each).
    line = fs.topology.graph([(0, 1), (1, 2), (2, 3)])
    traffic = fs.traffic.concat(*[fs.traffic.stream(i, 3, 300, 16, interval_ns=1.0) for i in range(3)])
    fab = fs.Fabric(
        topology=line, link=NOC.replace(vcs=1), router=fs.RouterSpec(pipeline_cycles=0, allocator=allocator)
    )
    res = fab.run(traffic, check_invariants=True)
    check_all(res, fab.link)
    m = res.messages
    in_first_300 = m["deliver_ps"] < 300_000  # the last link carries one flit per cycle
    got = [int((in_first_300 & (m["src"] == s)).sum()) for s in range(3)]
    assert all(abs(g - want) <= 4 for g, want in zip(got, shares, strict=True)), got
    tick = fab.run(traffic, engine="tick_all")
    assert np.array_equal(res.messages, tick.messages)


@pytest.mark.parametrize("allocator", ["oldest_first", "islip", "booksim_4stage"])
def test_every_allocator_keeps_every_invariant_under_random_traffic(allocator):
    rng = np.random.default_rng(9)
    n, count = 16, 600
    src = rng.integers(0, n, count)
    dst = (src + rng.integers(1, n, count)) % n
    traffic = fs.traffic.messages(src, dst, rng.integers(1, 120, count), at_ns=rng.uniform(0, 200, count))
    fab = fs.Fabric(
        topology=fs.topology.torus((4, 4)),
        link=NOC.replace(credits_per_vc=3, mtu_bytes=32),
        router=fs.RouterSpec.preset(allocator)
        if allocator == "booksim_4stage"  # iSLIP VC allocation too, four stages
        else fs.RouterSpec(pipeline_cycles=1, allocator=allocator),
    )
    res = fab.run(traffic, check_invariants=True)
    check_all(res, fab.link)
    assert np.array_equal(res.messages, fab.run(traffic, engine="tick_all").messages)
    with pytest.raises(fs.SpecError, match=r"^router\.allocator: unknown variant `pim`"):
        fs.RouterSpec(allocator="pim")


def test_islip_matches_what_a_one_pass_separable_allocator_leaves_idle():
    # A 16-port switch, 8 VCs used like virtual output queues (each message on a random VC),
    # uniform traffic at 0.8 flits/port/cycle for 3000 cycles. The separable input-first
    # allocator lets each input offer one VC blindly, so two inputs often pick the same output
    # and it saturates below 0.8 (queues grow: the run overshoots by hundreds of cycles, mean
    # latency in the hundreds); iSLIP's request-grant-accept rounds find a near-maximal match
    # (McKeown 1999), keeps up, and latency stays near zero-load.
    n, vcs = 16, 8
    base = fs.traffic.synthetic("uniform", n, rate=0.8, cycles=3000, cycle_ps=1000.0, packet_bytes=16, seed=1)
    vc = np.random.default_rng(2).integers(0, vcs, len(base.src))
    traffic = fs.traffic.messages(base.src, base.dst, base.bytes, at_ps=base.inject_ps, vc=vc)
    runs = {}
    for allocator in ("round_robin", "islip"):
        fab = fs.Fabric(
            topology=fs.topology.switch_star(n),
            link=NOC.replace(vcs=vcs),
            router=fs.RouterSpec(pipeline_cycles=0, allocator=allocator),
        )
        runs[allocator] = fab.run(traffic, check_invariants=True)
        check_all(runs[allocator], fab.link)
    assert runs["round_robin"].stats()["cycles"] > 3500
    assert runs["round_robin"].stats()["latency_mean_ns"] > 200
    assert runs["islip"].stats()["cycles"] < 3100
    assert runs["islip"].stats()["latency_mean_ns"] < 30


@pytest.mark.parametrize(
    ("stages", "lookahead", "per_router"),
    [
        ({}, False, 4),  # BookSim's 4 stages, one cycle each
        ({"routing": 2, "vc_allocation": 3, "switch_allocation": 1, "traversal": 2}, False, 8),
        ({}, True, 3),  # lookahead: the routing stage's cycle is gone
        ({"routing": 5, "vc_allocation": 1, "switch_allocation": 1, "traversal": 1}, True, 3),
        ({"routing": 0, "vc_allocation": 0, "switch_allocation": 1, "traversal": 0}, False, 1),
    ],
)
def test_per_stage_delays_add_up_per_hop(stages, lookahead, per_router):
    # (1 + L) to the first router, then per router the sum of its stages plus the link.
    latency = NOC.resolved()["latency_cycles"]
    router = fs.RouterSpec(stages=stages, lookahead_routing=lookahead)
    fab = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=NOC, router=router)
    res = fab.run(fs.traffic.messages(0, 15, 16), check_invariants=True)
    assert res.messages["latency_ps"][0] == ((1 + latency) + 7 * (per_router + latency)) * 1000
    # the 4-stage router is the lumped pipeline of 3 at zero load
    if stages == {} and not lookahead:
        lumped = fabric(fs.topology.mesh((4, 4)), pipeline=3).run(fs.traffic.messages(0, 15, 16))
        assert lumped.messages["latency_ps"][0] == res.messages["latency_ps"][0]


def test_separate_allocation_stages_cost_throughput_near_saturation():
    # With VC and switch allocation in separate cycles a head holds its output VC a cycle
    # longer before crossing: with 2 VCs and 1-flit packets (VC-allocation limited) latency
    # near saturation rises. BookSim's 8x8 mesh sits between the two (docs/validation.md).
    traffic = fs.traffic.synthetic(
        "uniform", 64, rate=0.25, cycles=3000, cycle_ps=1000.0, packet_bytes=16, seed=0
    )
    lat = {}
    for name, router in [("lumped", fs.RouterSpec(pipeline_cycles=3)), ("stages", fs.RouterSpec(stages={}))]:
        fab = fs.Fabric(topology=fs.topology.mesh((8, 8)), link=NOC, router=router)
        lat[name] = fab.run(traffic).messages["latency_ps"].mean() / 1000
    assert lat["stages"] > 1.2 * lat["lumped"]


def test_stage_and_cut_through_options_are_checked():
    with pytest.raises(fs.SpecError, match=r"router\.lookahead_routing: needs stages"):
        fs.RouterSpec(lookahead_routing=True)
    with pytest.raises(fs.SpecError, match=r"router\.pipeline_cycles: must be 0 when stages are given"):
        fs.RouterSpec(stages={}, pipeline_cycles=3)
    with pytest.raises(fs.SpecError, match=r"router\.stages\.traversal: must be at least 1"):
        fs.RouterSpec(stages={"switch_allocation": 0, "traversal": 0})
    vct = fs.RouterSpec(switching="virtual_cut_through")
    with pytest.raises(fs.SpecError, match=r"link\.credits_per_vc: must be >= 4 with virtual_cut_through"):
        fs.Fabric(
            topology=fs.topology.mesh((2, 2)), link=NOC.replace(mtu_bytes=64, credits_per_vc=3), router=vct
        )
    packed = fs.LinkSpec.preset("pcie6_x16")
    with pytest.raises(
        fs.SpecError, match=r"router\.switching: virtual_cut_through needs link\.packing = \"padded\""
    ):
        fs.Fabric(topology=fs.topology.mesh((2, 2)), link=packed, router=vct)


def slow_sink_line(switching):
    # Three routers in a line; endpoint 2 drains one flit every 4 cycles, so packets of
    # 4 flits from endpoint 0 back up through the routers' 4-flit buffers.
    return fs.Fabric(
        topology=fs.topology.graph([(0, 1), (1, 2)]),
        link=NOC.replace(vcs=1, credits_per_vc=4, mtu_bytes=64),
        router=fs.RouterSpec(pipeline_cycles=1, switching=switching),
        endpoint=fs.EndpointSpec(drain_gbps=32.0),
    )


def test_virtual_cut_through_keeps_each_blocked_packet_in_one_buffer():
    traffic = fs.traffic.messages(0, 2, np.full(12, 64))  # 12 packets of 4 flits
    vct = slow_sink_line("virtual_cut_through")
    worm = slow_sink_line("wormhole")
    # check_invariants asserts, every cycle, that each router input buffer has room for every
    # packet whose head entered it (the cut-through rule); wormhole buffers split packets.
    a = vct.run(traffic, check_invariants=True)
    b = worm.run(traffic, check_invariants=True)
    check_all(a, vct.link)
    # the sink sets the pace either way: same finish, within a packet's drain time
    assert abs(a.messages["deliver_ps"].max() - b.messages["deliver_ps"].max()) <= 16 * 1000
    # at zero load the two are the same
    one = fs.traffic.messages(0, 2, 64)
    fast = [
        fs.Fabric(topology=f.topology, link=f.link, router=f.router).run(one).messages["latency_ps"][0]
        for f in (vct, worm)
    ]
    assert fast[0] == fast[1]


@pytest.mark.parametrize(
    ("topology", "vcs"),
    [(fs.topology.mesh((4, 4)), 2), (fs.topology.torus((4, 4)), 2), (fs.topology.fat_tree(4), 1)],
)
def test_virtual_cut_through_and_stages_under_random_traffic(topology, vcs):
    rng = np.random.default_rng(9)
    n, count = topology.num_endpoints, 300
    src = rng.integers(0, n, count)
    dst = (src + rng.integers(1, n, count)) % n
    traffic = fs.traffic.messages(src, dst, rng.integers(1, 200, count), at_ns=rng.uniform(0, 200, count))
    link = NOC.replace(credits_per_vc=4, mtu_bytes=64, vcs=vcs)
    router = fs.RouterSpec(stages={"routing": 1, "vc_allocation": 2}, switching="virtual_cut_through")
    fab = fs.Fabric(topology=topology, link=link, router=router)
    res = fab.run(traffic, check_invariants=True)
    # With two VCs per class a later packet can take the other VC and overtake (cut-through
    # takes the VC that has room for it): delivery order across router VCs is not promised.
    check_all(res, fab.link, in_order_delivery=vcs == 1)
    tick = fab.run(traffic, engine="tick_all")
    assert np.array_equal(res.messages, tick.messages)


def test_ugal_stays_minimal_on_uniform_traffic_and_spreads_adversarial_traffic():
    from fabricsim.traffic import concat, stream, synthetic

    def fab(routing):
        return fs.Fabric(topology=fs.topology.dragonfly(2, routing=routing), link=NOC.replace(vcs=3))

    ugal = fab("ugal")
    report = ugal.check_deadlock_freedom()
    assert report.ok and "UGAL" in report.routing
    assert (
        not fs.Fabric(topology=fs.topology.dragonfly(2, routing="ugal"), link=NOC.replace(vcs=1))
        .check_deadlock_freedom()
        .ok
    )
    # group 0's endpoints all stream to group 1: minimal routing has one global link for them
    adversarial = concat(*[stream(i, 8 + i, 50, 64) for i in range(8)])
    took = {
        r: fab(r).run(adversarial, check_invariants=True).stats()["cycles"]
        for r in ("minimal", "valiant", "ugal")
    }
    assert took["valiant"] < took["ugal"] < 0.6 * took["minimal"]
    # uniform random at 0.2: no queue builds, so UGAL routes minimally (Valiant pays twice the hops)
    n = ugal.num_endpoints
    uniform = synthetic("uniform", n, rate=0.2, cycles=2000, cycle_ps=1000.0, packet_bytes=16)
    lat = {r: fab(r).run(uniform).stats()["latency_mean_ns"] for r in ("minimal", "valiant", "ugal")}
    assert lat["ugal"] == pytest.approx(lat["minimal"], rel=0.02) and lat["ugal"] < 0.8 * lat["valiant"]


def test_a_routed_fabric_snapshot_accounts_for_every_credit_at_every_cycle() -> None:
    # Router ports keep their input buffers and output credits in a store of their own (not in
    # the link directions); a snapshot must still show each direction's credits where they are:
    # at the sender, on the wire, buffered, or on the way back (retry off: no replays)
    topo = fs.topology.mesh((3, 3))
    fab = fs.Fabric(
        topology=topo, link=NOC.replace(credits_per_vc=4), router=fs.RouterSpec(pipeline_cycles=2)
    )
    t = fs.traffic.synthetic(
        "uniform", topo.num_endpoints, rate=0.5, cycles=200, cycle_ps=1000.0, packet_bytes=48, seed=1
    )
    sim = fab.simulation(t, seed=0)
    buffered_at_routers = 0
    for _ in range(150):
        sim.step(1)
        for link in sim.state():
            for vc in range(2):
                held = link["credits"][vc] + link["buffered"][vc] + link["credits_returning"][vc]
                assert held <= 4
            total = sum(link["credits"]) + sum(link["buffered"]) + sum(link["credits_returning"])
            assert total + link["flits_on_wire"] == 2 * 4, link
            if link["dst"] >= topo.num_endpoints:
                buffered_at_routers += sum(link["buffered"])
    assert buffered_at_routers > 0  # the load did queue flits at router inputs
    assert sim.finish().delivered() == len(t)


@pytest.mark.parametrize("mid_run", [False, True])
def test_a_credit_lost_between_routers_is_counted_and_never_comes_back(mid_run: bool) -> None:
    # Credits between routers come back through the router ports, not the link direction, on
    # links where nothing can happen to them; a fault plan (given up front or added mid-run)
    # makes its link return them itself, so the one it drops is lost, counted, and accounted
    # for at every cycle (check_invariants: credits conserved, the lost one included).
    topo = fs.topology.mesh((3, 3))
    n = topo.num_endpoints
    fab = fs.Fabric(
        topology=topo, link=NOC.replace(credits_per_vc=4), router=fs.RouterSpec(pipeline_cycles=2)
    )
    t = fs.traffic.synthetic("uniform", n, rate=0.3, cycles=400, cycle_ps=1000.0, packet_bytes=16, seed=2)
    link = 2 * n  # after each endpoint's injection and ejection: the first router-to-router one
    fault = fs.faults.drop_credit(link, at_ns=50.0)
    if mid_run:
        sim = fab.simulation(t, check_invariants=True)
        sim.step(20)
        sim.inject_fault(fault)
        res = sim.finish()
    else:
        res = fab.run(t, faults=[fault], check_invariants=True)
    links = res.links
    assert links["src"][link] >= n and links["dst"][link] >= n
    assert links["credits_dropped"][link] == 1 and links["credits_dropped"].sum() == 1
    assert links["flits"][link] > 0
    assert res.delivered() == len(t)


def test_a_fault_added_mid_run_counts_the_flits_the_router_ports_carried() -> None:
    # Between routers, plain links' flits travel through the router ports, which keep that
    # link's counters meanwhile; a fault plan added mid-run hands the link back its flits and
    # its count, so a flit index counts every transmission from the start of the run.
    topo = fs.topology.mesh((3, 3))
    n = topo.num_endpoints
    fab = fs.Fabric(topology=topo, link=NOC, router=fs.RouterSpec(pipeline_cycles=2))
    t = fs.traffic.synthetic("uniform", n, rate=0.3, cycles=400, cycle_ps=1000.0, packet_bytes=16, seed=2)
    link = 2 * n  # the first router-to-router direction
    total = int(fab.run(t).links["flits"][link])
    sim = fab.simulation(t, check_invariants=True)
    while sim.state()[link]["transmissions"] < total // 2:
        sim.step(1)
    sent = sim.state()[link]["transmissions"]
    sim.inject_fault(fs.faults.corrupt_flit(link, flit=sent))  # the next flit on it
    assert sim.state()[link]["transmissions"] == sent
    res = sim.finish()
    # (counted from the fault's start instead, it would need `sent` more flits: fewer remain)
    assert res.links["flits_corrupted"][link] == 1
    assert res.links["flits"][link] == total
    assert res.messages["corrupt"].sum() == 1


def test_shortest_path_routing_is_chosen_apart_from_the_topology():
    noc = fs.LinkSpec.preset("noc")
    chosen = fs.RouterSpec(routing="shortest_path", pipeline_cycles=3)
    mesh = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=noc, router=chosen)
    report = mesh.check_deadlock_freedom()
    assert report.routing.startswith("shortest-path tables") and report.ok
    # minimal like dimension order: every pair's zero-load latency is BookSim's 5H + 2 cycles
    dor = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=noc, router=fs.RouterSpec(pipeline_cycles=3))
    for dst in (1, 5, 10, 15):
        t = fs.traffic.messages(0, dst, 16)
        hops = dst % 4 + dst // 4 + 1  # routers passed
        assert (
            mesh.run(t).messages["latency_ps"][0]
            == dor.run(t).messages["latency_ps"][0]
            == (5 * hops + 2) * 1000
        )
    # on a torus, tables without dateline classes close a ring: the static check refuses them
    torus = fs.Fabric(topology=fs.topology.torus((4, 4)), link=noc.replace(vcs=2), router=chosen)
    assert not torus.check_deadlock_freedom().ok
    assert fs.Fabric(topology=fs.topology.torus((4, 4)), link=noc.replace(vcs=2)).check_deadlock_freedom().ok
    with pytest.raises(fs.DeadlockError, match="shortest-path tables"):
        torus.run(fs.traffic.messages(0, 1, 16))


@pytest.mark.parametrize(
    ("topology", "why"),
    [
        (fs.topology.point_to_point(), "a point-to-point fabric has no routers"),
        (fs.topology.switch_star(4, planes=2), "a star of several planes"),
        (fs.topology.cluster(2, 2, 2), "a cluster's endpoints enter at chosen ports"),
    ],
)
def test_shortest_path_routing_where_it_does_not_fit_is_refused(topology, why):
    with pytest.raises(
        fs.SpecError, match=rf"^router\.routing: shortest_path does not fit this topology: {why}"
    ):
        fs.Fabric(
            topology=topology, link=fs.LinkSpec.preset("noc"), router=fs.RouterSpec(routing="shortest_path")
        )
