"""LinkSpec and friends: presets, the two spellings (TOML, kwargs), and their errors."""

from pathlib import Path

import pytest

import fabricsim as fs

REPO = Path(__file__).resolve().parents[1]


PROTOCOL_PRESETS = {
    "pcie6_x16",
    "cxl3_256b",
    "cxl2_68b",
    "ucie_standard_x16",
    "ucie_advanced_x64",
    "nvlink4",
    "ib_ndr_4x",
    "uet_400g",
    "noc",
}


def test_presets_are_listed_and_cite_their_sources():
    names = fs.LinkSpec.presets()
    assert set(names) == PROTOCOL_PRESETS
    for name in names:
        spec = fs.LinkSpec.preset(name)
        assert spec.name == name
        assert spec.sources and all(isinstance(s, str) and s for s in spec.sources)
        assert spec.warnings() == [], name


@pytest.mark.parametrize("name", sorted(PROTOCOL_PRESETS))
def test_every_preset_carries_a_lone_message_in_its_hand_computed_time(name):
    link = fs.LinkSpec.preset(name)
    r = link.resolved()
    nbytes = 4096
    flits = link.message_flits(nbytes)
    credits, rtt = link.credits_per_vc, r["credit_round_trip_cycles"]
    last = flits - 1
    sent = last if credits >= rtt else (last // credits) * rtt + last % credits
    res = fs.Fabric(topology=fs.topology.point_to_point(), link=link).run(fs.traffic.messages(0, 1, nbytes))
    num, den = res.cycle_ps_ratio
    assert res.messages["latency_ps"][0] == (sent + 1 + r["latency_cycles"]) * num // den


def test_flit_framing_of_the_protocol_presets():
    # payload bytes per flit, from the public flit layouts cited in each preset
    payload = {n: fs.LinkSpec.preset(n).resolved()["flit_payload_bytes"] for n in PROTOCOL_PRESETS}
    assert payload["pcie6_x16"] == 236  # 256 - 6 DLP - 8 CRC - 6 FEC
    assert payload["cxl3_256b"] == 240  # 15 slots of 16 B
    assert payload["cxl2_68b"] == 64  # 4 slots of 16 B
    assert payload["ucie_standard_x16"] == 64  # 68 - 2 header - 2 CRC
    cxl2 = fs.LinkSpec.preset("cxl2_68b").resolved()
    assert cxl2["raw_gbps"] == pytest.approx(16 * 32 * 128 / 130)


def test_presets_match_the_files_under_specs():
    # The presets are compiled into the engine from specs/link; a file and its preset are one thing.
    for path in sorted((REPO / "specs" / "link").glob("*.toml")):
        assert fs.LinkSpec.from_toml(path) == fs.LinkSpec.preset(path.stem)


def test_pcie6_preset_numbers_follow_the_public_figures():
    link = fs.LinkSpec.preset("pcie6_x16")
    assert (link.lanes, link.gbps_per_lane, link.flit_bytes) == (16, 64.0, 256)
    assert link.flit_bytes - link.flit_overhead_bytes == 236  # TLP bytes per flit
    r = link.resolved()
    assert r["raw_gbps"] == 1024.0
    assert r["cycle_ps"] == 2000.0  # 2048 bits at 1024 Gb/s


def test_nvlink4_preset_is_25_gbytes_per_second_per_direction():
    r = fs.LinkSpec.preset("nvlink4").resolved()
    assert r["raw_gbps"] == 200.0
    assert r["cycle_ps"] == 640.0  # a 16 B flit at 200 Gb/s


def test_kwargs_and_toml_are_two_spellings_of_one_spec(tmp_path):
    link = fs.LinkSpec.preset("pcie6_x16").replace(credits_per_vc=7, latency_ns=3.5)
    path = tmp_path / "mine.toml"
    path.write_text(link.to_toml())
    assert fs.LinkSpec.from_toml(path) == link
    assert fs.LinkSpec(**link.to_dict()) == link
    assert fs.LinkSpec.from_dict(link.to_dict()) == link
    assert hash(fs.LinkSpec(**link.to_dict())) == hash(link)


def test_defaults_are_filled_in_by_the_engine():
    link = fs.LinkSpec(lanes=1, gbps_per_lane=10, flit_bytes=64, mtu_bytes=64, credits_per_vc=4)
    assert (link.vcs, link.latency_ns, link.packing, link.flit_overhead_bytes) == (1, 0.0, "padded", 0)


def test_field_list_matches_the_engine():
    assert set(fs.LinkSpec.fields()) == set(fs.LinkSpec.preset("noc").to_dict())
    assert set(fs.EndpointSpec.fields()) == set(fs.EndpointSpec().to_dict())


def test_specs_are_immutable_and_replace_validates():
    link = fs.LinkSpec.preset("noc")
    with pytest.raises(AttributeError, match="immutable"):
        link.lanes = 2
    with pytest.raises(fs.SpecError, match=r"link\.vcs: must be in 1\.\.=64, got 65"):
        link.replace(vcs=65)
    assert link.replace(vcs=4).vcs == 4 and link.vcs == 2


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"credits_per_vc": 0}, "link.credits_per_vc", "got 0"),
        ({"lanes": 0}, "link.lanes", "got 0"),
        ({"lanes": -1}, "link.lanes", "-1"),
        ({"flit_bytes": 0}, "link.flit_bytes", "got 0"),
        ({"flit_overhead_bytes": 256}, "link.flit_overhead_bytes", "less than flit_bytes"),
        ({"gbps_per_lane": 0.0}, "link.gbps_per_lane", "> 0"),
        ({"gbps_per_lane": float("nan")}, "link.gbps_per_lane", "finite"),
        ({"latency_ns": -1.0}, "link.latency_ns", ">= 0"),
        ({"mtu_bytes": 0}, "link.mtu_bytes", "got 0"),
        ({"packing": "zigzag"}, "link.packing", "padded"),
        ({"vcs": "two"}, "link.vcs", "invalid type"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(changes, path, words):
    with pytest.raises(fs.SpecError) as info:
        fs.LinkSpec.preset("pcie6_x16").replace(**changes)
    assert str(info.value).startswith(path), str(info.value)
    assert words in str(info.value)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_unknown_fields_are_rejected_with_the_known_ones_listed(tmp_path):
    with pytest.raises(
        fs.SpecError, match=r"link\.credit: unknown field `credit`, expected one of .*credits_per_vc"
    ):
        fs.LinkSpec.preset("noc").replace(credit=3)
    bad = tmp_path / "bad.toml"
    bad.write_text((fs.LinkSpec.preset("noc").to_toml()) + "\nturbo = true\n")
    with pytest.raises(fs.SpecError) as info:
        fs.LinkSpec.from_toml(bad)
    msg = str(info.value)
    assert "bad.toml" in msg and "unknown field `turbo`" in msg and "line" in msg


def test_missing_required_field_is_named():
    with pytest.raises(fs.SpecError, match="missing field `credits_per_vc`"):
        fs.LinkSpec(lanes=1, gbps_per_lane=10, flit_bytes=64, mtu_bytes=64)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(fs.SpecError, match=r'unknown link preset "pcie7".*pcie6_x16'):
        fs.LinkSpec.preset("pcie7")


def test_malformed_toml_is_a_spec_error_not_a_crash():
    with pytest.raises(fs.SpecError, match="invalid TOML"):
        fs.LinkSpec.from_toml_str("lanes = = 3", origin="x.toml")
    with pytest.raises(fs.SpecError):
        fs.LinkSpec.from_toml_str("lanes = 99999999999999999999999")


def test_endpoint_spec_drain_rate():
    assert fs.EndpointSpec().drain_gbps is None
    assert fs.EndpointSpec(drain_gbps=0).drain_gbps == 0
    with pytest.raises(fs.SpecError, match=r"endpoint\.drain_gbps"):
        fs.EndpointSpec(drain_gbps=-1)


def test_resolved_view_rounds_latencies_up_to_whole_flit_times():
    # 68 B flit at 8 x 64 Gb/s = 1062.5 ps; 10 ns = 9.41 flit times -> 10 cycles.
    link = fs.LinkSpec(
        lanes=8,
        gbps_per_lane=64,
        flit_bytes=68,
        mtu_bytes=64,
        credits_per_vc=8,
        latency_ns=10,
        credit_return_ns=0,
    )
    r = link.resolved()
    assert r["cycle_ps"] == 1062.5 and (r["cycle_ps_num"], r["cycle_ps_den"]) == (2125, 2)
    assert r["latency_cycles"] == 10
    assert r["credit_return_cycles"] == 1  # never less than one cycle
    assert r["credit_round_trip_cycles"] == 12


def test_router_presets_load_cite_sources_and_match_their_users():
    assert fs.RouterSpec.presets() == ["booksim_4stage", "nvswitch_like"]
    for path in sorted((REPO / "specs" / "router").glob("*.toml")):
        preset = fs.RouterSpec.preset(path.stem)
        assert fs.RouterSpec.from_toml(path) == preset
        assert preset.name == path.stem and preset.sources
    # the BookSim router: 5H + 2 cycles at zero load on 1-cycle links (H routers passed)
    fab = fs.Fabric(
        topology=fs.topology.mesh((4, 4)),
        link=fs.LinkSpec.preset("noc"),
        router=fs.RouterSpec.preset("booksim_4stage"),
    )
    res = fab.run(fs.traffic.messages(0, 15, 16))  # 7 routers corner to corner, one flit
    assert res.messages["latency_ps"][0] == (5 * 7 + 2) * 1000
    # the NVSwitch-shaped fabric presets' switches are the nvswitch_like router
    switch = fs.RouterSpec.preset("nvswitch_like")
    for name in ("dgx8_nvswitch", "dgx8_nvls", "dgx8_cluster4", "nvl72"):
        r = fs.Fabric.preset(name).router
        assert (r.pipeline_cycles, r.allocator, r.switching) == (
            switch.pipeline_cycles,
            switch.allocator,
            switch.switching,
        )
    with pytest.raises(fs.SpecError, match="known presets: booksim_4stage, nvswitch_like"):
        fs.RouterSpec.preset("crossbar")
