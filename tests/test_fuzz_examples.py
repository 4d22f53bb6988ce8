"""The two fuzzing stories of docs/testing.md, run for real: hypothesis finds the minimal
failing case of an unsafe spec, prints it as TOML, and one call replays it."""

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.testing import Case, check_all, replay
from fabricsim.testing.strategies import cases, fault_plans, link_specs

SEARCH = settings(
    max_examples=3000, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def breaks(case: Case) -> bool:
    """The properties every link must keep: all delivered, once, in order; no deadlock."""
    try:
        check_all(case.run(), case.link)
    except (AssertionError, fs.FabricsimError):
        return True
    return False


def test_fuzzing_finds_a_sequence_alias_when_seq_bits_is_too_narrow(capsys):
    # A 2-bit sequence number with an 8-flit replay window: unsafe (the spec warns).
    narrow = link_specs(
        retry="go_back_n",
        seq_bits=2,
        replay_buffer_flits=8,
        ber=0.0,
        vcs=1,
        credits_per_vc=st.integers(8, 48),
    )
    found = find(
        cases(links=narrow, plans=fault_plans(links=1, kinds=("corrupt_flit",))), breaks, settings=SEARCH
    )
    text = found.to_toml()
    print(text)  # what a user sees: the minimal failing case, ready to replay
    # Shrunk to a single short message and at most one fault. Typically no fault at all:
    # with ACKs coalesced, a cumulative ACK for 4 flits reads as "nothing new" modulo 4, the
    # sender times out and replays, and the receiver takes a replayed old flit as the next
    # new one. The engine stops where the accounting breaks (a duplicate, or a credit that
    # was never spent coming back).
    assert len(found.faults) <= 1 and len(found.traffic) <= 8
    assert "seq_bits = 2" in capsys.readouterr().out
    with pytest.raises(fs.InvariantError, match=r"delivered twice|credits not conserved"):
        replay(text)
    # The same case with the default (safe) sequence space passes.
    safe = Case(
        link=found.link.replace(seq_bits=None), traffic=found.traffic, faults=found.faults, seed=found.seed
    )
    check_all(safe.run(), safe.link)


def test_fuzzing_finds_the_deadlock_when_the_ends_disagree_on_credit_return():
    # The receiver returns credits in batches; the sender may have fewer credits than a batch.
    disagree = link_specs(
        credit_coalesce_flits=st.integers(1, 16), credits_per_vc=st.integers(1, 16), vcs=1, ber=0.0
    )
    found = find(cases(links=disagree, plans=fault_plans(max_faults=0)), breaks, settings=SEARCH)
    assert found.link.credit_coalesce_flits > found.link.credits_per_vc
    assert found.link.warnings() and "deadlocks" in found.link.warnings()[0]
    with pytest.raises(fs.DeadlockError, match="wait for a credit"):
        replay(found.to_toml())
