"""The make-run demo: its rows agree with the analytic bounds they print."""

import pytest

import fabricsim as fs
from fabricsim.cli.demo import sweep_credits_and_sizes
from fabricsim.cli.main import main


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


def test_demo_command_prints_the_table(capsys, tmp_path):
    plot = tmp_path / "busbw.png"
    mem_plot = tmp_path / "loaded.png"
    argv = [
        "demo",
        "--preset",
        "nvlink4",
        "--largest",
        "16384",
        "--plot",
        str(plot),
        "--memory-plot",
        str(mem_plot),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "credit-limited" in out and "bandwidth-limited" in out and "nvlink4" in out
    assert "go-back-N" in out and "selective" in out
    assert "routed fabrics" in out and "Valiant" in out
    assert "all-reduce on dgx8_nvls" in out and plot.exists()
    assert "Memory fabric" in out and mem_plot.exists()
    assert main(["presets"]) == 0
    assert "pcie6_x16" in capsys.readouterr().out


def test_fabric_demo_refuses_the_deadlock_prone_torus_and_shows_valiant_winning():
    from fabricsim.cli.demo import fabric_demo

    text = fabric_demo(cycles=300)
    rows = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    assert " NO (refused: a cycle of 8 channels)" in rows["8x8 torus, 1 VC"]
    for name in ("8x8 mesh", "8x8 torus", "k=8 fat-tree (3 levels)", "dragonfly p=2 a=4 h=2"):
        assert " yes " in rows[name], rows[name]
    last = text.splitlines()[-1]
    minimal, valiant, ugal = (int(w) for w in last.replace(",", "").split() if w.isdigit() and int(w) > 100)
    assert minimal == 1607 and valiant < minimal / 2 and valiant < ugal < minimal


def test_memory_demo_rows_respect_peak_and_activation_bounds():
    from fabricsim.cli.demo import memory_demo

    text = memory_demo(requests=20_000)
    rows = [line.split() for line in text.splitlines() if line.startswith("hbm")]
    assert [r[0] for r in rows] == fs.HbmSpec.presets()
    for r in rows:
        peak, stream, random_, bound, idle, miss, conflict = map(
            float, (r[1], r[2], r[4], r[5], r[6], r[7], r[8])
        )
        assert 0.9 * peak <= stream <= peak
        assert 0.75 * bound <= random_ <= bound
        assert miss <= idle <= conflict + 5  # isolated reads: misses or conflicts (+ a refresh now and then)
    curve = [line.split() for line in text.splitlines()[-6:]]
    gbps = [float(c[1]) for c in curve]
    lat = [float(c[2]) for c in curve]
    assert gbps == sorted(gbps) and lat == sorted(lat)


def test_memory_fabric_demo_curves_rise_and_remote_costs_the_fabric(tmp_path):
    from fabricsim.cli.demo import memory_fabric_demo

    out = tmp_path / "loaded.png"
    text = memory_fabric_demo(plot=str(out), requests=1500)
    curves: dict[str, list[list[float]]] = {}
    name = ""
    for line in text.splitlines():
        words = line.replace(":", " ").split()
        if words and words[0] in ("local", "peer", "expander"):
            name = line.split(":")[0] if words[0] == "local" else ":".join(line.split(":")[:2])
            curves[name] = []
        elif name and words and words[0].isdigit():
            curves[name].append([float(w) for w in words])
    assert set(curves) == {"local", "peer:1", "expander:0"}
    for rows in curves.values():
        gbps = [r[1] for r in rows]
        assert all(b >= 0.97 * max(gbps[: i + 1]) for i, b in enumerate(gbps))  # saturates, no fall
    local, peer = curves["local"][0], curves["peer:1"][0]
    assert local[2] < peer[2] and local[4] < 1 < 40 < peer[4]  # the fabric costs idle latency
    # at 256 in flight: the expander is memory-bound (64 GB/s), the peer link-bound (96 GB/s)
    assert curves["expander:0"][-1][1] < 64 < curves["peer:1"][-1][1] < 96
    assert out.exists() and out.stat().st_size > 0


def test_collective_demo_table_and_plot(tmp_path):
    from fabricsim.cli.demo import collective_demo

    out = tmp_path / "busbw.png"
    text = collective_demo(largest=1 << 20, plot=str(out))
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert {r[1] for r in rows} == {"auto", "ring", "nvls"}
    by = {
        a: [(int(r[0]), float(r[2]), float(r[4]), r[6]) for r in rows if r[1] == a]
        for a in ("auto", "ring", "nvls")
    }
    for points in by.values():
        busbw = [p[2] for p in points]
        assert busbw == sorted(busbw)  # busbw grows with size
    # small sizes cost NCCL's latencies: microseconds, not the fabric's ~0.1 us
    assert all(p[1] > 5 for p in by["ring"])
    # the tuner's pick is never far from the best of what it weighed, and says what it ran
    for (size, t, _, ran), ring, nvls in zip(by["auto"], by["ring"], by["nvls"], strict=True):
        assert t <= 1.15 * min(ring[1], nvls[1]), (size, ran)
        assert "/" in ran
    assert by["auto"][0][3] in ("tree/ll", "ring/ll")  # 1 KiB: the low-latency protocol
    assert out.exists() and out.stat().st_size > 0
    assert "latency-limited" in text


def test_fabric_presets_load_with_sources():
    assert "dgx8_nvswitch" in fs.Fabric.presets()
    fab = fs.Fabric.preset("dgx8_nvswitch")
    assert fab.num_endpoints == 8 and fab.sources and fab.topology.params["planes"] == 4
    assert fab.check_deadlock_freedom().ok
    with pytest.raises(fs.SpecError, match="unknown fabric preset"):
        fs.Fabric.preset("dgx1")
    nvl = fs.Fabric.preset("nvl72")
    assert nvl.num_endpoints == 72 and nvl.topology.params["planes"] == 18
    assert nvl.check_deadlock_freedom().ok
    # all-to-all: each GPU's 71 blocks go round its 18 ports (4 on some, 3 on others), every
    # port a 50 GB/s-per-direction link: about 4 blocks / port goodput, plus a hop's latency;
    # the alpha-beta estimate (71/72 of the data over 18 ports) is within the 4-vs-3.94 blocks
    size = 72 * 8192
    res = nvl.run(fs.collectives.all_to_all(bytes=size, chunks=1, library="ideal"))
    port = float(nvl.link.resolved()["max_goodput_gbps"]) / 8
    assert 4 * (size / 72) / port < res.time_ns < 4 * (size / 72) / port + 100
    assert res.time_us == pytest.approx(res.analytical_us, rel=0.05)
    cube = fs.Fabric.preset("tpu_v4_cube")
    assert cube.num_endpoints == 64 and cube.topology.params["dims"] == [4, 4, 4]
    assert cube.check_deadlock_freedom().ok  # dateline classes on every ring of the torus
    # a ring all-reduce in rank order runs over neighbours: one link's goodput at most, and
    # 126 steps of 16 KiB: the alpha-beta estimate of the ring holds
    res = cube.run(fs.collectives.all_reduce(bytes=1 << 20, algorithm="ring"))
    goodput = float(cube.link.resolved()["max_goodput_gbps"]) / 8
    assert res.busbw_gbyte_per_s <= goodput
    assert res.time_us == pytest.approx(res.analytical_us, rel=0.1)


def test_training_demo_shows_the_straggler_and_the_slow_and_the_failed_link():
    from fabricsim.cli.demo import training_demo

    rows = {line[:34].strip(): line[34:].split() for line in training_demo().splitlines()[4:9]}
    base, slow_gpu, slow_link, failed_link, nic_down = (float(rows[k][0]) for k in rows)
    # a NIC down for 2 s of the step: its stage waits for the gradients that come back late
    assert base < nic_down < base + 2.0
    assert float(rows["GPU 8's NIC down from 5 s to 7 s"][6]) > float(rows["as built"][6])  # bubble
    # (the failed port costs its tensor group time, but the last stage gates the pipeline)
    assert slow_gpu > base and slow_link > base and slow_link > failed_link >= base
    tp = {k: float(v[4]) for k, v in rows.items()}  # the tensor-parallel column
    assert tp["GPU 8's first NVLink port at 25%"] > tp["GPU 8's first NVLink port failed"] > tp["as built"]
