"""The make-run demo: its rows agree with the analytic bounds they print."""

import pytest

import fabricsim as fs
from fabricsim.__main__ import main
from fabricsim.demo import sweep_credits_and_sizes


def test_demo_rows_sit_on_their_regime_bound():
    link = fs.LinkSpec.preset("pcie6_x16")
    rows = sweep_credits_and_sizes(link, credits=[2, 8, 11, 32], sizes=[4096, 65536], messages_bytes=1 << 20)
    for row in rows:
        if row.regime == "credit-limited":
            assert row.bound_gbps < row.offered_gbps
            assert row.goodput_gbps == pytest.approx(row.bound_gbps, rel=0.01)
        else:
            assert row.goodput_gbps == pytest.approx(row.offered_gbps, rel=0.01)
            assert row.latency_p99_ns < 2 * row.latency_mean_ns


def test_demo_command_prints_the_table(capsys):
    assert main(["demo", "--preset", "nvlink4"]) == 0
    out = capsys.readouterr().out
    assert "credit-limited" in out and "bandwidth-limited" in out and "nvlink4" in out
    assert "go-back-N" in out and "selective" in out
    assert main(["presets"]) == 0
    assert "pcie6_x16" in capsys.readouterr().out
