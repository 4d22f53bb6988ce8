"""Property tests of routed networks under hypothesis-generated specs and traffic
(fabricsim.testing.strategies.routed_fabrics: dimension-order meshes, dateline tori and
rings, fat-trees and switch stars, proven deadlock-free by the static check): every message
is delivered exactly once, credits are conserved every cycle, flows on one VC per routing
class arrive in order, and nothing deadlocks (the watchdog would raise); with link-level retry,
scripted faults on any link direction (router-to-router ones too) lose nothing, and every such
case replays from its TOML."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.testing import Case, check_all, replay
from fabricsim.testing.strategies import message_traffic, routed_fabrics
from fabricsim.testing.strategies import routed_cases as routed_fault_cases


@st.composite
def routed_cases(draw: st.DrawFn) -> tuple[fs.Fabric, fs.LinkSpec, fs.traffic.MessageTraffic, bool]:
    fab = draw(routed_fabrics())
    vcs = fab.router.vcs or fab.link.vcs
    traffic = draw(
        message_traffic(
            num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=60, max_bytes=200, max_time_ns=60
        )
    )
    # a flow keeps its order only when its routing class has one VC to take (grids:
    # dateline tori and rings have two classes; fat-trees and stars spread over paths)
    classes = 2 if fab.topology.type in ("torus", "ring") else 1
    in_order = vcs == classes and fab.topology.type in ("mesh", "torus", "ring")
    return fab, fab.link.replace(vcs=vcs), traffic, in_order


@given(routed_cases(), st.integers(0, 2**32 - 1))
def test_property_dimension_order_grids_deliver_everything_once_without_deadlock(case, seed):
    fab, link, traffic, in_order = case
    assert fab.check_deadlock_freedom().ok
    res = fab.run(traffic, seed=seed, check_invariants=True, watchdog_cycles=20_000)
    assert res.complete
    check_all(
        res, link, in_order_delivery=in_order, in_order_sending=int(fab.topology.params.get("planes", 1)) == 1
    )


@given(routed_fault_cases())
def test_property_faults_on_router_links_lose_nothing_and_cases_replay_from_toml(case: Case):
    res = case.run(watchdog_cycles=50_000)
    assert res.complete
    planes = int(case.topology.params.get("planes", 1))
    check_all(
        res,
        case.link.replace(vcs=case.router.vcs or case.link.vcs),
        in_order_delivery=False,
        in_order_sending=planes == 1,
    )
    text = case.to_toml()
    assert Case.from_toml(text) == case
    again = replay(text)
    assert np.array_equal(again.messages, res.messages) and np.array_equal(again.links, res.links)


def test_a_routed_case_names_router_links_in_its_faults():
    fab = fs.Fabric(
        topology=fs.topology.mesh((2, 2)), link=fs.LinkSpec.preset("noc").replace(retry="go_back_n")
    )
    assert fab.num_link_directions == 2 * 4 + 2 * 4  # four endpoint links, four router links
    router_link = fab.num_link_directions - 1
    case = Case(
        link=fab.link,
        traffic=fs.traffic.messages([0, 3], [3, 0], 512),
        faults=(fs.faults.corrupt_flit(router_link, 0), fs.faults.link_down(router_link - 1, 5.0, 20.0)),
        topology=fab.topology,
        seed=5,
    )
    res = replay(case.to_toml())
    assert res.complete and res.links["flits_corrupted"].sum() + res.links["flits_lost"].sum() >= 1
