"""`network_link`: the links between routers on every routed topology (a cluster's scale-out
network on `cluster`), as BookSim's folded torus has 2-cycle channels between routers and
1-cycle injection and ejection channels."""

import pytest

import fabricsim as fs

NOC = fs.LinkSpec.preset("noc")  # 1 flit per 1 ns cycle, 1-cycle latency


def latency_ps(fab, src, dst):
    res = fab.run(fs.traffic.messages(src, dst, 16))
    return int(res.messages["latency_ps"][0])


@pytest.mark.parametrize(
    ("topology", "src", "dst", "router_hops"),
    [
        (fs.topology.mesh((4, 4)), 0, 15, 6),  # corner to corner: 3 + 3 links between routers
        (fs.topology.torus((4, 4)), 0, 10, 4),  # 2 + 2 around the rings
        (fs.topology.ring(6), 0, 3, 3),
    ],
)
def test_two_cycle_channels_between_routers_add_a_cycle_per_router_hop(topology, src, dst, router_hops):
    router = fs.RouterSpec(pipeline_cycles=3)
    plain = fs.Fabric(topology=topology, link=NOC, router=router)
    folded = fs.Fabric(topology=topology, link=NOC, router=router, network_link=NOC.replace(latency_ns=2.0))
    assert latency_ps(folded, src, dst) - latency_ps(plain, src, dst) == router_hops * 1000


def test_a_slower_network_link_bounds_a_stream_that_crosses_it():
    slow = NOC.replace(gbps_per_lane=64.0)  # half the rate, between routers only
    fab = fs.Fabric(
        topology=fs.topology.mesh((2, 2)),
        link=NOC,
        router=fs.RouterSpec(pipeline_cycles=1),
        network_link=slow,
    )
    res = fab.run(fs.traffic.stream(0, 1, count=200, bytes=16))
    # 200 one-flit packets through one router-to-router link at 0.5 flit/cycle: about 400 ns
    assert res.end_ps / 1000 == pytest.approx(400, rel=0.05)
    links = res.links
    between = (links["src"] >= 4) & (links["dst"] >= 4)  # nodes: 4 endpoints, then routers
    assert links["flits"][between].sum() == 200


def test_network_link_is_refused_where_no_link_joins_two_routers():
    with pytest.raises(fs.SpecError, match="network_link: the topology has no link between two routers"):
        fs.Fabric(topology=fs.topology.switch_star(4), link=NOC, network_link=NOC).run(
            fs.traffic.messages(0, 1, 16)
        )
    with pytest.raises(fs.SpecError, match=r"network_link\.flit_bytes: must be 16, as link.s"):
        fs.Fabric(topology=fs.topology.mesh((2, 2)), link=NOC, network_link=NOC.replace(flit_bytes=32))


# A node link of 128 B packets with 32 B of overhead (80% of its wire) and a NIC link at a
# third of its rate with 4 KiB packets and 26 B of headers (4096 / 4128 of its wire)
NODE = fs.LinkSpec.preset("noc").replace(mtu_bytes=128, packet_overhead_bytes=32, credits_per_vc=64)
NIC = NODE.replace(gbps_per_lane=128.0 / 3, mtu_bytes=4096, packet_overhead_bytes=26, latency_ns=4.0)


def test_a_network_link_with_its_own_packets_moves_the_nodes_flits_at_its_own_payload_rate():
    fab = fs.Fabric(
        topology=fs.topology.mesh((2, 2)),
        link=NODE,
        router=fs.RouterSpec(pipeline_cycles=1),
        network_link=NIC,
    )
    # flits of the node's format per cycle: (128/3 x 4096/4128) / (128 x 128/160)
    pace = (128 / 3 * 4096 / 4128) / (128 * 128 / 160)
    rates = sorted(set(fab.link_directions()["flit_rate"].tolist()))
    assert len(rates) == 2 and rates[1] == 1.0
    assert rates[0] == pytest.approx(pace, rel=1e-6)  # (the rate is whole kb/s)
    # a 1 MiB message across a router-to-router link gets the NIC's payload rate, both fidelities
    nic_payload_gbps = 128 / 3 * 4096 / 4128
    for fidelity in ("cycle", "flow"):
        res = fab.run(fs.traffic.messages(0, 1, 1 << 20), fidelity=fidelity)
        gbps = (1 << 20) * 8 / res.latency_ns()[0]
        assert gbps == pytest.approx(nic_payload_gbps, rel=0.01), fidelity
    # a NIC link faster in payload than the node's is refused: the fabric's clock is the node link's
    with pytest.raises(
        fs.SpecError,
        match=r"network_link\.mtu_bytes: must be a packet format whose payload rate is at most link's 102\.4 Gb/s .*got 4096 \(127\.0 Gb/s of payload\)",
    ):
        fs.Fabric(topology=fs.topology.mesh((2, 2)), link=NODE, network_link=NIC.replace(gbps_per_lane=128.0))


def test_the_static_deadlock_check_and_toml_round_trip_keep_it(tmp_path):
    fab = fs.Fabric(
        topology=fs.topology.torus((4, 4)),
        link=NOC,
        router=fs.RouterSpec(pipeline_cycles=3),
        network_link=NOC.replace(latency_ns=2.0),
    )
    assert fab.check_deadlock_freedom().ok
    path = tmp_path / "folded.toml"
    path.write_text(fab.to_toml())
    back = fs.Fabric.from_toml(path)
    assert back.network_link == fab.network_link
    assert latency_ps(back, 0, 10) == latency_ps(fab, 0, 10)


def test_multi_flit_packets_on_the_noc_preset_say_how_to_raise_its_mtu():
    fab = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=NOC, router=fs.RouterSpec(pipeline_cycles=3))
    load = fs.traffic.synthetic("uniform", rate=0.1, packet_flits=4, warmup_cycles=100, measure_cycles=200)
    with pytest.raises(fs.SpecError, match=r"replace\(mtu_bytes=64\)"):
        fab.run(load)
    wide = fs.Fabric(topology=fab.topology, link=NOC.replace(mtu_bytes=64), router=fab.router)
    res = wide.run(load)
    assert res.complete and res.accepted_rate == pytest.approx(0.1, rel=0.25)
