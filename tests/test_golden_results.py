"""Recorded results of fixed routed runs: the engine's speed work must leave every result
bit-identical, and these digests say so for each router configuration the hot path
specializes (round-robin with routing in VC allocation, staged and lookahead pipelines,
oldest-first, iSLIP with cut-through, adaptive routing, fat-tree up/down).

A digest changes only with an intended change of behaviour: update it in the same commit
and say there why the results moved. (Last moved on 2026-12-07: the torus and dragonfly
cases, when a packet's hop into its endpoint came to take any VC of its message class, and
torus routing came to set a packet's dateline class as it enters a dimension and to let
sources inject on any VC, as BookSim's torus routing does; the other cases held. Before that,
on 2026-12-06, second session: a message is
delivered when all its flits are in, not on its last flit; its one-flit packets overtake each
other on different VCs, and the 4-flit cases delivered messages with packets still in the
routers. The 1-flit cases held. Before that, the same day, when synthetic traffic left numpy's
generator for the project's own, fabricsim.streams.)"""

import hashlib

import numpy as np
import pytest

import fabricsim as fs

NOC = fs.LinkSpec.preset("noc")
STAGES = {"routing": 1, "vc_allocation": 2, "switch_allocation": 1, "traversal": 1}

CASES = {
    "mesh_round_robin": (
        fs.topology.mesh((6, 6)),
        NOC.replace(vcs=2),
        fs.RouterSpec(pipeline_cycles=3),
        0.35,
    ),
    "torus_oldest_first": (
        fs.topology.torus((5, 5)),
        NOC.replace(vcs=4),
        fs.RouterSpec(allocator="oldest_first"),
        0.4,
    ),
    "mesh_islip_cut_through": (
        fs.topology.mesh((4, 4)),
        NOC.replace(vcs=2, credits_per_vc=8),
        fs.RouterSpec(allocator="islip", switching="virtual_cut_through"),
        0.3,
    ),
    "dragonfly_ugal": (
        fs.topology.dragonfly(2, 4, 2, routing="ugal"),
        NOC.replace(vcs=4),
        fs.RouterSpec(),
        0.3,
    ),
    "mesh_staged": (fs.topology.mesh((5, 5)), NOC.replace(vcs=3), fs.RouterSpec(stages=STAGES), 0.3),
    "mesh_lookahead": (
        fs.topology.mesh((5, 5)),
        NOC.replace(vcs=2),
        fs.RouterSpec(stages={**STAGES, "vc_allocation": 1}, lookahead_routing=True),
        0.3,
    ),
    "fat_tree_3_levels": (fs.topology.fat_tree(4, levels=3), NOC.replace(vcs=2), fs.RouterSpec(), 0.4),
}

# (case, flits per packet) -> the first 16 hex digits of the results' SHA-256
DIGESTS = {
    ("mesh_round_robin", 1): "df1865025b29c09c",
    ("mesh_round_robin", 4): "9a2f07a468d2e4f1",
    ("torus_oldest_first", 1): "de22b54df62e8ada",
    ("torus_oldest_first", 4): "b9c68aa47cc5cbf0",
    ("mesh_islip_cut_through", 1): "70e0a80a337969cf",
    ("mesh_islip_cut_through", 4): "68ad2c666d2d9bea",
    ("dragonfly_ugal", 1): "3158b5e6855f7429",
    ("dragonfly_ugal", 4): "1924de835fc34b7d",
    ("mesh_staged", 1): "e44a11b0e88c29d5",
    ("mesh_staged", 4): "a982df4b57c1226d",
    ("mesh_lookahead", 1): "ce468cce61c03fa0",
    ("mesh_lookahead", 4): "7e6dee7239e52b96",
    ("fat_tree_3_levels", 1): "533babb490ed8cf2",
    ("fat_tree_3_levels", 4): "0df979efbe66bb5d",
}


def digest(res: fs.Result) -> str:
    """Every message's times and order, every link's counters, every buffer's occupancy."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(res.messages).tobytes())
    h.update(np.ascontiguousarray(res.links).tobytes())
    for histogram in res.occupancy_histograms():
        h.update(np.ascontiguousarray(histogram).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("case", "packet_flits"), sorted(DIGESTS))
def test_routed_results_match_their_recorded_digest(case: str, packet_flits: int) -> None:
    topology, link, router, rate = CASES[case]
    fab = fs.Fabric(topology=topology, link=link, router=router)
    traffic = fs.traffic.synthetic(
        "uniform",
        topology.num_endpoints,
        rate=rate,
        cycles=2000,
        cycle_ps=1000.0,
        packet_bytes=16 * packet_flits,
        seed=3,
    )
    res = fab.run(traffic, seed=2, check_invariants=True)
    assert res.delivered() == len(res.messages), "every message is delivered"
    assert digest(res) == DIGESTS[(case, packet_flits)]
