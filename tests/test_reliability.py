"""Link-level reliability: errors, FEC/CRC, go-back-N replay, ACK/NAK, timeouts, faults.
Every expected number is computed by hand from the spec fields in the test."""

import math
import warnings

import numpy as np
import pytest

import fabricsim as fs
import fabricsim.testing
from fabricsim.testing import check_all, check_exactly_once, check_in_order_per_vc


def p2p(link, **endpoint):
    return fs.Fabric(topology=fs.topology.point_to_point(), link=link, endpoint=fs.EndpointSpec(**endpoint))


def pcie(**changes):
    """The PCIe 6 preset with the link layer the derivations below assume: no FEC, a 32-bit
    CRC, an ACK per flit, a replay buffer sized to the ACK round trip."""
    plain = {
        "fec_correctable_symbols": 0,
        "crc_bits": 32,
        "ack_coalesce_flits": 1,
        "replay_buffer_flits": None,
    }
    return fs.LinkSpec.preset("pcie6_x16").replace(**{**plain, **changes})


def cycles(link):
    r = link.resolved()
    return r["latency_cycles"], r["credit_return_cycles"], r["cycle_ps"]


def test_error_free_retry_changes_nothing():
    # BER 0 with go-back-N (the default) runs exactly like a link without retry.
    rng = np.random.default_rng(7)
    n = 200
    src = rng.integers(0, 2, n)
    t = fs.traffic.messages(
        src, 1 - src, rng.integers(1, 30_000, n), at_ns=rng.uniform(0, 4000, n), vc=rng.integers(0, 3, n)
    )
    a = p2p(pcie(credits_per_vc=6)).run(t)
    b = p2p(pcie(credits_per_vc=6, retry="none")).run(t)
    assert np.array_equal(a.messages, b.messages)
    assert a.links["flits_replayed"].sum() == 0 and a.links["acks"].sum() > 0
    assert np.array_equal(a.links["flits"], b.links["flits"])


def test_one_corrupted_flit_costs_exactly_the_replay_round_trip():
    link = pcie(credits_per_vc=64)
    lat, ret, t = cycles(link)
    n = 100  # one-flit messages, back to back
    stream = fs.traffic.stream(0, 1, count=n, bytes=200)
    clean = p2p(link).run(stream)
    k = 40
    hit = p2p(link).run(stream, faults=[fs.faults.corrupt_flit(link=0, flit=k)])
    # Flit k arrives at k + 1 + L and is NAKed at once; the NAK is back at k + 1 + L + R, and
    # the sender resends flit k in that very cycle. Everything from flit k on moves by
    # W = 1 + L + R cycles; the W - 1 flits sent in between are dropped and sent again.
    w = 1 + lat + ret
    delay = hit.messages["deliver_ps"] - clean.messages["deliver_ps"]
    assert delay[:k].tolist() == [0] * k
    assert delay[k:].tolist() == [w * t] * (n - k)
    row = hit.links[0]
    assert (row["flits_corrupted"], row["naks"], row["flits_replayed"]) == (1, 1, w)
    check_all(hit, link)


@pytest.mark.parametrize("ber", [1e-6, 1e-5, 3e-5])
def test_goodput_under_random_errors_matches_go_back_n_efficiency(ber):
    link = pcie(credits_per_vc=64, ber=ber)
    lat, ret, _ = cycles(link)
    p = 1 - (1 - ber) ** (link.flit_bytes * 8)  # a flit fails (no FEC, 32-bit CRC)
    assert p == pytest.approx(link.resolved()["flit_error_prob"], rel=1e-9)
    w = 1 + lat + ret
    efficiency = (1 - p) / (1 + (w - 1) * p)  # go-back-N: each error wastes W slots
    res = p2p(link).run(fs.traffic.stream(0, 1, count=300, bytes=1 << 20), seed=3)
    expected = link.resolved()["max_goodput_gbps"] * efficiency
    assert res.goodput_gbps() == pytest.approx(expected, rel=0.02)
    check_exactly_once(res)
    check_in_order_per_vc(res)


def test_a_replay_buffer_smaller_than_the_ack_round_trip_caps_throughput():
    buffer = 4
    link = pcie(credits_per_vc=64, replay_buffer_flits=buffer, packing="padded", mtu_bytes=200)
    lat, ret, t = cycles(link)
    ack_rtt = 1 + lat + ret  # ACK on arrival (ack_coalesce_flits = 1)
    assert link.resolved()["ack_round_trip_cycles"] == ack_rtt
    n = 1000
    res = p2p(link).run(fs.traffic.stream(0, 1, count=n, bytes=100))
    sent_per_cycle = n / (res.messages["send_ps"].max() / t + 1)
    assert sent_per_cycle == pytest.approx(buffer / ack_rtt, rel=0.01)
    assert res.links["replay_stall_cycles"][0] > 0 and res.links["credit_stall_cycles"][0] == 0


def test_ack_coalescing_sends_fewer_acks():
    link = pcie(credits_per_vc=64, ack_coalesce_flits=8)
    res = p2p(link).run(fs.traffic.stream(0, 1, count=10, bytes=64 * 1024))
    flits = int(res.links["flits"][0])
    assert res.links["acks"][0] == math.ceil(flits / 8)
    # A partial batch is flushed by the timer (default: 8 flit times): three one-flit
    # messages get one ACK. (A run ends at its last delivery, so a fourth message keeps it
    # going past the timer; its own ACK is never needed.)
    res = p2p(link).run(fs.traffic.messages(0, 1, [100, 100, 100, 100], at_ns=[0, 0, 0, 200]))
    assert res.links["acks"][0] == 1 and res.complete


def test_a_lost_ack_is_recovered_by_the_replay_timeout():
    # A one-flit replay buffer: flit 1 waits for flit 0's ACK, which is lost.
    link = pcie(credits_per_vc=64, replay_buffer_flits=1)
    lat, ret, t = cycles(link)
    timeout = link.resolved()["replay_timeout_cycles"]
    two = fs.traffic.stream(0, 1, count=2, bytes=100)
    clean = p2p(link).run(two)
    res = p2p(link).run(two, faults=[fs.faults.drop_ack(0, at_ns=0)])
    # Clean: flit 1 leaves when flit 0's ACK is back at 1 + L + R. With the ACK lost, the
    # timer (started when flit 0 left, at 0) fires at `timeout` and flit 0 goes again; the
    # receiver answers the duplicate with an ACK, back 1 + L + R later; flit 1 leaves then.
    assert clean.messages["send_ps"][1] == (1 + lat + ret) * t
    assert res.messages["send_ps"][1] == (timeout + 1 + lat + ret) * t
    row = res.links[0]
    assert (row["acks_dropped"], row["replay_timeouts"], row["flits_replayed"]) == (1, 1, 1)
    check_all(res, link)


def test_a_link_outage_is_recovered_by_the_replay_timeout():
    link = pcie(credits_per_vc=64)
    res = p2p(link).run(
        fs.traffic.stream(0, 1, count=50, bytes=4096),
        faults=[fs.faults.link_down(0, at_ns=100, duration_ns=60)],
    )
    clean = p2p(link).run(fs.traffic.stream(0, 1, count=50, bytes=4096))
    lat, ret, t = cycles(link)
    r = link.resolved()
    row = res.links[0]
    # The link goes down at cycle 50 for 30 cycles. ACKs for flits sent before keep freeing
    # the replay buffer until cycle 49 + (1 + L + R) = 60, so the sender loses exactly one
    # replay buffer's worth of flits (12) and then stalls. The timer, restarted by that last
    # ACK, fires at 60 + timeout = 93 (the link is up again) and flit 50 is resent: every
    # later delivery moves by 93 - 50 = 43 cycles.
    down, last_ack = 50, 49 + 1 + lat + ret
    assert row["flits_lost"] == r["replay_buffer_flits"] == 12
    assert row["replay_timeouts"] == 1
    delay = (res.messages["deliver_ps"] - clean.messages["deliver_ps"]) / t
    assert delay.max() == last_ack + r["replay_timeout_cycles"] - down == 43
    check_all(res, link)


def test_fec_corrects_what_it_can_and_the_rest_is_replayed():
    ber = 2e-5
    plain = p2p(pcie(credits_per_vc=64, ber=ber)).run(fs.traffic.stream(0, 1, 40, 1 << 20), seed=1)
    fec = p2p(pcie(credits_per_vc=64, ber=ber, fec_correctable_symbols=3)).run(
        fs.traffic.stream(0, 1, 40, 1 << 20), seed=1
    )
    r = pcie(ber=ber, fec_correctable_symbols=3).resolved()
    flits = fec.links["flits"][0] + fec.links["flits_replayed"][0]
    assert fec.links["flits_fec_corrected"][0] == pytest.approx(
        flits * r["flit_fec_corrected_prob"], rel=0.05
    )
    assert fec.links["flits_corrupted"][0] < plain.links["flits_corrupted"][0] / 100
    assert fec.goodput_gbps() > plain.goodput_gbps()


def test_undetected_errors_are_counted_and_flagged_never_silent():
    # A 4-bit CRC misses 1/16 of the errors it sees.
    link = pcie(credits_per_vc=64, ber=1e-4, crc_bits=4)
    res = p2p(link).run(fs.traffic.stream(0, 1, 200, 4096), seed=2)
    row = res.links[0]
    assert row["flits_undetected"] > 0
    assert row["flits_undetected"] == pytest.approx(row["flits_corrupted"] / 15, rel=0.5)
    assert res.messages["corrupt"].sum() > 0
    with pytest.raises(AssertionError, match="corrupt"):
        fs.testing.check_no_corruption(res)


def test_without_retry_corrupted_flits_are_passed_up_marked_corrupt():
    link = pcie(credits_per_vc=64, retry="none")
    res = p2p(link).run(fs.traffic.stream(0, 1, 5, 100), faults=[fs.faults.corrupt_flit(0, 2)])
    assert res.messages["corrupt"].tolist() == [False, False, True, False, False]
    assert res.links["flits_replayed"][0] == 0


def test_a_dropped_credit_leaks_until_the_link_deadlocks():
    link = pcie(credits_per_vc=1, vcs=1)
    with pytest.raises(fs.DeadlockError) as info:
        p2p(link).run(fs.traffic.stream(0, 1, 3, 100), faults=[fs.faults.drop_credit(0, at_ns=0)])
    assert "credit(s) of this link were lost" in info.value.waiting[0]["reason"]
    assert info.value.partial.links["credits_dropped"][0] == 1


def test_credits_coalesced_past_the_senders_credits_deadlock_with_a_warning():
    link = pcie(credits_per_vc=4, credit_coalesce_flits=8)
    assert any("credit_coalesce_flits" in w for w in link.warnings())
    with pytest.warns(fs.UnsafeSpecWarning, match="credit_coalesce_flits"):
        fab = p2p(link)
    with pytest.raises(fs.DeadlockError):
        fab.run(fs.traffic.stream(0, 1, 10, 100))


def test_errors_are_deterministic_per_seed_and_identical_in_every_engine_mode():
    link = pcie(credits_per_vc=16, ber=3e-5, burst={"start_prob": 1e-3, "mean_flits": 4, "ber": 1e-3})
    t = fs.traffic.stream(0, 1, 30, 64 * 1024)
    faults = [fs.faults.link_down(0, 500, 40), fs.faults.drop_ack(0, 900), fs.faults.corrupt_flit(0, 77)]
    a = p2p(link).run(t, seed=11, faults=faults, check_invariants=True)
    b = p2p(link).run(t, seed=11, faults=faults, engine="tick_all", check_invariants=True)
    c = p2p(link).run(t, seed=12, faults=faults)
    assert np.array_equal(a.messages, b.messages) and np.array_equal(a.links, b.links)
    assert not np.array_equal(a.links, c.links)
    check_all(a, link)


def test_unsafe_sequence_space_warns_and_lets_an_alias_through():
    link = pcie(seq_bits=2, replay_buffer_flits=8, credits_per_vc=64)
    assert "alias" in link.warnings()[0]
    with pytest.warns(fs.UnsafeSpecWarning, match="seq_bits = 2"):
        fab = p2p(link)
    with pytest.raises(fs.InvariantError, match="delivered twice"):
        fab.run(fs.traffic.stream(0, 1, 20, 100), faults=[fs.faults.corrupt_flit(0, 3)])
    # a simulation that broke mid-cycle refuses to go on rather than run on broken state
    sim = fab.simulation(fs.traffic.stream(0, 1, 20, 100), faults=[fs.faults.corrupt_flit(0, 3)])
    with pytest.raises(fs.InvariantError):
        sim.step(1000)
    with pytest.raises(fs.SpecError, match="cannot continue after an error"):
        sim.step(1)


def test_default_sequence_space_always_covers_the_replay_window():
    # A long, fast link: the auto-sized replay buffer outgrows 12 bits, so seq_bits grows too.
    link = fs.LinkSpec(
        lanes=32,
        gbps_per_lane=112.5,
        flit_bytes=8,
        mtu_bytes=64,
        credits_per_vc=8,
        latency_ns=50,
        credit_return_ns=50,
    )
    r = link.resolved()
    assert r["replay_buffer_flits"] > 4096 and 2 ** r["seq_bits"] > r["replay_buffer_flits"]
    assert link.warnings() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p2p(link)


def test_bad_fault_plans_name_the_fault():
    with pytest.raises(
        fs.SpecError, match=r"options\.faults\[1\]\.link: must be a link direction in 0\.\.2, got 5"
    ):
        p2p(pcie()).run(
            fs.traffic.messages(0, 1, 8), faults=[fs.faults.drop_ack(0, 1), fs.faults.drop_ack(5, 1)]
        )
    with pytest.raises(fs.SpecError, match=r"options\.faults\[0\]\.at_ns"):
        p2p(pcie()).run(fs.traffic.messages(0, 1, 8), faults=[fs.faults.link_down(0, -1, 5)])


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"ber": -1e-9}, "link.ber"),
        ({"ber": 0.7}, "link.ber"),
        ({"seq_bits": 0}, "link.seq_bits"),
        ({"seq_bits": 40}, "link.seq_bits"),
        ({"replay_buffer_flits": 0}, "link.replay_buffer_flits"),
        ({"ack_coalesce_flits": 0}, "link.ack_coalesce_flits"),
        ({"replay_timeout_ns": 0.0}, "link.replay_timeout_ns"),
        ({"fec_correctable_symbols": 10_000}, "link.fec_correctable_symbols"),
        ({"crc_bits": 0}, "link.crc_bits"),
        ({"retry": "selective"}, "link.retry"),
        ({"burst": {"start_prob": 2.0, "mean_flits": 3, "ber": 0.1}}, "link.burst.start_prob"),
        ({"burst": {"start_prob": 0.1, "mean_flits": 3}}, "link.burst"),
        ({"credit_coalesce_flits": 0}, "link.credit_coalesce_flits"),
    ],
)
def test_bad_reliability_fields_name_the_field(changes, path):
    with pytest.raises(fs.SpecError) as info:
        pcie(**changes)
    assert str(info.value).startswith(path), str(info.value)


def test_selective_repeat_resends_only_the_corrupted_flit():
    link = pcie(credits_per_vc=64, retry="selective_repeat", replay_buffer_flits=64)
    lat, ret, t = cycles(link)
    w = 1 + lat + ret
    n, k = 100, 40
    stream = fs.traffic.stream(0, 1, count=n, bytes=200)  # one flit each
    clean = p2p(link).run(stream)
    hit = p2p(link).run(stream, faults=[fs.faults.corrupt_flit(link=0, flit=k)])
    # Flit k is NAKed on arrival; the NAK is back at k + W and only flit k is resent, taking
    # the slot of the new flit due then. The receiver holds flits k+1 .. k+W-1 (they arrived
    # fine) and releases them with flit k at k + W + 1 + L; every later flit moves by one slot.
    delay = (hit.messages["deliver_ps"] - clean.messages["deliver_ps"]) // t
    assert delay[:k].tolist() == [0] * k
    released = k + w + 1 + lat
    expected_in_window = [released - (i + 1 + lat) for i in range(k, k + w)]
    assert delay[k : k + w].tolist() == expected_in_window
    assert delay[k + w :].tolist() == [1] * (n - k - w)
    row = hit.links[0]
    assert (row["flits_corrupted"], row["flits_replayed"], row["naks"]) == (1, 1, 1)
    check_all(hit, link)


@pytest.mark.parametrize("ber", [1e-6, 1e-5, 3e-5, 1e-4])
def test_selective_repeat_efficiency_is_one_minus_p(ber):
    link = pcie(credits_per_vc=64, ber=ber, retry="selective_repeat", replay_buffer_flits=256)
    p = link.resolved()["flit_error_prob"]
    res = p2p(link).run(fs.traffic.stream(0, 1, count=300, bytes=1 << 20), seed=5)
    # Each error costs one more transmission of that one flit (every gap is NAKed on its
    # own), so efficiency is 1 - p, even at p = 18% (BER 1e-4) with a window of 256 flits.
    ideal = link.resolved()["max_goodput_gbps"] * (1 - p)
    assert res.goodput_gbps() == pytest.approx(ideal, rel=0.002)
    gbn = p2p(link.replace(retry="go_back_n")).run(fs.traffic.stream(0, 1, count=300, bytes=1 << 20), seed=5)
    assert res.goodput_gbps() > gbn.goodput_gbps()
    check_exactly_once(res)
    check_in_order_per_vc(res)


def test_selective_repeat_sequence_space_covers_twice_the_window():
    link = pcie(retry="selective_repeat", replay_buffer_flits=3000)
    assert 2 ** link.resolved()["seq_bits"] >= 6000 and link.warnings() == []
    narrow = pcie(retry="selective_repeat", replay_buffer_flits=8, seq_bits=3)
    assert "twice the window" in narrow.warnings()[0]
