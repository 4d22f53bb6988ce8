"""Topologies and the static deadlock check."""

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.testing import check_all


def fabric(topology, vcs):
    return fs.Fabric(topology=topology, link=fs.LinkSpec.preset("noc").replace(vcs=vcs))


def test_an_8x8_torus_with_one_vc_has_a_routing_cycle_and_two_vcs_do_not():
    report = fabric(fs.topology.torus((8, 8)), vcs=1).check_deadlock_freedom()
    assert not report.ok
    # one ring of the torus: 8 channels of one dimension on VC 0
    assert len(report.cycle) == 8 and {vc for _, _, vc in report.cycle} == {0}
    assert len({(port - 1) // 2 for _, port, _ in report.cycle}) == 1
    assert "NOT deadlock-free" in str(report)
    two = fabric(fs.topology.torus((8, 8)), vcs=2).check_deadlock_freedom()
    assert two.ok and two.cycle == [] and two.channels == 8 * 8 * 4 * 2
    assert "dateline" in two.routing


@pytest.mark.parametrize(
    ("topology", "vcs", "ok"),
    [
        (fs.topology.mesh((8, 8)), 1, True),
        (fs.topology.mesh((4, 3, 2)), 1, True),
        (fs.topology.ring(6), 1, False),
        (fs.topology.ring(6), 2, True),
        (fs.topology.torus((4, 4, 4)), 2, True),
        (fs.topology.fully_connected(8), 1, True),
        (fs.topology.switch_star(8), 1, True),
        (fs.topology.point_to_point(), 1, True),
        (fs.topology.fat_tree(8), 1, True),
        (fs.topology.fat_tree(12, oversubscription=3), 1, True),
        (fs.topology.fat_tree(8, levels=3), 1, True),
        (fs.topology.fat_tree(8, oversubscription=3, levels=3, spine="ecmp"), 1, True),
        (fs.topology.dragonfly(1), 2, True),
        (fs.topology.dragonfly(2, a=3, h=3), 2, True),
    ],
)
def test_deadlock_freedom_by_topology(topology, vcs, ok):
    assert fabric(topology, vcs).check_deadlock_freedom().ok == ok


@pytest.mark.parametrize(
    ("topology", "path"),
    [
        (lambda: fs.topology.mesh((8, 1)), "topology.dims[1]"),
        (lambda: fs.topology.torus(()), "topology.dims"),
        (lambda: fs.topology.ring(2), "topology.n"),
        (lambda: fs.topology.switch_star(1), "topology.n"),
        (lambda: fs.topology.mesh((2048, 1024)), "topology.dims"),
        (lambda: fs.topology.fat_tree(65), "topology.leaves"),
        (lambda: fs.topology.dragonfly(0), "topology.p"),
        (lambda: fs.topology.dragonfly(1, a=65), "topology.a"),
    ],
)
def test_bad_topologies_name_the_field(topology, path):
    """Caught by the builder (Python) or by the engine's validation: either names the field."""
    with pytest.raises(fs.SpecError) as info:
        fabric(topology(), vcs=2)
    assert str(info.value).startswith(path), str(info.value)


class _TinyGraph:
    """Stands in for a networkx graph (networkx is not a dependency)."""

    nodes = ("a", "b", "c", "d")
    edges = (("a", "b"), ("b", "c"), ("c", "d"))


def test_user_graphs_route_on_shortest_paths_and_say_whether_that_can_deadlock():
    line = fs.topology.graph([(0, 1), (1, 2), (2, 3)])
    assert line.num_endpoints == 4
    report = fabric(line, vcs=1).check_deadlock_freedom()
    assert report.ok and "shortest-path" in report.routing  # a tree cannot form a cycle
    ring = fs.topology.graph([(i, (i + 1) % 6) for i in range(6)])
    loop = fabric(ring, vcs=4).check_deadlock_freedom()
    assert not loop.ok and len(loop.cycle) >= 3  # shortest paths around a ring: not guaranteed
    assert fabric(fs.topology.from_networkx(_TinyGraph()), vcs=1).check_deadlock_freedom().ok
    star = fs.topology.from_networkx(_TinyGraph(), endpoints=["a", "d"])
    assert star.num_endpoints == 2 and star.params["endpoints"] == [0, 3]


@pytest.mark.parametrize(
    ("topology", "path", "words"),
    [
        (fs.topology.graph([(0, 1), (2, 3)]), "topology.edges", "unreachable"),
        (fs.topology.graph([(0, 0), (0, 1)]), "topology.edges[0]", "no self loops"),
        (fs.topology.graph([(0, 1)], endpoints=[0, 5]), "topology.endpoints[1]", "a router in 0..2"),
        (fs.topology.graph([(0, 1)], endpoints=[0]), "topology.endpoints", "2..="),
    ],
)
def test_bad_user_graphs_name_the_field(topology, path, words):
    with pytest.raises(fs.SpecError) as info:
        fabric(topology, vcs=1)
    assert str(info.value).startswith(path) and words in str(info.value), str(info.value)


@pytest.mark.parametrize(("oversubscription", "slowdown"), [(1, 1), (3, 3)])
def test_a_fat_tree_leaf_to_leaf_permutation_runs_at_its_uplink_share(oversubscription, slowdown):
    # Every endpoint of leaf 0 streams to its partner on leaf 1. d-mod-k spreads the flows evenly
    # over the spines, so with down : up = k : 1 each uplink carries k flows: the transfer takes
    # k times the serialization time of one stream (50 messages of 4 flits), plus a little latency.
    topology = fs.topology.fat_tree(8, oversubscription=oversubscription)
    down = topology.params["down"]
    traffic = fs.traffic.concat(*[fs.traffic.stream(i, down + i, 50, 64) for i in range(down)])
    res = fabric(topology, vcs=1).run(traffic, check_invariants=True)
    assert res.delivered() == 50 * down
    serialization = 50 * 4 * slowdown
    assert serialization <= res.stats()["cycles"] <= serialization + 12


def test_ecmp_spreads_flows_that_d_mod_k_piles_onto_one_spine():
    # Leaf 0's four endpoints stream to endpoints 4, 8, 12, 16 (all = 0 mod 4 spines): d-mod-k
    # sends all four flows up spine 0 (4x one stream's 200 cycles); the pinned flow hash puts
    # them on three spines, two flows sharing one (2x). Both are deadlock-free with one VC.
    traffic = fs.traffic.concat(*[fs.traffic.stream(i, 4 * (i + 1), 50, 64) for i in range(4)])
    cycles = {}
    for spine, named in (("d_mod_k", "d-mod-k spine choice"), ("ecmp", "ECMP: spine by flow hash")):
        fab = fabric(fs.topology.fat_tree(8, spine=spine), vcs=1)
        report = fab.check_deadlock_freedom()
        assert report.ok and named in report.routing, report.routing
        res = fab.run(traffic, check_invariants=True)
        assert res.delivered() == 200
        cycles[spine] = res.stats()["cycles"]
    assert 800 <= cycles["d_mod_k"] <= 812
    assert 400 <= cycles["ecmp"] <= 412


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"radix": 1}, "topology.radix"),
        ({"radix": 8, "oversubscription": 0}, "topology.oversubscription"),
        ({"radix": 8, "spine": "random"}, "topology.spine"),
        ({"radix": 8, "levels": 4}, "topology.levels"),
        ({"radix": 5, "levels": 3}, "topology.radix"),
    ],
)
def test_bad_fat_trees_name_the_field(kwargs, path):
    with pytest.raises(fs.SpecError) as info:
        fs.topology.fat_tree(**kwargs)
    assert str(info.value).startswith(path), str(info.value)


def test_a_dragonfly_needs_a_second_vc_class_after_the_global_hop():
    # With one VC, a destination group's local channels wait on global channels that wait on
    # another group's local channels: the static check finds a cycle through several groups.
    p, a = 2, 4
    first_global = p + a - 1
    one = fabric(fs.topology.dragonfly(p), vcs=1).check_deadlock_freedom()
    assert not one.ok and {vc for _, _, vc in one.cycle} == {0}
    assert any(port >= first_global for _, port, _ in one.cycle)
    assert len({router // a for router, _, _ in one.cycle}) >= 2
    two = fabric(fs.topology.dragonfly(p), vcs=2).check_deadlock_freedom()
    assert two.ok and "global hop" in two.routing
    traffic = fs.traffic.synthetic(
        "uniform", 72, rate=0.2, cycles=2000, cycle_ps=1000.0, packet_bytes=16, seed=4
    )
    res = fabric(fs.topology.dragonfly(p), vcs=2).run(traffic, check_invariants=True)
    assert res.delivered() == len(traffic.src)


def test_valiant_spreads_adversarial_group_to_group_traffic_over_all_global_links():
    # All 8 endpoints of group 0 stream to group 1. Minimal routing funnels the 8 flows through
    # the one global link between the groups (8 x 200 flit-cycles); Valiant sends each message
    # through an intermediate group, so the load spreads over many global links.
    traffic = fs.traffic.concat(*[fs.traffic.stream(i, 8 + i, 50, 64) for i in range(8)])
    cycles = {}
    for routing in ("minimal", "valiant"):
        fab = fabric(fs.topology.dragonfly(2, routing=routing), vcs=3)
        res = fab.run(traffic, check_invariants=True)
        assert res.delivered() == 400
        cycles[routing] = res.stats()["cycles"]
    assert 1600 <= cycles["minimal"] <= 1615
    assert cycles["valiant"] < 1600 / 2.5


def test_valiant_needs_three_vc_classes():
    two = fabric(fs.topology.dragonfly(2, routing="valiant"), vcs=2).check_deadlock_freedom()
    assert not two.ok and two.cycle
    three = fabric(fs.topology.dragonfly(2, routing="valiant"), vcs=3).check_deadlock_freedom()
    assert three.ok and "Valiant" in three.routing
    with pytest.raises(fs.SpecError, match=r"^topology\.routing: must be 'minimal', 'valiant' or 'ugal'"):
        fs.topology.dragonfly(2, routing="adaptive")


@pytest.mark.parametrize("k", [4, 8])
def test_d_mod_k_routes_a_half_shift_through_a_k_ary_fat_tree_without_contention(k):
    # Every endpoint streams to the one half the network away (another pod). d-mod-k gives every
    # flow its own aggregation uplink, core and down path, so all finish in one stream's
    # serialization time (50 messages x 4 flits) plus latency; hashing (ECMP) collides.
    topology = fs.topology.fat_tree(k, levels=3)
    n = topology.num_endpoints
    assert n == k**3 // 4
    traffic = fs.traffic.concat(*[fs.traffic.stream(i, (i + n // 2) % n, 50, 64) for i in range(n)])
    res = fabric(topology, vcs=1).run(traffic, check_invariants=True)
    assert res.delivered() == 50 * n
    assert 200 <= res.stats()["cycles"] <= 215
    ecmp = fabric(fs.topology.fat_tree(k, levels=3, spine="ecmp"), vcs=1).run(traffic)
    assert ecmp.stats()["cycles"] > 400


def test_switch_planes_spread_messages_and_multiply_bandwidth():
    link = fs.LinkSpec.preset("noc")
    one = fs.Fabric(topology=fs.topology.switch_star(8), link=link, router=fs.RouterSpec(pipeline_cycles=3))
    four = fs.Fabric(
        topology=fs.topology.switch_star(8, planes=4), link=link, router=fs.RouterSpec(pipeline_cycles=3)
    )
    assert four.check_deadlock_freedom().ok
    # zero load: the same single switch hop on any plane
    probe = fs.traffic.messages(2, 5, 16)
    assert one.run(probe).messages["latency_ps"][0] == four.run(probe).messages["latency_ps"][0]
    # all-to-all, 16 messages per pair: each source's messages go round its 4 ports
    src, dst = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    keep = src != dst
    src, dst = np.repeat(src[keep], 16), np.repeat(dst[keep], 16)
    traffic = fs.traffic.messages(src, dst, 256)
    a, b = one.run(traffic, check_invariants=True), four.run(traffic, check_invariants=True)
    check_all(b, link, in_order_delivery=False, in_order_sending=False)
    assert len(b.links) == 2 * 8 * 4  # an injection and an ejection link per endpoint and plane
    injected = b.links[b.links["src"] < 8]
    per_port = injected["flits"].reshape(8, 4)  # endpoint by endpoint, plane by plane
    assert np.all(per_port == per_port[:, :1])  # 112 messages per source: 28 per plane
    t_one = a.messages["deliver_ps"].max()
    t_four = b.messages["deliver_ps"].max()
    assert t_one / t_four == pytest.approx(4, rel=0.1)
    with pytest.raises(fs.SpecError, match=r"topology\.planes: must be in 1\.\.=64"):
        fs.Fabric(topology=fs.topology.switch_star(8, planes=0), link=link)
