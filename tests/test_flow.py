"""The flow fidelity: known answers by hand, the cross-check against the cycle engine on the
same inputs (docs/fidelity.md's scenarios), properties on random fabrics, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim import topology
from fabricsim.analysis.fidelity import cross_check, scenarios
from fabricsim.testing.strategies import (
    collectives,
    memory_fabrics,
    memory_loads,
    message_traffic,
    routed_fabrics,
)

MIB = 1 << 20
IB = fs.LinkSpec.preset("ib_ndr_4x")


def ib_star(n: int) -> fs.Fabric:
    return fs.Fabric(topology=topology.switch_star(n), link=IB)


def cycle_ps(fab: fs.Fabric) -> float:
    return float(fab.link.resolved()["cycle_ps"])


# --- known answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fab",
    [
        fs.Fabric(topology=topology.point_to_point(), link=fs.LinkSpec.preset("pcie6_x16")),
        fs.Fabric.preset("dgx8_nvswitch"),
        fs.Fabric.preset("dgx8_cluster4"),
        fs.Fabric(topology=topology.mesh([4, 4]), link=fs.LinkSpec.preset("noc")),
        fs.Fabric(topology=topology.fat_tree(4), link=IB),
    ],
    ids=["p2p", "dgx8", "cluster", "mesh", "fat_tree"],
)
@pytest.mark.parametrize("nbytes", [1, 4096, MIB])
def test_a_lone_message_arrives_when_the_cycle_engine_delivers_it(fab: fs.Fabric, nbytes: int) -> None:
    # zero load: the head's latency over the path (wires, router pipelines) plus the
    # message's flits at the bottleneck's rate, as the cycle engine's (to the ps it rounds;
    # a slower link's flit times fall on whole cycles there: a cycle apart at most)
    tr = fs.traffic.messages(0, fab.num_ranks - 1, nbytes)
    c, f = fab.run(tr), fab.run(tr, fidelity="flow")
    assert f.messages["send_ps"][0] == c.messages["send_ps"][0] == 0
    tolerance = 1 if fab.network_link is None else cycle_ps(fab)
    assert abs(int(f.messages["deliver_ps"][0]) - int(c.messages["deliver_ps"][0])) <= tolerance


def test_two_senders_into_one_port_share_it_by_hand() -> None:
    # 1 and 2 send 1 MiB each to 0 over a switch: the ejection link to 0 carries both, half
    # its rate each: both finish after 2 x F flits; a lone message after F flits
    fab = ib_star(3)
    flits = IB.message_flits(MIB)
    lone = fab.run(fs.traffic.messages(1, 0, MIB), fidelity="flow").messages["deliver_ps"][0]
    both = fab.run(fs.traffic.messages([1, 2], 0, MIB), fidelity="flow").messages["deliver_ps"]
    assert both[0] == both[1]
    assert both[0] - lone == pytest.approx(flits * cycle_ps(fab), abs=2)


def test_a_port_sends_to_one_destination_in_order_and_to_two_side_by_side() -> None:
    fab = ib_star(3)
    t = cycle_ps(fab) * IB.message_flits(MIB)
    same = fab.run(fs.traffic.messages(0, [1, 1], MIB), fidelity="flow").messages
    # the second starts when the first has left, and arrives one transfer later
    assert same["send_ps"][1] == pytest.approx(t, abs=2)
    assert same["deliver_ps"][1] - same["deliver_ps"][0] == pytest.approx(t, abs=2)
    apart = fab.run(fs.traffic.messages(0, [1, 2], MIB), fidelity="flow").messages
    assert apart["send_ps"][1] == 0
    assert apart["deliver_ps"][0] == apart["deliver_ps"][1]


@pytest.mark.parametrize("vcs", [1, 2])
def test_a_credit_limited_link_carries_credits_per_round_trip_per_vc(vcs: int) -> None:
    # 4 credits per VC over an 11-cycle round trip: a VC carries 4/11 of the link; two
    # messages on VCs of their own, twice that (the cycle engine's numbers, to 0.1%)
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=4, vcs=vcs)
    assert int(link.resolved()["credit_round_trip_cycles"]) == 11
    fab = fs.Fabric(topology=topology.point_to_point(), link=link)
    tr = fs.traffic.messages([0, 0], 1, MIB, vc=[0, vcs - 1])
    c, f = fab.run(tr), fab.run(tr, fidelity="flow")
    flits = 2 * link.message_flits(MIB)
    by_hand_ps = flits / (vcs * 4 / 11) * cycle_ps(fab)
    for res in (c, f):
        assert float(res.messages["deliver_ps"].max()) == pytest.approx(by_hand_ps, rel=2e-3)


def test_a_bit_error_rate_costs_the_go_back_n_efficiency() -> None:
    link = fs.LinkSpec.preset("nvlink4").replace(ber=1e-5)
    r = link.resolved()
    p, w = float(r["flit_error_prob"]), int(r["credit_round_trip_cycles"])
    efficiency = (1 - p) / (1 + (w - 1) * p)
    tr = fs.traffic.messages(0, 1, 16 * MIB)
    clean = fs.Fabric(topology=topology.point_to_point(), link=link.replace(ber=0.0)).run(tr, fidelity="flow")
    noisy = fs.Fabric(topology=topology.point_to_point(), link=link).run(tr, fidelity="flow")
    ratio = float(noisy.messages["deliver_ps"][0]) / float(clean.messages["deliver_ps"][0])
    assert ratio == pytest.approx(1 / efficiency, rel=1e-3)
    assert efficiency < 0.95


def test_one_links_bit_error_rate_costs_that_link_its_retry_efficiency() -> None:
    # the same known answer as a link kind's rate, for one direction of a clean link, whole
    # run or a window; the other direction untouched
    link = fs.LinkSpec.preset("nvlink4")
    r = link.replace(ber=1e-5).resolved()
    p, w = float(r["flit_error_prob"]), int(r["credit_round_trip_cycles"])
    efficiency = (1 - p) / (1 + (w - 1) * p)
    fab = fs.Fabric(topology=topology.point_to_point(), link=link.replace(ber=0.0))
    tr = fs.traffic.messages([0, 1], [1, 0], 16 * MIB)
    clean = fab.run(tr, fidelity="flow").messages["deliver_ps"].astype(float)
    noisy = fab.run(tr, fidelity="flow", faults=[fs.faults.link_ber(0, 1e-5)]).messages["deliver_ps"]
    assert noisy[0] / clean[0] == pytest.approx(1 / efficiency, rel=1e-3)
    assert noisy[1] == clean[1]
    # bad for the first half of the clean transfer: T + (T / 2)(1 - efficiency)
    half_ns = clean[0] / 2 / 1000
    part = fab.run(tr, fidelity="flow", faults=[fs.faults.link_ber(0, 1e-5, duration_ns=half_ns)])
    assert part.messages["deliver_ps"][0] == pytest.approx(clean[0] * (1 + (1 - efficiency) / 2), rel=1e-3)
    with pytest.raises(
        fs.SpecError, match=r"options\.faults\[0\]\.ber: must be a bit-error rate in \[0, 0\.5\)"
    ):
        fab.run(tr, fidelity="flow", faults=[fs.faults.link_ber(0, 0.7)])
    with pytest.raises(
        fs.SpecError, match=r"options\.faults\[0\]: link_ber is modelled at fidelity \"flow\" only"
    ):
        fab.run(tr, faults=[fs.faults.link_ber(0, 1e-5)])
    # a link without retry would lose what it corrupts: refused, saying so
    ib = fs.Fabric(
        topology=topology.point_to_point(), link=fs.LinkSpec.preset("nvlink4").replace(retry="none")
    )
    with pytest.raises(
        fs.SpecError, match=r"options\.faults\[0\]: link_ber on a link without retry loses flits"
    ):
        ib.run(tr, fidelity="flow", faults=[fs.faults.link_ber(0, 1e-5)])


def test_flow_results_carry_the_cycle_engines_fields_and_links() -> None:
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=4 * MIB, algorithm="ring")
    c, f = fab.run(op), fab.run(op, fidelity="flow")
    assert type(f) is type(c)
    assert f.complete and f.run.complete
    np.testing.assert_array_equal(f.run.links["flits"], c.run.links["flits"])
    np.testing.assert_array_equal(f.run.links["payload_bytes"], c.run.links["payload_bytes"])
    assert set(f.to_dict()) == set(c.to_dict())
    assert f.busbw_gbyte_per_s == pytest.approx(c.busbw_gbyte_per_s, rel=0.01)


def test_flow_runs_are_deterministic() -> None:
    fab = fs.Fabric(topology=topology.fat_tree(8), link=IB)
    rng = np.random.default_rng(3)
    src = rng.integers(0, 32, 300)
    dst = (src + rng.integers(1, 32, 300)) % 32
    tr = fs.traffic.messages(src, dst, rng.integers(1, MIB, 300), at_ns=rng.integers(0, 10_000, 300))
    a, b = fab.run(tr, fidelity="flow"), fab.run(tr, fidelity="flow")
    for col in ("send_ps", "deliver_ps", "deliver_order"):
        np.testing.assert_array_equal(a.messages[col], b.messages[col])


# --- the cross-check (docs/fidelity.md) --------------------------------------------------


@pytest.mark.parametrize("scenario", [s for s in scenarios() if s.quick], ids=lambda s: s.name)
def test_flow_agrees_with_cycle_within_the_documented_bound(scenario) -> None:  # type: ignore[no-untyped-def]
    (row,) = cross_check([scenario])
    assert abs(row.error_pct) <= scenario.bound_pct, f"{scenario.name}: {row.error_pct:+.2f}%"
    if scenario.link_dominated:
        assert scenario.bound_pct <= 5.0


def test_every_fabric_preset_has_cross_checked_scenarios() -> None:
    names = {s.name.split(":")[0] for s in scenarios()}
    assert set(fs.Fabric.presets()) <= names


# --- properties ------------------------------------------------------------------------------


@given(fab=routed_fabrics(), data=st.data())
def test_on_random_fabrics_flow_delivers_everything_over_the_cycle_engines_links(
    fab: fs.Fabric, data: st.DataObject
) -> None:
    vcs = fab.router.vcs or fab.link.vcs
    tr = data.draw(message_traffic(num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=30, max_bytes=400))
    c, f = fab.run(tr), fab.run(tr, fidelity="flow")
    m = f.messages
    assert f.complete and (m["deliver_ps"] >= m["send_ps"]).all() and (m["send_ps"] >= m["inject_ps"]).all()
    assert sorted(m["deliver_order"]) == list(range(len(m)))
    # same routes: every link carries the same flits and bytes at both fidelities
    np.testing.assert_array_equal(f.links["flits"], c.links["flits"])
    np.testing.assert_array_equal(f.links["payload_bytes"], c.links["payload_bytes"])
    # no link carries more than its capacity over the run
    assert (f.links["flits"] <= f.links["flit_rate"] * f.cycles + 1e-9).all()


def test_a_message_is_delivered_when_all_its_flits_are_in_not_its_last_one() -> None:
    # found by the cross-check: routers give a message's packets any free VC of its class, so
    # its one-flit packets can overtake each other; the destination delivered the message on
    # its last flit, with 3 of its 9 flits still in the routers (and the run ended there)
    router = fs.RouterSpec(vcs=2, buffer_flits=6, pipeline_cycles=2, switching="virtual_cut_through")
    link = fs.LinkSpec.preset("noc").replace(mtu_bytes=16, credits_per_vc=1)
    fab = fs.Fabric(topology=topology.mesh([2, 2]), link=link, router=router)
    c = fab.run(fs.traffic.messages(0, 1, 129))
    assert c.complete
    assert c.links["flits"][3] == 9  # the ejection link into endpoint 1 carried the 9 flits
    assert c.links["payload_bytes"][3] == 129


@given(op=collectives(ranks=8, max_bytes=256 << 10))
def test_collectives_finish_at_flow_fidelity_with_the_cycle_engines_traffic(
    op: fs.collectives.Collective,
) -> None:
    fab = fs.Fabric.preset("dgx8_nvswitch")
    c, f = fab.run(op), fab.run(op, fidelity="flow")
    assert f.complete
    # the same messages and flits (which of a GPU's four planes a message takes follows the
    # order sends begin in, which the two models may break differently at equal times)
    assert len(f.run.messages) == len(c.run.messages)
    assert f.run.links["flits"].sum() == c.run.links["flits"].sum()
    np.testing.assert_array_equal(np.sort(f.run.messages["bytes"]), np.sort(c.run.messages["bytes"]))
    # every operation finished, none before it started
    assert (f.op_finish_ns >= f.op_start_ns).all()


# --- bad input and stops ---------------------------------------------------------------------


def test_a_link_down_window_holds_the_traffic_for_its_length() -> None:
    # 1 MiB over pcie6 (go-back-N): down from 2 us for 5 us, the message arrives 5 us later
    # than alone (the flow model: the link's capacity is 0 in the window); the cycle engine
    # also pays its replay timeout after the window
    fab = fs.Fabric(topology=topology.point_to_point(), link=fs.LinkSpec.preset("pcie6_x16"))
    tr = fs.traffic.messages(0, 1, MIB)
    lone = int(fab.run(tr, fidelity="flow").messages["deliver_ps"][0])
    down = [fs.faults.link_down(link=0, at_ns=2000.0, duration_ns=5000.0)]
    f = fab.run(tr, fidelity="flow", faults=down)
    assert int(f.messages["deliver_ps"][0]) == pytest.approx(lone + 5_000_000, abs=2)
    c = fab.run(tr, faults=down)
    assert int(c.messages["deliver_ps"][0]) == pytest.approx(lone + 5_000_000, rel=0.05)
    # overlapping windows on one link: down until the last ends
    both = [*down, fs.faults.link_down(link=0, at_ns=4000.0, duration_ns=5000.0)]
    f2 = fab.run(tr, fidelity="flow", faults=both)
    assert int(f2.messages["deliver_ps"][0]) == pytest.approx(lone + 7_000_000, abs=2)


def test_per_flit_faults_are_refused_at_flow_fidelity_naming_the_fault() -> None:
    fab = ib_star(3)
    fault = fs.faults.corrupt_flit(link=0, flit=3)
    with pytest.raises(
        fs.SpecError, match=r"^options\.faults\[0\]: only link_down, link_slow and link_failed are modelled"
    ):
        fab.run(fs.traffic.messages(1, 0, 64), fidelity="flow", faults=[fault])


def test_collectives_through_memory_take_the_cycle_engines_time_at_flow_fidelity() -> None:
    # the stacks are the cycle executor's; each piece read is a message, written where it lands
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=MIB, algorithm="ring", memory=True)
    cycle = fab.run(op)
    flow = fab.run(op, fidelity="flow")
    assert flow.time_us == pytest.approx(cycle.time_us, rel=1e-3)
    assert len(flow.message_op) == len(cycle.message_op)  # one message per piece
    assert flow.memory is not None and cycle.memory is not None
    assert flow.memory_utilization == pytest.approx(cycle.memory_utilization, rel=1e-2)
    without = fab.run(fs.collectives.all_reduce(bytes=MIB, algorithm="ring"), fidelity="flow")
    assert flow.time_us > without.time_us


def _memory_rows_are_whole(res: fs.MemoryFabricResult) -> None:
    rows = res.rows
    assert (rows["complete_ps"] >= rows["memory_ps"]).all()
    assert (rows["memory_ps"] > rows["device_ps"]).all()
    assert (rows["device_ps"] >= rows["issue_ps"]).all()
    for q, spec in zip(res.requesters, res.load.requesters, strict=True):
        assert q.requests == spec.requests
        assert q.mean_outstanding <= spec.outstanding + 1e-9


@given(load=memory_loads(max_requests=120))
def test_memory_loads_at_flow_fidelity_complete_every_request_near_the_cycle_engines_time(
    load: fs.MemoryLoad,
) -> None:
    fab = memory_fabrics()
    cycle = fab.run(load)
    flow = fab.run(load, fidelity="flow")
    _memory_rows_are_whole(flow)
    # each requester issues the same requests in the same order (same seed, same streams)
    for q in range(len(load.requesters)):
        mine_f, mine_c = flow.rows["requester"] == q, cycle.rows["requester"] == q
        for col in ("addr", "write", "device"):
            assert np.array_equal(flow.rows[col][mine_f], cycle.rows[col][mine_c])
    # every device served the same requests (their DRAM accesses may differ: a read that
    # reaches a stack after a write to its address is answered from the write queue)
    for a, b in zip(flow.devices, cycle.devices, strict=True):
        assert a.requests == b.requests
    # small loads are latency-bound: the network's zero-load latency and the stacks are
    # exact, what differs is queueing the flows cannot see (one-flit flows share a link where
    # the cycle engine sends one packet first: docs/fidelity.md); and a refresh may fall on
    # either side of a few ns of difference (HBM3 tRFC: 560 x 0.625 ns = 350 ns)
    trfc_ns = 350.0
    assert abs(flow.time_ns - cycle.time_ns) <= 0.30 * cycle.time_ns + trfc_ns, (
        flow.time_ns,
        cycle.time_ns,
    )


def test_an_hbm_stack_alone_is_the_same_model_at_both_fidelities() -> None:
    traffic = fs.traffic.memory("random", requests=300)
    hbm = fs.HbmSpec.preset("hbm3")
    a = fs.run_memory(hbm, traffic)
    b = fs.run_memory(hbm, traffic, fidelity="flow")
    assert a.time_ns == b.time_ns
    assert np.array_equal(a.finished_cycle, b.finished_cycle)


def test_a_stepped_simulation_is_cycle_level_only() -> None:
    with pytest.raises(fs.SpecError, match=r"^options\.fidelity: a stepped simulation runs at"):
        ib_star(3).simulation(fs.traffic.messages(1, 0, 64), fidelity="flow")


def test_a_consumer_that_never_drains_is_a_deadlock_naming_its_link() -> None:
    fab = fs.Fabric(topology=topology.switch_star(3), link=IB, endpoint=fs.EndpointSpec(drain_gbps=0.0))
    with pytest.raises(fs.DeadlockError, match=r"has no capacity \(endpoint\.drain_gbps = 0\?\)") as e:
        fab.run(fs.traffic.messages(1, 0, 4096), fidelity="flow", check_deadlock=False)
    assert e.value.partial is not None and not e.value.partial.complete


def test_a_time_limit_stops_a_flow_run_with_its_partial_result() -> None:
    fab = ib_star(3)
    with pytest.raises(fs.SimulationLimitError) as e:
        fab.run(fs.traffic.messages([1, 2], 0, [64, MIB]), fidelity="flow", max_time_ns=2000)
    part = e.value.partial
    assert part is not None and not part.complete
    delivered = part.messages["deliver_ps"] >= 0
    assert delivered.tolist() == [True, False]
    op = fs.collectives.all_reduce(bytes=16 * MIB, algorithm="ring")
    with pytest.raises(fs.SimulationLimitError) as e2:
        fs.Fabric.preset("dgx8_nvswitch").run(op, fidelity="flow", max_time_ns=1000)
    assert e2.value.partial is not None and not e2.value.partial.complete


@pytest.mark.parametrize("fidelity", ["cycle", "flow"])
def test_a_run_without_its_messages_keeps_every_summary(fidelity: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=MIB, algorithm="ring", chunks=4)
    full = fab.run(op, fidelity=fidelity)
    lean = fab.run(op, fidelity=fidelity, keep_messages=False)
    assert full.run.messages_kept and not lean.run.messages_kept
    assert lean.time_ns == full.time_ns and lean.busbw_gbyte_per_s == full.busbw_gbyte_per_s
    assert np.array_equal(lean.rank_finish_us, full.rank_finish_us)
    assert np.array_equal(lean.op_finish_ns, full.op_finish_ns)
    assert np.array_equal(lean.link_utilization, full.link_utilization)
    assert len(lean.message_op) == 0 < len(full.message_op)
    with pytest.raises(fs.NotKeptError, match=r"^messages: this run kept no per-message columns"):
        _ = lean.run.messages
    assert "messages" not in lean.run.tables()
    lean.to_perfetto(tmp_path / "lean.json")
    traffic = fs.traffic.messages([0, 1, 2], [3, 3, 0], 1 << 16)
    kept = fab.run(traffic, fidelity=fidelity)
    bare = fab.run(traffic, fidelity=fidelity, keep_messages=False)
    assert bare.end_ps == kept.end_ps
    assert np.array_equal(bare.links["flits"], kept.links["flits"])
    assert bare.stats() == {"cycles": float(kept.cycles), "end_ns": kept.end_ps / 1000.0}


def test_workloads_built_from_their_messages_refuse_to_drop_them() -> None:
    fab = memory_fabrics()
    with pytest.raises(fs.SpecError, match=r"^options\.keep_messages: a memory load's request rows"):
        fab.run(fs.traffic.loads(0, "peer:1", requests=4), keep_messages=False)
    load = fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100)
    with pytest.raises(fs.SpecError, match=r"^options\.keep_messages: a synthetic load's statistics"):
        fs.Fabric(topology=topology.ring(4), link=fs.LinkSpec.preset("noc")).run(load, keep_messages=False)
    with pytest.raises(fs.SpecError, match=r"^options\.keep_messages: must be True or False"):
        fab.run(fs.traffic.messages(0, 1, 64), keep_messages="no")


def test_a_failed_plane_link_is_routed_around_by_the_other_planes() -> None:
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=4 * MIB, algorithm="ring", chunks=4)
    mine = np.flatnonzero(fab.link_directions()["src"] == 0)  # GPU 0 to its 4 planes
    base = fab.run(op, fidelity="flow")
    hurt = fab.run(op, fidelity="flow", faults=[fs.faults.link_failed(int(mine[0]))])
    flits = hurt.run.links["flits"]
    assert flits[mine[0]] == 0
    # the same flits leave GPU 0, over three planes instead of four
    assert flits[mine].sum() == base.run.links["flits"][mine].sum()
    assert hurt.time_us > base.time_us


def test_a_failed_fat_tree_uplink_is_routed_around_by_another_spine() -> None:
    fab = fs.Fabric(topology=topology.fat_tree(8), link=fs.LinkSpec.preset("ib_ndr_4x"))
    ld = fab.link_directions()
    n = fab.num_endpoints
    rng = np.random.default_rng(1)
    dst = rng.permutation(n)
    keep = np.arange(n) != dst
    traffic = fs.traffic.messages(np.arange(n)[keep], dst[keep], MIB)
    base = fab.run(traffic, fidelity="flow")
    inner = np.flatnonzero((ld["src"] >= n) & (ld["dst"] >= n) & (base.links["flits"] > 0))
    for link in inner[:3]:
        hurt = fab.run(traffic, fidelity="flow", faults=[fs.faults.link_failed(int(link))])
        assert hurt.links["flits"][link] == 0
        assert hurt.complete and hurt.links["flits"].sum() == base.links["flits"].sum()  # same hops


@pytest.mark.parametrize("dims", [(4, 4), (5, 3), (8,)])
def test_a_failed_torus_link_is_routed_the_other_way_round_or_the_other_dimension_first(
    dims: tuple[int, ...],
) -> None:
    fab = fs.Fabric(topology=topology.torus(dims), link=fs.LinkSpec.preset("noc").replace(vcs=2))
    n = fab.num_endpoints
    ld = fab.link_directions()
    traffic = fs.traffic.messages(np.arange(n), (np.arange(n) * 3 + 1) % n, 4096)
    base = fab.run(traffic, fidelity="flow")
    inner = np.flatnonzero((ld["src"] >= n) & (ld["dst"] >= n) & (base.links["flits"] > 0))
    for link in inner[:: max(1, len(inner) // 6)]:
        hurt = fab.run(traffic, fidelity="flow", faults=[fs.faults.link_failed(int(link))])
        assert hurt.complete and hurt.links["flits"][link] == 0
        # the same flits leave the endpoints; the detours are at least as long
        out = ld["src"] < n
        assert hurt.links["flits"][out].sum() == base.links["flits"][out].sum()
        assert hurt.links["flits"].sum() >= base.links["flits"].sum()


def test_a_failed_mesh_link_is_routed_around_with_the_other_dimension_first() -> None:
    fab = fs.Fabric(topology=topology.mesh((3, 3)), link=fs.LinkSpec.preset("noc"))
    ld = fab.link_directions()
    n = fab.num_endpoints
    # endpoint 0 at (0,0) to 8 at (2,2): x first through router 1; failed, y first through 3
    tr = fs.traffic.messages(0, 8, 4096)
    link = int(np.flatnonzero((ld["src"] == n + 0) & (ld["dst"] == n + 1))[0])
    res = fab.run(tr, fidelity="flow", faults=[fs.faults.link_failed(link)], link_spans=100)
    assert res.complete and n + 3 in res.link_spans["dst"] and n + 1 not in res.link_spans["dst"]
    # along one row there is no other way: refused, naming the link
    with pytest.raises(fs.SpecError, match=r"every route from endpoint 0 to 2 crosses a failed link"):
        fab.run(fs.traffic.messages(0, 2, 64), fidelity="flow", faults=[fs.faults.link_failed(link)])


def test_a_failed_link_with_no_way_around_is_refused_naming_it() -> None:
    fab = fs.Fabric.preset("dgx8_cluster4")
    ld = fab.link_directions()
    nic_in = int(np.flatnonzero((ld["dst"] == 0) & (ld["src"] >= fab.num_endpoints))[-1])
    op = fs.collectives.all_reduce(bytes=MIB, algorithm="ring")
    with pytest.raises(
        fs.SpecError, match=r"^options\.faults: every route from endpoint 31 to 0 crosses a failed link"
    ):
        fab.run(op, fidelity="flow", faults=[fs.faults.link_failed(nic_in)])
    with pytest.raises(fs.SpecError, match=r"^options\.faults\[0\]: link_failed is modelled at fidelity"):
        fab.run(fs.traffic.messages(0, 1, 64), faults=[fs.faults.link_failed(0)])


@given(fab=routed_fabrics(), data=st.data())
def test_on_random_fabrics_a_failed_link_is_avoided_or_the_run_refused_naming_it(
    fab: fs.Fabric, data: st.DataObject
) -> None:
    vcs = fab.router.vcs or fab.link.vcs
    tr = data.draw(message_traffic(num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=20, max_bytes=400))
    link = data.draw(st.integers(0, fab.num_link_directions - 1))
    base = fab.run(tr, fidelity="flow")
    try:
        res = fab.run(tr, fidelity="flow", faults=[fs.faults.link_failed(link)])
    except fs.SpecError as e:
        # refused only where the traffic used the link and some message has no way around it
        assert str(e).startswith("options.faults: every route from endpoint ")
        assert f"direction {link} (" in str(e)
        assert base.links["flits"][link] > 0
        return
    assert res.complete and res.links["flits"][link] == 0
    assert (res.messages["deliver_ps"] >= 0).all()
    # every message leaves its endpoint once, in the same flits (nothing lost or duplicated)
    out = fab.link_directions()["src"] < fab.num_endpoints
    assert res.links["flits"][out].sum() == base.links["flits"][out].sum()
