"""The goodput-vs-BER sweep agrees with the analytic link-layer efficiency, and plots."""

import pytest

from fabricsim.analysis.plots import goodput_vs_ber, plot_goodput_vs_ber


def test_goodput_vs_ber_follows_the_analytic_efficiency():
    points = goodput_vs_ber(
        ["pcie6_x16", "nvlink4", "cxl2_68b"], bers=(0.0, 1e-6, 1e-5, 3e-5), flits_per_run=150_000
    )
    for p in points:
        assert p.goodput_gbps == pytest.approx(p.analytic_gbps, rel=0.03), p
    by = {(p.preset, p.ber): p.goodput_gbps for p in points}
    assert by[("nvlink4", 3e-5)] < by[("nvlink4", 1e-6)] < by[("nvlink4", 0.0)]


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    points = goodput_vs_ber(["noc"], bers=(0.0, 1e-5), flits_per_run=5_000)
    out = plot_goodput_vs_ber(tmp_path / "ber.png", points)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
