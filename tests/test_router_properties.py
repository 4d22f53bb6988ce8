"""Property tests of routed networks under hypothesis-generated specs and traffic: on
dimension-order meshes and dateline tori (proven deadlock-free by the static check), every
message is delivered exactly once, credits are conserved every cycle, flows on one VC per
routing class arrive in order, and nothing deadlocks (the watchdog would raise)."""

from hypothesis import given
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.testing import check_all
from fabricsim.testing.strategies import message_traffic

NOC = fs.LinkSpec.preset("noc")

# (topology, its routing classes: dateline tori and rings need two)
GRIDS = [
    (fs.topology.mesh((3, 3)), 1),
    (fs.topology.mesh((4, 2, 2)), 1),
    (fs.topology.torus((3, 4)), 2),
    (fs.topology.torus((2, 2, 3)), 2),
    (fs.topology.ring(5), 2),
]


@st.composite
def routed_cases(draw: st.DrawFn) -> tuple[fs.Fabric, fs.LinkSpec, fs.traffic.MessageTraffic, bool]:
    topology, classes = draw(st.sampled_from(GRIDS))
    vcs = classes * draw(st.integers(1, 2))
    mtu_flits = draw(st.integers(1, 4))
    switching = draw(st.sampled_from(["wormhole", "virtual_cut_through"]))
    # (cut-through needs a whole packet in a buffer)
    low = mtu_flits if switching == "virtual_cut_through" else 1
    router = fs.RouterSpec(
        vcs=vcs,
        buffer_flits=draw(st.integers(low, 6)),
        pipeline_cycles=draw(st.integers(0, 3)),
        allocator=draw(st.sampled_from(["round_robin", "oldest_first", "islip"])),
        switching=switching,
    )
    link = NOC.replace(mtu_bytes=16 * mtu_flits, credits_per_vc=draw(st.integers(mtu_flits, 8)))
    fab = fs.Fabric(topology=topology, link=link, router=router)
    traffic = draw(
        message_traffic(
            num_endpoints=topology.num_endpoints, vcs=vcs, max_messages=60, max_bytes=200, max_time_ns=60
        )
    )
    # a flow keeps its order only when its routing class has one VC to take
    return fab, link.replace(vcs=vcs), traffic, vcs == classes


@given(routed_cases(), st.integers(0, 2**32 - 1))
def test_property_dimension_order_grids_deliver_everything_once_without_deadlock(case, seed):
    fab, link, traffic, in_order = case
    assert fab.check_deadlock_freedom().ok
    res = fab.run(traffic, seed=seed, check_invariants=True, watchdog_cycles=20_000)
    assert res.complete
    check_all(res, link, in_order_delivery=in_order)
