"""Traffic builders and the errors bad traffic gets."""

import numpy as np
import pytest

import fabricsim as fs


@pytest.fixture
def fab():
    return fs.Fabric(topology=fs.topology.point_to_point(), link=fs.LinkSpec.preset("nvlink4"))


def test_scalars_broadcast_over_rows():
    t = fs.traffic.messages(src=0, dst=1, bytes=[10, 20, 30], at_ns=1.5, vc=1)
    assert len(t) == 3
    assert t.src.tolist() == [0, 0, 0] and t.inject_ps.tolist() == [1500] * 3 and t.vc.tolist() == [1] * 3


def test_stream_spaces_messages_evenly():
    t = fs.traffic.stream(1, 0, count=4, bytes=64, interval_ns=2.5, start_ns=1)
    assert t.inject_ps.tolist() == [1000, 3500, 6000, 8500]
    both = fs.traffic.concat(t, fs.traffic.messages(0, 1, 8))
    assert len(both) == 5 and both.src.tolist() == [1, 1, 1, 1, 0]


def test_empty_traffic_runs_to_an_empty_result(fab):
    res = fab.run(fs.traffic.stream(0, 1, count=0, bytes=64))
    assert res.complete and len(res.messages) == 0 and res.links["flits"].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"src": 0, "dst": 2, "bytes": 64}, "traffic.dst[0]"),
        ({"src": -1, "dst": 1, "bytes": 64}, "traffic.src[0]"),
        ({"src": 0, "dst": 0, "bytes": 64}, "traffic.dst[0]"),
        ({"src": 0, "dst": 1, "bytes": [64, 0]}, "traffic.bytes[1]"),
        ({"src": 0, "dst": 1, "bytes": -5}, "traffic.bytes[0]"),
        ({"src": 0, "dst": 1, "bytes": 64, "vc": [0, 2]}, "traffic.vc[1]"),
    ],
)
def test_bad_rows_are_named_at_run_time(fab, kwargs, path):
    with pytest.raises(fs.SpecError) as info:
        fab.run(fs.traffic.messages(**kwargs))
    assert str(info.value).startswith(path), str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"src": 0, "dst": 1, "bytes": 64, "at_ns": float("nan")}, "traffic.at_ns[0]"),
        ({"src": 0, "dst": 1, "bytes": 64, "at_ns": [1.0, -2.0]}, "traffic.at_ns[1]"),
        ({"src": 0, "dst": 1, "bytes": 64, "at_ns": 1e30}, "traffic.at_ns[0]"),
        (
            {"src": 0, "dst": 1, "bytes": 2**70},
            "traffic.bytes: must fit a 64-bit signed integer, got 1180591620717411303424",
        ),
        ({"src": [0, 1, 0], "dst": [1, 0], "bytes": 64}, "traffic.dst: has 2 rows but the traffic has 3"),
        ({"src": 0.5, "dst": 1, "bytes": 64}, "whole numbers"),
        ({"src": "a", "dst": 1, "bytes": 64}, "integers"),
        ({"src": 0, "dst": 1, "bytes": 64, "at_ns": 1.0, "at_ps": 5}, "not both"),
    ],
)
def test_malformed_columns_are_spec_errors(kwargs, words):
    with pytest.raises(fs.SpecError, match=words.replace("[", r"\[").replace("]", r"\]")):
        fs.traffic.messages(**kwargs)


def test_wrong_argument_types_are_spec_errors(fab):
    with pytest.raises(fs.SpecError, match="traffic"):
        fab.run([(0, 1, 64)])  # type: ignore[arg-type]
    with pytest.raises(fs.SpecError, match="link"):
        fs.Fabric(topology=fs.topology.point_to_point(), link={"lanes": 1})  # type: ignore[arg-type]


def test_columns_are_int64():
    t = fs.traffic.messages(np.array([0], dtype=np.uint8), 1, np.array([64], dtype=np.int32))
    assert all(getattr(t, c).dtype == np.int64 for c in ("src", "dst", "bytes", "inject_ps", "vc"))


def test_synthetic_patterns_map_endpoints_as_defined():
    rng = fs.streams.Stream(0, "test")
    src = np.arange(64, dtype=np.int64)
    d = lambda p, **kw: fs.traffic.destinations(p, src, 64, rng, **kw)  # noqa: E731
    assert d("bit_complement").tolist() == (63 - src).tolist()
    assert d("transpose", dims=(8, 8))[8 * 3 + 5] == 8 * 5 + 3  # (5, 3) -> (3, 5)
    assert d("transpose", dims=(8, 8))[9] == -1  # the diagonal sends nothing
    assert d("tornado", dims=(8, 8))[0] == 3 + 8 * 3  # (0, 0) -> (3, 3): halfway minus one per dim
    assert d("neighbor", dims=(8, 8))[7] == 8 + 0  # (7, 0) -> (0, 1)
    assert d("bit_reverse")[1] == 32 and d("shuffle")[33] == 3
    uniform = d("uniform")
    assert (uniform != src).all() and ((0 <= uniform) & (uniform < 64)).all()
    perm = d("permutation")
    assert sorted(perm[perm >= 0].tolist() + src[perm < 0].tolist()) == list(range(64))
    with pytest.raises(fs.SpecError, match="power-of-two"):
        fs.traffic.destinations("bit_reverse", src[:6], 6, rng)
    with pytest.raises(fs.SpecError, match="unknown pattern"):
        d("zigzag")


def test_synthetic_injection_is_bernoulli_at_the_rate():
    t = fs.traffic.synthetic("uniform", 64, rate=0.2, cycles=2000, cycle_ps=1000.0, packet_bytes=16, seed=3)
    assert len(t) == pytest.approx(0.2 * 64 * 2000, rel=0.03)
    assert (np.diff(t.inject_ps) >= 0).all() and (t.src != t.dst).all()
    again = fs.traffic.synthetic(
        "uniform", 64, rate=0.2, cycles=2000, cycle_ps=1000.0, packet_bytes=16, seed=3
    )
    assert t == again


def test_a_traffic_matrix_sets_each_sources_destination_mix():
    m = np.zeros((4, 4))
    m[0, 1], m[0, 2] = 1.0, 3.0  # source 0: a quarter to 1, three quarters to 2
    m[1, 0] = 1.0  # source 1: all to 0; sources 2 and 3 are silent
    t = fs.traffic.synthetic(
        "matrix", 4, rate=0.5, cycles=4000, cycle_ps=1000.0, packet_bytes=16, matrix=m, seed=3
    )
    assert set(np.unique(t.src)) == {0, 1}
    assert set(t.dst[t.src == 1]) == {0}
    to = t.dst[t.src == 0]
    assert set(to) == {1, 2}
    assert abs((to == 2).mean() - 0.75) < 0.03  # ~2000 draws: 3 sigma is about 0.03
    again = fs.traffic.synthetic(
        "matrix", 4, rate=0.5, cycles=4000, cycle_ps=1000.0, packet_bytes=16, matrix=m, seed=3
    )
    assert np.array_equal(t.dst, again.dst)


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        (None, "traffic.matrix: the 'matrix' pattern needs"),
        (np.zeros((3, 4)), "traffic.matrix: must be 4 x 4"),
        (np.eye(4), "traffic.matrix[0, 0]: the diagonal must be 0"),
        (-np.ones((4, 4)), "traffic.matrix[0, 0]: must be finite and >= 0"),
    ],
)
def test_bad_traffic_matrices_name_the_entry(matrix, words):
    with pytest.raises(fs.SpecError) as info:
        fs.traffic.synthetic(
            "matrix", 4, rate=0.1, cycles=10, cycle_ps=1000.0, packet_bytes=16, matrix=matrix
        )
    assert str(info.value).startswith(words), str(info.value)
