"""The run contract (docs/run.md): every workload runs through Fabric.run with one RunOptions,
stops the same way (limits, deadlocks, Ctrl-C) and reports through one result base. Each
defect the contract's issue lists is a test here."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from hypothesis import given

import fabricsim as fs
from fabricsim.testing import strategies

P2P = fs.Fabric(topology=fs.topology.point_to_point(), link=fs.LinkSpec.preset("pcie6_x16"))
NOC_MESH = fs.Fabric(topology=fs.topology.mesh((4, 4)), link=fs.LinkSpec.preset("noc"))
ENDLESS = fs.traffic.messages(0, 1, 1 << 45)
"""A 32 TiB message: hours of engine time."""


def memory_fabric() -> fs.Fabric:
    return fs.Fabric(
        topology=fs.topology.switch_star(4, memory_expanders=1),
        link=fs.LinkSpec.preset("cxl3_256b"),
        hbm=fs.HbmSpec.preset("hbm3"),
        protocol="cxl_mem",
    )


def workloads() -> list[tuple[str, fs.Fabric, fs.Workload]]:
    """One small workload of every kind, with a fabric it runs on."""
    star = fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4"))
    op = fs.collectives.all_reduce(bytes=64 << 10, chunks=2)
    return [
        ("messages", P2P, fs.traffic.stream(0, 1, count=20, bytes=4096)),
        (
            "synthetic",
            NOC_MESH,
            fs.traffic.synthetic("uniform", rate=0.1, warmup_cycles=100, measure_cycles=400),
        ),
        ("collective", star, op),
        ("schedule", star, op.schedule(4)),
        ("memory", memory_fabric(), fs.traffic.loads(requester=0, target="expander:0", requests=200)),
    ]


# --- one seam, one result base ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "fab", "workload"), workloads(), ids=[w[0] for w in workloads()])
def test_every_workload_runs_through_one_seam_and_reports_one_base(name, fab, workload):
    res = fab.run(workload, fs.RunOptions(seed=3))
    assert isinstance(res, fs.RunResultBase)
    assert res.complete
    assert res.simulated_time_ps > 0
    d = res.to_dict()
    assert d["kind"] == type(res).__name__ and d["complete"] is True
    assert d["simulated_time_ps"] == res.simulated_time_ps
    json.dumps(d)  # plain values only
    tables = res.tables()
    assert tables and all(isinstance(t, np.ndarray) and t.dtype.names for t in tables.values())
    assert res.summary()
    # the same run through overrides instead of an options object: identical
    again = fab.run(workload, seed=3)
    assert again.to_dict() == d


@pytest.mark.parametrize(("name", "fab", "workload"), workloads(), ids=[w[0] for w in workloads()])
def test_results_go_to_pandas_with_units_in_the_column_names(name, fab, workload):
    pd = pytest.importorskip("pandas")
    res = fab.run(workload)
    for table, array in res.tables().items():
        frame = res.to_pandas(table)
        assert isinstance(frame, pd.DataFrame)
        assert list(frame.columns) == list(array.dtype.names) and len(frame) == len(array)
    assert list(res.to_pandas().columns) == list(next(iter(res.tables().values())).dtype.names)
    with pytest.raises(fs.SpecError, match=r"^table: must be one of"):
        res.to_pandas("nope")


def test_run_options_are_one_immutable_object_checked_before_anything_runs():
    opts = fs.RunOptions(seed=np.uint64(7), max_cycles=np.int64(100))
    assert (opts.seed, opts.max_cycles) == (7, 100) and type(opts.seed) is int
    assert opts.replace(seed=8).seed == 8 and opts.seed == 7
    with pytest.raises(fs.SpecError, match=r"^options\.engine: must be one of auto, tick_all, got 'warp'$"):
        fs.RunOptions(engine="warp")  # type: ignore[arg-type]
    with pytest.raises(fs.SpecError, match=r"^options\.max_cycles: must be an integer in 1\.\.="):
        fs.RunOptions(max_cycles=0)
    with pytest.raises(fs.SpecError, match=r"^options\.faults\[0\]: must be a fabricsim\.faults fault"):
        fs.RunOptions(faults=["corrupt"])  # type: ignore[list-item]
    with pytest.raises(fs.SpecError, match=r"^options\.progress: must be a callable"):
        fs.RunOptions(progress=3)  # type: ignore[arg-type]
    with pytest.raises(fs.SpecError, match=r"^options: expected a fabricsim\.RunOptions, got dict$"):
        P2P.run(fs.traffic.messages(0, 1, 8), {"seed": 1})  # type: ignore[arg-type]


def test_a_collectives_execution_settings_live_on_the_collective_not_the_run():
    star = fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4"))
    op = fs.collectives.all_reduce(bytes=64 << 10)
    with pytest.raises(fs.SpecError, match=r"^reduce_ns_per_byte: how a collective executes is a setting of"):
        star.run(op, reduce_ns_per_byte=0.01)
    slow = star.run(op.with_execution(reduce_ns_per_byte=0.01))
    assert slow.time_us > star.run(op).time_us
    assert fs.collectives.all_reduce(bytes=64 << 10, reduce_ns_per_byte=0.01).execution == slow.op.execution
    with pytest.raises(fs.SpecError, match=r"^execution: unknown setting\(s\) \['memroy'\]"):
        op.with_execution(memroy=True)


def test_anything_else_is_refused_naming_what_runs():
    with pytest.raises(fs.SpecError, match=r"^workload: expected messages, a synthetic load, .* got int$"):
        P2P.run(3)  # type: ignore[call-overload]


# --- one limit policy --------------------------------------------------------------------------


def test_a_collective_that_hits_a_limit_raises_with_its_partial_result():
    # was: busbw inf with a negative time
    fab = fs.Fabric.preset("dgx8_nvswitch")
    with pytest.raises(fs.SimulationLimitError, match="run limit reached") as e:
        fab.run(fs.collectives.all_reduce(bytes=16 << 20, chunks=8), max_time_ns=1000)
    partial = e.value.partial
    assert isinstance(partial, fs.collectives.CollectiveResult) and not partial.complete
    assert partial.time_ns == pytest.approx(1000, abs=1) and partial.busbw_gbyte_per_s == 0.0


def test_a_collective_sweep_that_hits_a_limit_raises_instead_of_reporting_a_point():
    # was: a 16 MiB ring at 2952 GB/s labelled link-limited
    fab = fs.Fabric.preset("dgx8_nvswitch")
    with pytest.raises(fs.SimulationLimitError):
        fs.sweep.collective(fab, "all_reduce", sizes=[16 << 20], algorithms=["ring"], max_time_ns=1000)


def test_a_memory_load_that_hits_a_limit_raises_with_its_partial_result():
    load = fs.traffic.loads(requester=0, target="expander:0", requests=5000)
    with pytest.raises(fs.SimulationLimitError) as e:
        memory_fabric().run(load, max_time_ns=200)
    partial = e.value.partial
    assert isinstance(partial, fs.MemoryFabricResult) and not partial.complete
    assert partial.simulated_time_ps <= 200_000 + 10_000


def test_a_memory_run_on_one_stack_follows_the_same_policy():
    traffic = fs.traffic.memory("random", 20_000, bytes=64, outstanding=64)
    with pytest.raises(fs.SimulationLimitError) as e:
        fs.run_memory(fs.HbmSpec.preset("hbm3"), traffic, fs.RunOptions(max_time_ns=500))
    assert isinstance(e.value.partial, fs.MemoryResult) and not e.value.partial.complete


def test_a_users_time_limit_on_a_synthetic_load_still_raises():
    # the drain limit (drain_factor x 500 cycles of 1 ns) is the load's own; 200 ns is the user's
    mesh = fs.Fabric(topology=fs.topology.mesh((8, 8)), link=fs.LinkSpec.preset("noc"))
    load = fs.traffic.synthetic("uniform", rate=0.9, warmup_cycles=100, measure_cycles=400, drain_factor=1)
    with pytest.raises(fs.SimulationLimitError):
        mesh.run(load, max_time_ns=200)
    assert mesh.run(load, max_time_ns=10_000).saturated  # later than the drain limit: an answer


def test_a_synthetic_load_past_saturation_is_an_answer_not_an_error():
    mesh = fs.Fabric(topology=fs.topology.mesh((8, 8)), link=fs.LinkSpec.preset("noc"))
    res = mesh.run(
        fs.traffic.synthetic("uniform", rate=0.9, warmup_cycles=100, measure_cycles=400, drain_factor=1)
    )
    assert res.saturated and not res.complete and res.limit_expected


# --- deadlock, whatever stops the run first ----------------------------------------------------


def test_a_deadlock_under_a_synthetic_load_is_a_deadlock_not_saturation():
    # was: saturated=True with 3 of 50,345 messages delivered
    fab = fs.Fabric(
        topology=fs.topology.torus((8, 8)), link=fs.LinkSpec.preset("noc"), router=fs.RouterSpec(vcs=1)
    )
    load = fs.traffic.synthetic("tornado", rate=0.5, warmup_cycles=1000, measure_cycles=4000)
    with pytest.raises(fs.DeadlockError, match="wait on each other in a cycle") as e:
        fab.run(load, check_deadlock=False)
    assert any("in the cycle" in w["reason"] for w in e.value.waiting)
    assert e.value.partial is not None and not e.value.partial.complete


def test_saturation_without_a_cyclic_wait_still_returns_its_window():
    fab = fs.Fabric(
        topology=fs.topology.torus((8, 8)), link=fs.LinkSpec.preset("noc"), router=fs.RouterSpec(vcs=2)
    )
    res = fab.run(fs.traffic.synthetic("tornado", rate=0.9, warmup_cycles=200, measure_cycles=800))
    assert res.saturated and res.limit_expected and res.accepted_rate > 0


# --- Ctrl-C and progress ------------------------------------------------------------------------


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_stops_a_run_within_a_second():
    started = time.monotonic()
    interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        P2P.run(ENDLESS)
    assert time.monotonic() - started < 0.3 + 1.0


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_stops_a_collective_and_a_stepped_simulation():
    fab = fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4"))
    started = time.monotonic()
    interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        fab.run(fs.collectives.all_reduce(bytes=1 << 40, algorithm="direct"))
    assert time.monotonic() - started < 0.3 + 1.0
    sim = P2P.simulation(ENDLESS)
    interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        sim.step(1 << 62)


def test_progress_is_reported_and_raising_from_it_stops_the_run():
    seen: list[fs.Progress] = []

    def report(p: fs.Progress) -> None:
        seen.append(p)
        if len(seen) == 2:
            raise RuntimeError("seen enough")

    with pytest.raises(RuntimeError, match="seen enough"):
        P2P.run(ENDLESS, progress=report)
    assert len(seen) == 2 and seen[0].cycle < seen[1].cycle
    assert (seen[1].done, seen[1].total) == (0, 1) and seen[1].fraction == 0.0


def test_progress_counts_work_done():
    seen: list[fs.Progress] = []
    traffic = fs.traffic.stream(0, 1, count=2000, bytes=1 << 20)
    P2P.run(traffic, progress=seen.append)  # about 0.3 s of engine time: a few reports
    assert seen and all(p.total == 2000 for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_progress_does_not_change_results():
    traffic = fs.traffic.stream(0, 1, count=2000, bytes=1 << 20)
    seen: list[fs.Progress] = []
    watched = P2P.run(traffic, progress=seen.append)
    assert seen, "the run was long enough for the callback to be called"
    plain = P2P.run(traffic)
    assert watched.to_dict() == plain.to_dict()
    assert np.array_equal(watched.messages, plain.messages) and np.array_equal(watched.links, plain.links)


# --- inputs bounded before anything is allocated ------------------------------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: fs.sizes(0, 4096), r"^lo: must be a size in 1\.\.="),
        (lambda: fs.sizes(1024, 4096, factor=1), r"^factor: must be an integer >= 2, got 1$"),
        (lambda: fs.sizes("4KiB", "1KiB"), r"^hi: must be >= lo \(4096\), got 1024$"),
        (lambda: fs.sizes("many", 4096), r"^lo: must be a size"),
        (
            lambda: fs.collectives.all_reduce(bytes=2**63),
            r"^bytes: must be an integer in 0\.\.=\d+, got 9223372036854775808$",
        ),
        (
            lambda: fs.collectives.all_reduce(bytes=1024, chunks=10**7),
            r"^chunks: must be an integer in 1\.\.=",
        ),
        (
            lambda: fs.collectives.all_reduce(bytes=1024, chunks=10**5).schedule(8),
            r"^chunks: .* makes about 38,400,000 operations \(about 3\.6 GiB",
        ),
        (
            lambda: fs.traffic.messages(0, 1, 2**63),
            r"^traffic\.bytes: must fit a 64-bit signed integer, got 9223372036854775808$",
        ),
        (lambda: fs.traffic.messages(0, 1, 2**60), r"^traffic\.bytes: must be at most 1125899906842624, got"),
        (
            lambda: NOC_MESH.run(fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=10**12)),
            r"^traffic\.measure_cycles: .* make about 1,600,000,000,032 packets \(119209\.3 GiB\) from 16,000,000,000,000 trials; at most 2 GiB",
        ),
        (lambda: fs.topology.torus("44"), r"^topology\.dims: must be a non-empty sequence of integers"),  # type: ignore[arg-type]
        (
            lambda: fs.topology.torus((4.5, 4)),
            r"^topology\.dims\[0\]: must be an integer in 1\.\.=\d+, got 4\.5$",
        ),  # type: ignore[arg-type]
        (lambda: fs.topology.mesh((2048, 2048)), r"^topology\.dims: 2048 x 2048 = 4194304 routers; at most"),
        (lambda: fs.topology.ring(True), r"^topology\.n: must be an integer"),  # type: ignore[arg-type]
    ],
)
def test_sizes_are_bounded_with_a_clear_error(make, words):
    started = time.monotonic()
    with pytest.raises(fs.SpecError, match=words):
        make()
    assert time.monotonic() - started < 1.0


def test_numpy_scalars_are_spec_values():
    # was: "Object of type int64 is not JSON serializable"
    link = fs.LinkSpec.preset("pcie6_x16").replace(lanes=np.int64(4), ber=np.float64(1e-9))
    assert link.lanes == 4 and link.to_dict()["lanes"] == 4
    with pytest.raises(
        fs.SpecError, match=r"^link\.lanes: must be a number, a string, a bool or a list of them, got object"
    ):
        fs.LinkSpec.preset("pcie6_x16").replace(lanes=object())


def test_a_synthetic_load_without_a_window_gets_the_default_one():
    # was: "got measure_cycles=None"
    load = fs.traffic.synthetic("uniform", rate=0.1)
    assert (load.warmup_cycles, load.measure_cycles) == fs.traffic.DEFAULT_WINDOW_CYCLES == (1_000, 10_000)
    given = fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=500)
    assert (given.warmup_cycles, given.measure_cycles) == (0, 500)
    res = NOC_MESH.run(load)
    assert res.window is not None and res.window.end_cycle == 11_000


# --- Fabric.from_toml ----------------------------------------------------------------------------


def test_a_fabric_reads_from_toml_and_runs_as_its_preset(tmp_path):
    preset = fs.Fabric.preset("dgx8_nvswitch")
    path = tmp_path / "node.toml"
    path.write_text(preset.to_toml())
    again = fs.Fabric.from_toml(path)
    assert again.to_dict() == preset.to_dict() and again.hbm == preset.hbm
    op = fs.collectives.all_reduce(bytes=1 << 20, chunks=4)
    assert again.run(op).to_dict() == preset.run(op).to_dict()
    path.write_text(preset.to_toml() + "\nspeed = 3\n")
    with pytest.raises(fs.SpecError, match="speed"):
        fs.Fabric.from_toml(path)


# --- the hypothesis kit covers every workload kind ---------------------------------------------


@given(strategies.collectives(ranks=4))
def test_property_any_collective_verifies_and_runs_to_completion(op):
    fab = fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4"))
    fs.collectives.verify(op, ranks=4)
    res = fab.run(op)
    assert res.complete and res.time_ns > 0 and (res.op_finish_ns >= res.op_start_ns).all()


MEMORY_FABRIC = strategies.memory_fabrics()


@given(strategies.memory_loads(fabric=MEMORY_FABRIC, max_requests=60))
def test_property_any_memory_load_completes_every_request(load):
    res = MEMORY_FABRIC.run(load)
    assert res.complete
    assert len(res.rows["issue_ps"]) == sum(r.requests for r in load.requesters)
    assert (res.rows["complete_ps"] >= res.rows["issue_ps"]).all()


def test_profiles_load_by_name():
    assert fs.testing.load_profile("fast") == "fast"
    with pytest.raises(fs.SpecError, match=r"^profile: must be one of fast, thorough, got 'slow'$"):
        fs.testing.load_profile("slow")
    fs.testing.load_profile()


def test_progress_true_shows_a_bar_on_standard_error(capsys):
    pytest.importorskip("tqdm")
    P2P.run(fs.traffic.stream(0, 1, count=3000, bytes=1 << 20), progress=True)
    err = capsys.readouterr().err
    assert "/3000" in err and "cycle=" in err
