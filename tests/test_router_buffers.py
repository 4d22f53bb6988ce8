"""VCs and input buffers given on the router (``RouterSpec(vcs=..., buffer_flits=...)``):
what they replace, a throughput known by hand, and their checks."""

import numpy as np
import pytest

import fabricsim as fs

NOC = fs.LinkSpec.preset("noc")  # 16 B flits, 1 ns cycles, 1-cycle latency, 2 VCs x 8 flits


def uniform(n: int, rate: float, seed: int = 3) -> fs.traffic.MessageTraffic:
    return fs.traffic.synthetic(
        "uniform", n, rate=rate, cycles=1500, cycle_ps=1000.0, packet_bytes=16, seed=seed
    )


def test_vcs_on_the_router_are_the_links_vcs():
    # the same fabric said two ways runs the same, flit for flit
    mesh = fs.topology.mesh((4, 4))
    t = uniform(16, 0.4)
    on_link = fs.Fabric(topology=mesh, link=NOC.replace(vcs=4), router=fs.RouterSpec(pipeline_cycles=3))
    on_router = fs.Fabric(topology=mesh, link=NOC, router=fs.RouterSpec(pipeline_cycles=3, vcs=4))
    a, b = on_link.run(t, seed=1), on_router.run(t, seed=1, check_invariants=True)
    assert a.messages.tobytes() == b.messages.tobytes()
    assert a.links.tobytes() == b.links.tobytes()
    # and the static check counts the router's VCs: one VC on a 5x5 torus cannot be made safe
    # (on a 4x4 one it can: no route goes more than half way round, and routes half way round
    # go + from even coordinates, - from odd ones, so neither way closes its ring)
    torus = fs.topology.torus((5, 5))
    assert not fs.Fabric(topology=torus, link=NOC, router=fs.RouterSpec(vcs=1)).check_deadlock_freedom().ok
    assert (
        fs.Fabric(topology=torus, link=NOC.replace(vcs=1), router=fs.RouterSpec(vcs=2))
        .check_deadlock_freedom()
        .ok
    )


@pytest.mark.parametrize("pipeline", [0, 3])
@pytest.mark.parametrize("flits", [1, 2])
def test_a_stream_through_small_buffers_moves_a_buffer_per_credit_round_trip(pipeline, flits):
    # Two routers, one endpoint each, a stream of one-flit messages on one VC. A flit that
    # crosses router 0 in cycle c reaches router 1 at c + pipeline + 1 + latency, crosses it at
    # once, and its credit is back at router 0 `credit_return` cycles later: `flits` flits per
    # round trip of pipeline + 1 + latency + credit_return cycles (3 or 6 here), however deep
    # the endpoint's own buffer (the link's 8 flits).
    r = NOC.resolved()
    round_trip = pipeline + 1 + r["latency_cycles"] + r["credit_return_cycles"]
    fab = fs.Fabric(
        topology=fs.topology.graph([(0, 1)]),
        link=NOC,
        router=fs.RouterSpec(pipeline_cycles=pipeline, buffer_flits=flits),
    )
    res = fab.run(fs.traffic.stream(0, 1, 60, 16), check_invariants=True)
    delivered = np.sort(res.messages["deliver_ps"]) // int(r["cycle_ps"])
    steady = delivered[20:]
    assert np.all(steady[flits:] - steady[:-flits] == round_trip)
    # with buffers covering the round trip, one flit per cycle
    deep = fs.Fabric(
        topology=fs.topology.graph([(0, 1)]),
        link=NOC,
        router=fs.RouterSpec(pipeline_cycles=pipeline, buffer_flits=round_trip),
    )
    gaps = np.diff(np.sort(deep.run(fs.traffic.stream(0, 1, 60, 16)).messages["deliver_ps"]))
    assert np.all(gaps[20:] == r["cycle_ps"])


def test_router_inputs_hold_at_most_their_buffers_and_fill_them_under_load():
    mesh = fs.topology.mesh((4, 4))
    t = fs.traffic.synthetic("hotspot", 16, rate=0.5, cycles=1500, cycle_ps=1000.0, packet_bytes=16, seed=1)
    for flits in (2, 5):
        fab = fs.Fabric(topology=mesh, link=NOC, router=fs.RouterSpec(buffer_flits=flits))
        res = fab.run(t, seed=1, check_invariants=True)
        into_routers = res.links["dst"] >= 16  # (endpoints 0..15, then routers)
        held = res.links["max_occupancy"][into_routers]
        assert held.max() == NOC.vcs * flits  # some input filled every VC's buffer
        assert np.all(held <= NOC.vcs * flits)


def test_router_vcs_and_buffers_are_checked():
    with pytest.raises(fs.SpecError, match=r"router\.vcs.*1\.\.=64"):
        fs.RouterSpec(vcs=0)
    with pytest.raises(fs.SpecError, match=r"router\.buffer_flits"):
        fs.RouterSpec(buffer_flits=0)
    mesh = fs.topology.mesh((2, 2))
    # credits come back 4 at a time: a 2-flit buffer would never free enough of them
    with pytest.raises(fs.SpecError, match=r"router\.buffer_flits.*credit_coalesce_flits \(4\)"):
        fs.Fabric(
            topology=mesh, link=NOC.replace(credit_coalesce_flits=4), router=fs.RouterSpec(buffer_flits=2)
        )
    # virtual cut-through needs a whole packet to fit the router's buffer
    vct = fs.RouterSpec(switching="virtual_cut_through", buffer_flits=2)
    with pytest.raises(fs.SpecError, match=r"router\.buffer_flits.*>= 4 with virtual_cut_through"):
        fs.Fabric(topology=mesh, link=NOC.replace(mtu_bytes=64), router=vct)
    # both round-trip through TOML, and are left out (None) by default
    spec = fs.RouterSpec(vcs=4, buffer_flits=16)
    assert fs.RouterSpec.from_toml_str(spec.to_toml()).to_dict() == spec.to_dict()
    assert (fs.RouterSpec().vcs, fs.RouterSpec().buffer_flits) == (None, None)
