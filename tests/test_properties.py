"""Property tests: random valid link specs, traffic and fault plans; every invariant on every run."""

import numpy as np
from hypothesis import given, note
from hypothesis import strategies as st

import fabricsim as fs
import fabricsim.testing
from fabricsim.testing import check_all
from fabricsim.testing.strategies import cases, link_specs


@st.composite
def drained_cases(draw):
    case = draw(cases())
    drain = draw(st.one_of(st.none(), st.sampled_from([10.0, 100.0, 1000.0, 5000.0])))
    return type(case)(
        link=case.link,
        traffic=case.traffic,
        endpoint=fs.EndpointSpec(drain_gbps=drain),
        faults=case.faults,
        seed=case.seed,
    )


@given(drained_cases())
def test_property_every_message_delivered_once_in_order_with_credits_conserved(case):
    note(case.to_toml())
    # check_invariants: the engine checks credit conservation (sender + unaccepted flits +
    # buffered + returning = credits_per_vc, per link and VC) at every cycle.
    res = case.run(check_invariants=True)
    assert res.complete
    check_all(res, case.link)


@given(drained_cases())
def test_property_idle_skipping_matches_tick_all(case):
    a = case.run()
    b = case.run(engine="tick_all")
    assert np.array_equal(a.messages, b.messages)
    assert np.array_equal(a.links, b.links)
    assert (a.cycles, a.events) == (b.cycles, b.events)


@given(link_specs(ber=0.0, replay_buffer_flits=None), st.integers(1, 1 << 16))
def test_property_a_lone_message_takes_exactly_its_hand_computed_latency(link, nbytes):
    res = fs.Fabric(topology=fs.topology.point_to_point(), link=link).run(fs.traffic.messages(0, 1, nbytes))
    r = link.resolved()
    num, den = res.cycle_ps_ratio
    credits, rtt, last = link.credits_per_vc, r["credit_round_trip_cycles"], link.message_flits(nbytes) - 1
    # Flit k leaves at cycle k while credits last; with fewer credits than the round trip it
    # goes in bursts of `credits` flits, one burst per round trip.
    sent = last if credits >= rtt else (last // credits) * rtt + last % credits
    cycles = sent + 1 + r["latency_cycles"]
    assert res.messages["latency_ps"][0] == cycles * num // den


@given(link_specs(), st.integers(1, 20_000), st.integers(0, 10), st.integers(0, 2**32))
def test_property_flit_counts_match_the_spec_formula(link, nbytes, extra, seed):
    traffic = fs.traffic.messages(0, 1, [nbytes, nbytes + extra])
    res = fs.Fabric(topology=fs.topology.point_to_point(), link=link).run(traffic, seed=seed)
    assert res.links["flits"][0] == link.message_flits(nbytes) + link.message_flits(nbytes + extra)
    assert res.links["payload_bytes"][0] == 2 * nbytes + extra


@given(cases())
def test_property_cases_replay_from_their_toml(case):
    again = fs.testing.Case.from_toml(case.to_toml())
    assert again == case
    a, b = case.run(), again.run()
    assert np.array_equal(a.messages, b.messages) and np.array_equal(a.links, b.links)
