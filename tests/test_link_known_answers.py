"""Known answers for one link, computed by hand from the spec fields in each test."""

import math

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.testing import check_all


def p2p(link, **endpoint):
    return fs.Fabric(topology=fs.topology.point_to_point(), link=link, endpoint=fs.EndpointSpec(**endpoint))


def flit_ps(link):
    return link.flit_bytes * 8 / (link.lanes * link.gbps_per_lane) * 1000  # ps per flit


def padded_flits(link, nbytes):
    payload = link.flit_bytes - link.flit_overhead_bytes
    full, rest = divmod(nbytes, link.mtu_bytes)
    per = lambda p: math.ceil((p + link.packet_overhead_bytes) / payload)  # noqa: E731
    return full * per(link.mtu_bytes) + (per(rest) if rest else 0)


def test_zero_load_latency_of_one_message_on_pcie6():
    link = fs.LinkSpec.preset("pcie6_x16")
    # Packed TLPs: 16 packets x (256 + 16) B = 4352 B in 236 B flit payloads -> 19 flits.
    flits = math.ceil(16 * (256 + 16) / 236)
    assert flits == 19 == link.message_flits(4096)
    t = flit_ps(link)  # 2000 ps
    latency_cycles = math.ceil(link.latency_ns * 1000 / t)  # 10 ns -> 5
    res = p2p(link).run(fs.traffic.messages(0, 1, 4096))
    # Serialization of its flits, then propagation; nothing else in the path.
    assert res.messages["latency_ps"][0] == (flits + latency_cycles) * t == 48_000
    assert res.messages["send_ps"][0] == 0


def test_zero_load_latency_of_one_message_on_nvlink4_padded_packets():
    link = fs.LinkSpec.preset("nvlink4")
    flits = padded_flits(link, 1000)  # 3 packets of 256 + 1 of 232, each + a 16 B header flit
    assert flits == 3 * 17 + 16 == link.message_flits(1000)
    t = flit_ps(link)  # 640 ps
    latency_cycles = math.ceil(link.latency_ns * 1000 / t)  # 20 ns = 31.25 -> 32
    res = p2p(link).run(fs.traffic.messages(1, 0, 1000, at_ns=64.0))  # 64 ns = cycle 100 exactly
    assert res.messages["deliver_ps"][0] == (100 + flits + latency_cycles) * t
    assert res.links["flits"].tolist() == [0, flits]


def test_goodput_of_a_long_stream_is_raw_rate_times_payload_fraction():
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=64)
    raw_gbps = link.lanes * link.gbps_per_lane
    n = 2000
    nbytes = 64 * 1024
    flits_per_msg = math.ceil(nbytes // link.mtu_bytes * (link.mtu_bytes + link.packet_overhead_bytes) / 236)
    res = p2p(link).run(fs.traffic.stream(0, 1, count=n, bytes=nbytes))
    fraction = nbytes / (flits_per_msg * link.flit_bytes)
    expected = raw_gbps * fraction  # the link never idles: one flit per cycle
    assert res.goodput_gbps() == pytest.approx(expected, rel=1e-9)
    assert res.links["credit_stall_cycles"][0] == 0
    assert res.links["utilization"][0] == pytest.approx(1.0, abs=1e-3)
    # and the limit for MTU-sized packets is the preset's advertised maximum
    assert link.resolved()["max_goodput_gbps"] == pytest.approx(raw_gbps * 256 / 272 * 236 / 256)


@pytest.mark.parametrize("credits", [1, 2, 3, 5, 8])
def test_credits_below_the_bandwidth_delay_product_cap_throughput(credits):
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=credits, packing="padded", mtu_bytes=200)
    t = flit_ps(link)
    latency = math.ceil(link.latency_ns * 1000 / t)
    credit_return = max(1, math.ceil(link.credit_return_ns * 1000 / t))
    round_trip = 1 + latency + credit_return  # 11 flit times
    assert credits < round_trip
    n = 1000  # one-flit messages
    res = p2p(link).run(fs.traffic.stream(0, 1, count=n, bytes=100))
    expected_bits_per_ps = credits * link.flit_bytes * 8 / (round_trip * t)
    measured = n * link.flit_bytes * 8 / (res.messages["send_ps"].max() + t)
    assert measured == pytest.approx(expected_bits_per_ps, rel=0.01)
    assert res.links["credit_stall_cycles"][0] > 0


def test_credits_at_the_round_trip_are_enough_for_full_rate():
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=11)
    res = p2p(link).run(fs.traffic.stream(0, 1, count=500, bytes=236 - 16, interval_ns=0))
    assert res.links["credit_stall_cycles"][0] == 0
    assert res.links["flits"][0] == 500


def test_slow_receiver_paces_the_link_through_back_pressure():
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=16)
    drain = 256.0  # a quarter of the 1024 Gb/s link
    res = p2p(link, drain_gbps=drain).run(fs.traffic.stream(0, 1, count=50, bytes=64 * 1024))
    wire_gbps = res.links["flits"][0] * link.flit_bytes * 8 / res.end_ps * 1000
    assert wire_gbps == pytest.approx(drain, rel=0.01)
    # Back-pressure is real: Little's law on the credit loop. Of 16 credits, 0.25 flits/cycle x
    # 11 cycles (wire + credit return) are always away, the rest wait in the buffer.
    round_trip = link.resolved()["credit_round_trip_cycles"]
    assert res.links["mean_occupancy"][0] == pytest.approx(16 - 0.25 * round_trip, abs=0.2)
    assert res.links["max_occupancy"][0] == 14
    assert res.links["credit_stall_cycles"][0] > 0.7 * res.cycles
    check_all(res, link)


def test_messages_on_two_vcs_share_the_link_round_robin():
    link = fs.LinkSpec.preset("pcie6_x16")
    t = flit_ps(link)
    res = p2p(link).run(fs.traffic.messages(0, 1, [236 - 16] * 2, vc=[0, 1]))
    # one flit each, VC 0 first then VC 1 on the next cycle
    assert res.messages["send_ps"].tolist() == [0, t]


def test_both_directions_are_independent():
    link = fs.LinkSpec.preset("nvlink4")
    one = p2p(link).run(fs.traffic.messages(0, 1, 4096))
    both = p2p(link).run(fs.traffic.messages([0, 1], [1, 0], 4096))
    assert both.messages["latency_ps"].tolist() == [one.messages["latency_ps"][0]] * 2


def test_mean_occupancy_is_each_links_histogram_mean():
    # all links at once (vectorized) against the histogram mean taken link by link
    fab = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=fs.LinkSpec.preset("noc"))
    res = fab.run(fs.traffic.synthetic("uniform", rate=0.3, warmup_cycles=200, measure_cycles=1000))
    widths = np.frombuffer(res._raw["links"]["occupancy_width"], dtype="<u8")
    by_hand = [
        float((np.arange(len(h)) * widths[i]) @ h) / max(float(h.sum()), 1.0)
        for i, h in enumerate(res.occupancy_histograms())
    ]
    assert res.links["mean_occupancy"].tolist() == by_hand
    assert max(by_hand) > 0
