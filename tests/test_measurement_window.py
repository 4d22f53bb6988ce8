"""Synthetic loads sized by the fabric, measured over a window after a warm-up (the standard
NoC methodology): ``fab.run(fs.traffic.synthetic(pattern, rate=..., warmup_cycles=...,
measure_cycles=...))``."""

import numpy as np
import pytest

import fabricsim as fs

NOC = fs.LinkSpec.preset("noc")  # 16 B flits, 1 ns cycles, 1-cycle latency, 2 VCs x 8 flits


def mesh4(**router: object) -> fs.Fabric:
    return fs.Fabric(
        topology=fs.topology.mesh((4, 4)),
        link=NOC,
        router=fs.RouterSpec(pipeline_cycles=3, vcs=2, buffer_flits=8, **router),
    )


def test_the_window_counts_what_was_offered_and_accepted_in_it():
    fab = mesh4()
    res = fab.run(
        fs.traffic.synthetic("uniform", rate=0.2, packet_flits=1, warmup_cycles=300, measure_cycles=2000),
        seed=1,
    )
    assert res.window is not None and (res.window.start_cycle, res.window.end_cycle) == (300, 2300)
    # by hand from the messages: flits created / delivered in cycles 300..2300, per endpoint per cycle
    m = res.messages
    created = (m["inject_ps"] >= 300_000) & (m["inject_ps"] < 2_300_000)
    arrived = (m["deliver_ps"] >= 300_000) & (m["deliver_ps"] < 2_300_000)
    assert res.offered_rate == created.sum() / 16 / 2000
    assert res.accepted_rate == arrived.sum() / 16 / 2000
    assert len(res.packet_latency_cycles) == created.sum()
    # Bernoulli at 0.2 over 32,000 endpoint-cycles: within 5 sigma (0.011) of the rate, and
    # below saturation everything offered is accepted
    assert abs(res.offered_rate - 0.2) < 0.011
    assert abs(res.accepted_rate - res.offered_rate) < 0.01
    assert not res.saturated


def test_at_low_load_latency_is_the_zero_load_latency_of_each_packet():
    # 5 cycles per router + 2 (BookSim's 4-stage router on 1-cycle links), routers = hops + 1
    res = mesh4().run(
        fs.traffic.synthetic("uniform", rate=0.01, warmup_cycles=100, measure_cycles=4000), seed=2
    )
    m = res.messages
    window = (m["inject_ps"] >= 100_000) & (m["inject_ps"] < 4_100_000)
    src, dst = m["src"][window].astype(int), m["dst"][window].astype(int)
    hops = abs(src % 4 - dst % 4) + abs(src // 4 - dst // 4)
    zero_load = 5 * (hops + 1) + 2
    lat = res.packet_latency_cycles
    assert np.all(lat >= zero_load)
    assert np.mean(lat == zero_load) > 0.95  # at 1% load few packets meet another
    assert lat.min() == 12  # neighbours: two routers


def test_past_saturation_the_run_stops_at_its_drain_limit_and_says_so():
    fab = mesh4()
    load = fs.traffic.synthetic("uniform", rate=1.0, warmup_cycles=100, measure_cycles=400, drain_factor=1)
    res = fab.run(load)
    assert res.saturated and res.window is not None and res.window.limit_reached
    assert not res.complete and res.cycles == 500
    # a 4x4 mesh cannot accept 1 flit/node/cycle of uniform traffic (DOR saturates near 0.7)
    assert res.accepted_rate < 0.8 < res.offered_rate
    # a run's own max_cycles still raises
    with pytest.raises(fs.SimulationLimitError):
        fab.run(load, max_cycles=200)


def test_grid_patterns_take_the_fabrics_grid():
    res = mesh4().run(fs.traffic.synthetic("transpose", rate=0.05, measure_cycles=300), seed=3)
    m = res.messages
    assert len(m) > 0
    # (x, y) sends to (y, x): on a 4x4 mesh, endpoint 4y + x to 4x + y
    assert np.array_equal(m["dst"], 4 * (m["src"] % 4) + m["src"] // 4)


def test_windows_are_checked_and_only_windowed_runs_have_window_statistics():
    with pytest.raises(fs.SpecError, match=r"traffic\.rate"):
        fs.traffic.synthetic("uniform", measure_cycles=100)
    with pytest.raises(fs.SpecError, match=r"traffic\.measure_cycles"):
        fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=0)
    # without a window, the default one (tests/test_run_contract.py)
    assert fs.traffic.synthetic("uniform", rate=0.1).cycles == 11_000
    with pytest.raises(fs.SpecError, match=r"traffic\.measure_cycles"):
        fs.traffic.synthetic("uniform", 16, 0.1, 100, 1000.0, 16, measure_cycles=50)
    with pytest.raises(fs.SpecError, match="cycle_ps and packet_bytes come from the fabric"):
        fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100, packet_bytes=16)
    # a link whose packets carry 8 B of overhead leaves nothing in a 1-flit packet of 8 B
    tight = fs.Fabric(
        topology=fs.topology.mesh((2, 2)), link=NOC.replace(flit_bytes=8, packet_overhead_bytes=8)
    )
    with pytest.raises(fs.SpecError, match=r"traffic\.packet_flits"):
        tight.run(fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100))
    plain = mesh4().run(fs.traffic.messages(0, 5, 16))
    assert plain.window is None
    with pytest.raises(ValueError, match="no measurement window"):
        _ = plain.accepted_rate


@pytest.mark.parametrize(("rate", "gaps"), [(0.25, {4}), (0.3, {3, 4})])
def test_periodic_sources_start_a_packet_every_flits_over_rate_cycles(rate, gaps):
    t = fs.traffic.synthetic("uniform", 16, rate, 2000, 1000.0, 16, injection="periodic", seed=5)
    for e in range(16):
        at = t.inject_ps[t.src == e] // 1000
        assert set(np.diff(at)) <= gaps  # period 4, or 3.33 as 3s and 4s
        assert abs(len(at) - 2000 * rate) <= 1
    # sources keep their own phases: they do not all start in the same cycle
    assert len({int(t.inject_ps[t.src == e][0]) for e in range(16)}) > 1


def test_periodic_injection_queues_less_than_bernoulli_at_the_same_load():
    fab = mesh4()
    mean = {
        inj: fab.run(
            fs.traffic.synthetic("uniform", rate=0.5, measure_cycles=3000, warmup_cycles=300, injection=inj)
        ).packet_latency_cycles.mean()
        for inj in ("bernoulli", "periodic")
    }
    assert mean["periodic"] < mean["bernoulli"]


def test_packet_sizes_can_follow_a_distribution():
    # 1-flit and 4-flit packets, half each by count: 2.5 flits a packet on average
    fab = fs.Fabric(
        topology=fs.topology.mesh((4, 4)),
        link=NOC.replace(mtu_bytes=64),
        router=fs.RouterSpec(pipeline_cycles=3),
    )
    load = fs.traffic.synthetic(
        "uniform", rate=0.2, packet_flits={1: 1, 4: 1}, warmup_cycles=200, measure_cycles=4000
    )
    res = fab.run(load, seed=1, check_invariants=True)
    b = res.messages["bytes"]
    assert set(b) == {16, 64}
    assert abs(np.mean(b == 64) - 0.5) < 0.05
    assert abs(res.offered_rate - 0.2) < 0.02  # in flits, whatever the sizes
    assert not res.saturated
    # the same 4-flit packets on the 16 B-MTU link would be four packets each: refused
    with pytest.raises(fs.SpecError, match=r"traffic\.packet_flits.*mtu_bytes"):
        mesh4().run(load)
    for bad in (0, {}, {2: 0.0}, {0: 1.0}, {3: -1.0}):
        with pytest.raises(fs.SpecError, match=r"traffic\.packet_flits"):
            fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100, packet_flits=bad)
    with pytest.raises(fs.SpecError, match=r"traffic\.packet_flits: a size distribution needs the fabric"):
        fs.traffic.synthetic("uniform", 16, 0.1, 100, 1000.0, 16, packet_flits={1: 1, 2: 1})
    with pytest.raises(fs.SpecError, match=r"traffic\.injection"):
        fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100, injection="poisson")  # type: ignore[arg-type]


def test_a_stepped_simulation_runs_the_same_messages_as_the_windowed_run():
    fab = mesh4()
    load = fs.traffic.synthetic("uniform", rate=0.3, warmup_cycles=50, measure_cycles=200)
    sim = fab.simulation(load, seed=4)
    sim.step(100)
    assert sim.traffic == fab.synthetic_messages(load)
    done = sim.finish()
    ran = fab.run(load, seed=4)
    assert done.messages.tobytes() == ran.messages.tobytes()
