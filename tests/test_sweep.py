"""Latency against load: capacity bounds of the topology hold, and saturation is found."""

import numpy as np
import pytest

import fabricsim as fs


def fabric(topology, vcs=2):
    return fs.Fabric(
        topology=topology,
        link=fs.LinkSpec.preset("noc").replace(vcs=vcs),
        router=fs.RouterSpec(pipeline_cycles=3),
    )


@pytest.mark.parametrize(
    ("topology", "vcs", "bound", "share"),
    [
        # Uniform random on a k x k mesh is bounded by the bisection: 4/k flits/node/cycle. DOR
        # with 2 VCs and 1-flit packets reaches about 0.40 with the lumped router (BookSim: about
        # 0.30; docs/validation.md).
        (fs.topology.mesh((8, 8)), 2, 4 / 8, 0.5),
        # On a k x k torus by 8/k. DOR with dateline classes and 4 VCs reaches about 0.40.
        (fs.topology.torus((8, 8)), 4, 8 / 8, 0.35),
    ],
)
def test_uniform_saturation_stays_under_the_capacity_bound_and_reaches_a_fair_share(
    topology, vcs, bound, share
):
    curve = fs.sweep.latency_throughput(
        fabric(topology, vcs), "uniform", np.arange(0.1, 1.01, 0.1), warmup_cycles=1000, measure_cycles=2000
    )
    assert curve.points[-1].saturated
    assert curve.saturation <= bound
    assert curve.saturation >= share * bound
    lat = [p.latency_mean for p in curve.points if not p.saturated]
    assert lat == sorted(lat)  # latency grows with load
    assert set(curve.to_dict()) == {"offered", "accepted", "latency_mean", "latency_p99", "saturated"}


def test_the_curve_plots(tmp_path):
    pytest.importorskip("matplotlib")
    curve = fs.sweep.latency_throughput(
        fabric(fs.topology.mesh((4, 4))), "transpose", [0.05, 0.2], dims=(4, 4), measure_cycles=500
    )
    assert curve.plot(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_on_two_threads_is_the_same_curve():
    fab = fs.Fabric(
        topology=fs.topology.mesh((4, 4)),
        link=fs.LinkSpec.preset("noc"),
        router=fs.RouterSpec(pipeline_cycles=3),
    )
    # (the rates after the first saturated one are not run: two more of 1.0 at the end)
    kw = dict(rates=np.r_[np.arange(0.1, 1.01, 0.1), 1.0, 1.0], warmup_cycles=200, measure_cycles=600)
    one = fs.sweep.latency_throughput(fab, "uniform", **kw)
    for workers in (2, 3):
        assert fs.sweep.latency_throughput(fab, "uniform", workers=workers, **kw).to_dict() == one.to_dict()
    # it stopped at its first saturated point, which the threads' extra runs do not change
    assert one.points[-1].saturated and not any(p.saturated for p in one.points[:-1])
    assert len(one.points) <= 10
