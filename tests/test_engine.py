"""Engine behaviour: determinism, modes, limits, deadlock, GIL release."""

import threading
import time

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.testing import check_all


def fabric(**link_changes):
    link = fs.LinkSpec.preset("pcie6_x16").replace(**link_changes)
    return fs.Fabric(topology=fs.topology.point_to_point(), link=link)


def random_traffic(seed, n=300):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 2, n)
    return fs.traffic.messages(
        src, 1 - src, rng.integers(1, 20_000, n), at_ns=rng.uniform(0, 5_000, n), vc=rng.integers(0, 3, n)
    )


def same(a, b):
    assert np.array_equal(a.messages, b.messages)
    assert np.array_equal(a.links, b.links)
    assert (a.cycles, a.end_ps, a.events) == (b.cycles, b.end_ps, b.events)
    for x, y in zip(a.occupancy_histograms(), b.occupancy_histograms(), strict=True):
        assert np.array_equal(x, y)


def test_same_inputs_and_seed_give_identical_results():
    fab, t = fabric(credits_per_vc=5), random_traffic(1)
    same(fab.run(t, seed=3), fab.run(t, seed=3))


@pytest.mark.parametrize("seed", range(4))
def test_idle_skipping_and_tick_all_agree_bit_for_bit(seed):
    fab, t = fabric(credits_per_vc=1 + seed * 3), random_traffic(seed)
    a = fab.run(t, check_invariants=True)
    b = fab.run(t, engine="tick_all", check_invariants=True)
    same(a, b)
    check_all(a, fab.link)


def test_a_port_sends_messages_given_and_injected_in_one_cycle_in_row_order():
    """Messages given before the run and ones injected while it runs share a port's queues:
    one VC's messages leave first offered, first sent, and those offered in the same cycle in
    the order of their rows (the given ones first, since injected rows come after them)."""
    fab = fabric()
    cycle_ps = fab.link.resolved()["cycle_ps"]
    given = fs.traffic.messages(0, 1, 600, at_ps=np.arange(0, 9, 3) * cycle_ps)
    sim = fab.simulation(given)
    for k in range(9):
        if k % 3 == 0:
            sim.inject(0, 1, 600)  # in the cycle a given message is offered
        elif k % 3 == 1:
            sim.inject(0, 1, 600)  # in the cycle after
        sim.step(1)
    res = sim.finish()
    m = res.messages
    assert len(m) == 9 and res.delivered() == 9
    order = np.lexsort((np.arange(len(m)), m["inject_ps"]))
    assert list(order[:4]) == [0, 3, 4, 1]
    assert np.all(np.diff(m["send_ps"][order]) > 0)  # one after another, in that order


def test_a_run_limit_stops_with_a_partial_result():
    fab = fabric()
    t = fs.traffic.stream(0, 1, count=100, bytes=1 << 20)
    with pytest.raises(fs.SimulationLimitError, match="run limit reached at cycle 1000") as info:
        fab.run(t, max_cycles=1000)
    partial = info.value.partial
    assert partial is not None and not partial.complete
    assert partial.cycles == 1000 and partial.delivered() == 0
    assert partial.links["flits"][0] == 1000
    with pytest.raises(fs.SimulationLimitError):
        fab.run(t, max_time_ns=50.0)


def test_a_stuck_receiver_is_reported_as_a_deadlock_naming_the_waiting_channel():
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=4, ack_coalesce_flits=1)
    fab = fs.Fabric(topology=fs.topology.point_to_point(), link=link, endpoint=fs.EndpointSpec(drain_gbps=0))
    for engine in ("auto", "tick_all"):
        with pytest.raises(fs.DeadlockError) as info:
            fab.run(fs.traffic.messages(0, 1, 1 << 20), engine=engine)
        e = info.value
        # 4 flits leave in cycles 0-3 and land by cycle 3 + 1 + 5 = 9, each acknowledged on
        # arrival; the last ACK is back at 9 + 5 = 14. Nothing can happen after.
        assert e.cycle == 14 and e.time_ps == 28_000
        assert e.waiting == [
            {
                "node": 0,
                "port": 0,
                "vc": 0,
                "reason": "1 message(s) wait for a credit; the receiver holds 4/4 flits of this VC "
                "and never drains (drain_gbps = 0)",
            }
        ]
        assert "deadlock" in str(e) and e.partial is not None and e.partial.links["flits"][0] == 4


def test_errors_are_one_hierarchy():
    assert issubclass(fs.SpecError, fs.FabricsimError) and issubclass(fs.SpecError, ValueError)
    for cls in (fs.DeadlockError, fs.SimulationLimitError, fs.InvariantError, fs.InternalError):
        assert issubclass(cls, fs.FabricsimError) and issubclass(cls, RuntimeError)


def test_bad_run_options_are_spec_errors():
    with pytest.raises(fs.SpecError, match="engine"):
        fabric().run(fs.traffic.messages(0, 1, 8), engine="warp")  # type: ignore[arg-type]
    with pytest.raises(fs.SpecError, match="watchdog_cycles"):
        fabric().run(fs.traffic.messages(0, 1, 8), watchdog_cycles=0)
    with pytest.raises(fs.SpecError, match=r"options\.max_time_ns: must be a finite number > 0, got nan"):
        fabric().run(fs.traffic.messages(0, 1, 8), max_time_ns=float("nan"))
    with pytest.raises(
        fs.SpecError, match=r"^options\.seed: must be an integer in 0\.\.=18446744073709551615, got -1$"
    ):
        fabric().run(fs.traffic.messages(0, 1, 8), seed=-1)
    with pytest.raises(fs.SpecError, match=r"^options\.fidelity: must be one of cycle, flow, got 'packet'$"):
        fabric().run(fs.traffic.messages(0, 1, 8), fidelity="packet")  # type: ignore[arg-type]
    with pytest.raises(fs.SpecError, match=r"options: unknown option\(s\) \['sead'\]; allowed: seed, engine"):
        fabric().run(fs.traffic.messages(0, 1, 8), sead=1)
    with pytest.raises(fs.SpecError, match=r"options\.max_cycles"):
        fabric().run(fs.traffic.messages(0, 1, 8), max_cycles=-5)


def test_the_gil_is_released_while_the_engine_runs():
    fab = fabric(credits_per_vc=64)
    t = fs.traffic.stream(0, 1, count=3000, bytes=1 << 20)
    started = time.perf_counter()
    fab.run(t)
    alone = time.perf_counter() - started
    if alone < 0.05:
        pytest.skip(f"run too short to observe ({alone:.3f} s)")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (fab.run(t), done.set()))
    ticks = 0
    worker.start()
    while not done.is_set():
        ticks += 1  # this thread only runs while the engine does not hold the GIL
        time.sleep(0.001)
    worker.join()
    # With the GIL held for the whole run this loop could not have run more than a few times.
    assert ticks >= 10, ticks


def test_summary_and_stats_are_readable():
    res = fabric().run(fs.traffic.messages([0, 0], [1, 1], [4096, 1 << 20]))
    text = res.summary()
    assert "2/2 delivered" in text and "0 -> 1" in text
    s = res.stats()
    assert s["delivered"] == 2 and s["latency_max_ns"] > s["latency_p50_ns"] > 0
    assert repr(res).startswith("<Result complete")
