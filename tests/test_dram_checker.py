"""The independent DRAM timing checker, read like the standard: for each constraint, the
command at exactly the earliest legal cycle is clean and one cycle earlier is reported by
name. HBM3 preset timings (CK cycles): tRCD_RD 31, tRCD_WR 15, tRAS 45, tRP 26, tRC 72,
tRRD_S 4, tRRD_L 5, tFAW 24, tCCD_S 2, tCCD_L 4, CWL 10, BL 2, tWTR_S 7, tWTR_L 10,
tRTW 20, tRTP 9, tWR 33, tRFC 560, tRFCsb 320."""

import pytest

import fabricsim as fs
from fabricsim.testing import check_dram_timing, command_trace

HBM3 = fs.HbmSpec.preset("hbm3")


def cmd(cycle, name, bg=0, bank=0, row=0, sid=0, ch=0, pc=0):
    return (cycle, ch, pc, sid, bg, bank, name, row)


def rules(*cmds):
    return [v.rule for v in check_dram_timing(command_trace(list(cmds)), HBM3)]


def test_preset_timings_are_the_ones_this_file_assumes():
    t = HBM3.timing
    assert (t["rcd_rd"], t["rcd_wr"], t["ras"], t["rp"], t["rc"]) == (31, 15, 45, 26, 72)
    assert (t["rrd_s"], t["rrd_l"], t["faw"], t["ccd_s"], t["ccd_l"]) == (4, 5, 24, 2, 4)
    assert (t["cwl"], t["bl"], t["wtr_s"], t["wtr_l"], t["rtw"], t["rtp"], t["wr"]) == (
        10,
        2,
        7,
        10,
        20,
        9,
        33,
    )
    assert (t["rfc"], t["rfc_sb"]) == (560, 320)


# (name, commands before the last, the last command's name and address, its earliest cycle)
CASES = [
    ("tRCD_RD", [cmd(0, "ACT")], ("RD", {}), 31),
    ("tRCD_WR", [cmd(0, "ACT")], ("WR", {}), 15),
    ("tRAS", [cmd(0, "ACT")], ("PRE", {}), 45),
    ("tRP", [cmd(0, "ACT"), cmd(50, "PRE")], ("ACT", {}), 76),
    ("tRC", [cmd(0, "ACT"), cmd(45, "PRE")], ("ACT", {}), 72),
    # JEDEC: tRC is ACT to ACT *or REF* (tRAS + tRP = 71 < tRC = 72 on this preset)
    ("tRC", [cmd(0, "ACT"), cmd(45, "PRE")], ("REFab", {}), 72),
    ("tRC", [cmd(0, "ACT"), cmd(45, "PRE")], ("REFsb", {}), 72),
    ("tRRD_L", [cmd(0, "ACT")], ("ACT", {"bank": 1}), 5),
    ("tRRD_S", [cmd(0, "ACT")], ("ACT", {"bg": 1}), 4),
    (
        "tFAW",
        [cmd(0, "ACT"), cmd(4, "ACT", bg=1), cmd(8, "ACT", bg=2), cmd(12, "ACT", bg=3)],
        ("ACT", {"bank": 1}),
        24,
    ),
    ("tCCD_L", [cmd(0, "ACT"), cmd(5, "ACT", bank=1), cmd(36, "RD")], ("RD", {"bank": 1}), 40),
    ("tCCD_S", [cmd(0, "ACT"), cmd(4, "ACT", bg=1), cmd(35, "RD")], ("RD", {"bg": 1}), 37),
    ("tWTR_L", [cmd(0, "ACT"), cmd(15, "WR")], ("RD", {}), 15 + 10 + 2 + 10),
    ("tWTR_S", [cmd(0, "ACT"), cmd(4, "ACT", bg=1), cmd(19, "WR")], ("RD", {"bg": 1}), 19 + 10 + 2 + 7),
    ("tRTW", [cmd(0, "ACT"), cmd(31, "RD")], ("WR", {}), 51),
    ("tRTP", [cmd(0, "ACT"), cmd(40, "RD")], ("PRE", {}), 49),
    ("tWR", [cmd(0, "ACT"), cmd(15, "WR")], ("PRE", {}), 15 + 10 + 2 + 33),
    ("tRFC", [cmd(0, "REFab")], ("ACT", {}), 560),
    ("tRFCsb", [cmd(0, "REFsb")], ("ACT", {}), 320),
]


@pytest.mark.parametrize(
    ("rule", "before", "last", "earliest"), CASES, ids=[f"{c[0]}-{c[2][0]}" for c in CASES]
)
def test_each_constraint_allows_its_earliest_cycle_and_not_one_before(rule, before, last, earliest):
    name, where = last
    assert rules(*before, cmd(earliest, name, **where)) == []
    got = check_dram_timing(command_trace([*before, cmd(earliest - 1, name, **where)]), HBM3)
    assert rule in [v.rule for v in got]
    v = next(v for v in got if v.rule == rule)
    assert (v.index, v.cycle, v.earliest) == (len(before), earliest - 1, earliest)
    assert rule in str(v) and f"earliest legal cycle {earliest}" in str(v)


def test_bank_state_rules():
    assert rules(cmd(0, "ACT"), cmd(80, "ACT")) == ["bank open (ACT needs a closed bank)"]
    assert rules(cmd(40, "RD")) == ["bank closed (RD/WR needs an open row)"]
    assert rules(cmd(0, "ACT", row=3), cmd(40, "RD", row=4)) == ["row 4 is not the open row 3"]
    assert rules(cmd(0, "ACT"), cmd(600, "REFab")) == ["bank open (REFab needs every bank closed)"]
    assert rules(cmd(0, "ACT"), cmd(45, "PRE"), cmd(72, "REFab")) == []  # tRC, not tRAS + tRP = 71


def test_pseudo_channels_share_the_command_buses_but_not_the_banks():
    # two row commands in one cycle on one channel: the row bus is shared by its pseudo-channels
    assert rules(cmd(0, "ACT"), cmd(0, "ACT", pc=1)) == ["row command bus already used by trace[0]"]
    # a row and a column command in one cycle are fine, and so are two channels
    assert rules(cmd(0, "ACT"), cmd(31, "ACT", pc=1), cmd(31, "RD")) == []
    assert rules(cmd(0, "ACT"), cmd(0, "ACT", ch=1)) == []
    # pseudo-channels have their own banks and windows: no tRRD across them
    assert rules(cmd(0, "ACT"), cmd(1, "ACT", pc=1)) == []


def test_a_streaming_trace_built_by_hand_is_clean():
    # open a row in 4 bank groups, then read bursts round-robin at tCCD_S, 32 of them
    trace = [cmd(4 * g, "ACT", bg=g, row=7) for g in range(4)]
    start = 12 + HBM3.timing["rcd_rd"]
    trace += [cmd(start + 2 * i, "RD", bg=i % 4, row=7) for i in range(32)]
    assert rules(*trace) == []
    # the same reads one cycle apart break tCCD_S and the data bus
    squeezed = trace[:4] + [cmd(start + i, "RD", bg=i % 4, row=7) for i in range(8)]
    found = rules(*squeezed)
    assert "tCCD_S" in found and "data bus busy with an earlier burst" in found


def test_hbm_presets_follow_their_public_figures():
    assert set(fs.HbmSpec.presets()) == {"hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4"}
    for name, peak in [
        ("hbm2", 256.0),
        ("hbm2e", 409.6),
        ("hbm3", 819.2),
        ("hbm3e", 1228.8),
        ("hbm4", 2048.0),
    ]:
        h = fs.HbmSpec.preset(name)
        assert h.peak_gbyte_per_s == pytest.approx(peak) and h.sources
    assert fs.HbmSpec.preset("hbm3").resolved()["capacity_bytes"] == 16 << 30  # 16 Gb x 8 dies


def test_bad_hbm_specs_name_the_field():
    with pytest.raises(fs.SpecError, match=r"^hbm\.timing\.bl: is 3 cycles"):
        HBM3.replace(timing={**HBM3.timing, "bl": 3})
    with pytest.raises(fs.SpecError, match=r"^hbm\.channels: must be in 1\.\.=256, got 0"):
        HBM3.replace(channels=0)
    with pytest.raises(fs.SpecError, match=r"unknown field `tRCD`"):
        HBM3.replace(timing={**HBM3.timing, "tRCD": 5})


def test_derived_presets_keep_the_array_timings_in_ns():
    # hbm3e is hbm3 with every DRAM-array timing held in ns at a faster clock (rounded up).
    h3, h3e = fs.HbmSpec.preset("hbm3"), fs.HbmSpec.preset("hbm3e")
    for k in ("cl", "rcd_rd", "rcd_wr", "rp", "ras", "rc", "wr", "rtp", "rfc", "rfc_sb", "faw"):
        ns3, ns3e = h3.timing[k] * h3.tck_ns, h3e.timing[k] * h3e.tck_ns
        assert ns3 <= ns3e < ns3 + h3e.tck_ns, k
    # Per-bank refresh: a round over a pseudo-channel's banks fits in tREFI.
    for name in fs.HbmSpec.presets():
        h = fs.HbmSpec.preset(name)
        banks = h.sids * h.bank_groups * h.banks_per_group
        assert h.timing["refi_sb"] * banks <= h.timing["refi"], name


@pytest.mark.parametrize("preset", ["hbm3", "hbm3e"])
@pytest.mark.parametrize("pattern", ["random", "stream"])
def test_all_bank_refresh_waits_trc_after_an_act(preset, pattern):
    """The controller issued REFab 71 CK after an ACT where tRC is 72 (77-93 times in 60,000
    random reads): the checker now knows tRC bounds REF too, and the controller waits."""
    h = fs.HbmSpec.preset(preset)
    res = fs.run_memory(
        h, fs.traffic.memory(pattern, 60_000, bytes=64), refresh="all_bank", record_commands=True
    )
    assert res.refab > 0
    assert check_dram_timing(res.commands, h) == []
