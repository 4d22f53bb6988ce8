"""Synthetic sources spread their packets over the VCs a fresh packet may enter on, as a
BookSim source puts each packet on a free VC: on one VC, a router with separate routing, VC
and switch allocation stages serves a source's 1-flit packets at most one per three cycles."""

import numpy as np
import pytest

import fabricsim as fs
from fabricsim import _core
from fabricsim.traffic.synthetic import spread_over_vcs

NOC4 = fs.LinkSpec.preset("noc").replace(vcs=4, credits_per_vc=8)


def test_each_sources_packets_take_the_injection_vcs_in_turn():
    t = fs.traffic.messages(src=[0, 1, 0, 0, 1, 0, 2], dst=[1, 0, 1, 1, 0, 1, 0], bytes=16)
    spread = spread_over_vcs(t, 3)
    assert spread.vc.tolist() == [0, 0, 1, 2, 1, 0, 0]
    assert spread_over_vcs(t, 1) is t


def test_injection_vcs_are_the_first_routing_classs_share_or_all_under_dimension_order():
    mesh = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=NOC4, router=fs.RouterSpec(pipeline_cycles=3))
    torus = fs.Fabric(topology=fs.topology.torus((4, 4)), link=NOC4, router=fs.RouterSpec(pipeline_cycles=3))
    dragonfly = fs.Fabric(
        topology=fs.topology.dragonfly(2, 4, 2), link=NOC4, router=fs.RouterSpec(pipeline_cycles=3)
    )
    assert _core.fabric_injection_vcs(mesh._json) == 4  # one class: every VC
    # dateline classes, set as a packet enters each dimension (BookSim's): any VC at injection
    assert _core.fabric_injection_vcs(torus._json) == 4
    assert _core.fabric_injection_vcs(dragonfly._json) == 2  # classes by hop: class 0's two
    load = fs.traffic.synthetic("uniform", rate=0.1, warmup_cycles=0, measure_cycles=200)
    assert set(np.unique(torus.synthetic_messages(load).vc)) == {0, 1, 2, 3}
    assert set(np.unique(dragonfly.synthetic_messages(load).vc)) == {0, 1}


def test_the_staged_router_is_not_capped_at_a_packet_per_three_cycles_per_source():
    # before the spread, every topology saturated near 0.33 with the staged router
    fab = fs.Fabric(topology=fs.topology.mesh((8, 8)), link=NOC4, router=fs.RouterSpec(stages={}))
    res = fab.run(fs.traffic.synthetic("uniform", rate=0.37, warmup_cycles=1000, measure_cycles=2000, seed=0))
    assert not res.saturated
    assert res.accepted_rate == pytest.approx(0.37, rel=0.02)
