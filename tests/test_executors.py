"""Sweeps on executors: a process pool and a Dask LocalCluster give the in-process sweep's
answer exactly; a failed run loses no finished point; specs, workloads and results pickle."""

import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import fabricsim as fs
from fabricsim.analysis.executors import SweepError, run_all

MESH = fs.Fabric(
    topology=fs.topology.mesh((4, 4)),
    link=fs.LinkSpec.preset("noc").replace(vcs=2, credits_per_vc=8),
    router=fs.RouterSpec(pipeline_cycles=3),
)


def test_a_process_pool_gives_the_in_process_collective_sweep():
    fab = fs.Fabric.preset("dgx8_nvswitch")
    kw = {"sizes": fs.sizes("4KiB", "256KiB", 8), "algorithms": ["auto", "ring"]}
    here = fs.sweep.collective(fab, "all_reduce", **kw)
    with ProcessPoolExecutor(2) as pool:
        there = fs.sweep.collective(fab, "all_reduce", executor=pool, **kw)
    assert there.points == here.points
    assert fs.sweep.collective(fab, "all_reduce", workers=2, **kw).points == here.points


# (dask's own sockets and HTTP server warn as they come and go; fabricsim's answer is what is tested)
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_a_dask_local_cluster_gives_the_in_process_curve():
    distributed = pytest.importorskip("dask.distributed")
    rates = [0.1, 0.2, 0.3, 0.45, 0.6]
    kw = {"warmup_cycles": 300, "measure_cycles": 600}
    here = fs.sweep.latency_throughput(MESH, "uniform", rates, **kw)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        there = fs.sweep.latency_throughput(MESH, "uniform", rates, executor=client, **kw)
        table = fs.sweep.loaded_latency_table(
            fs.Fabric(
                topology=fs.topology.switch_star(2, memory_expanders=1),
                link=fs.LinkSpec.preset("cxl3_256b"),
                router=fs.RouterSpec(pipeline_cycles=2),
                hbm=fs.HbmSpec.preset("hbm3"),
                protocol="cxl_mem",
            ),
            0,
            ["expander:0"],
            [1, 8],
            requests=200,
            executor=client,
        )
    assert there.points == here.points
    assert [p.outstanding for p in table["expander:0"].points] == [1, 8]


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("node lost")
    return x * x


def test_a_failed_run_loses_no_finished_point():
    with (
        ThreadPoolExecutor(2) as pool,
        pytest.raises(SweepError, match=r"1 of 5 runs failed \(first: input 3") as e,
    ):
        run_all(_fails_on_three, [1, 2, 3, 4, 5], executor=pool)
    assert e.value.finished == {1: 1, 2: 4, 4: 16, 5: 25}
    assert list(e.value.failed) == [3] and isinstance(e.value.__cause__, RuntimeError)
    # in order, here: the failure propagates as it is
    with pytest.raises(RuntimeError, match="node lost"):
        run_all(_fails_on_three, [1, 3])


def test_specs_workloads_and_results_pickle():
    fab = fs.Fabric.preset("dgx8_nvswitch")
    assert pickle.loads(pickle.dumps(fab))._json == fab._json
    op = fs.collectives.all_reduce(bytes=64 << 10)
    res = fab.run(op)
    again = pickle.loads(pickle.dumps(fab)).run(pickle.loads(pickle.dumps(op)))
    assert again.time_ns == res.time_ns and pickle.loads(pickle.dumps(res)).time_ns == res.time_ns
    for w in (
        fs.traffic.synthetic("uniform", rate=0.1, measure_cycles=100),
        fs.traffic.loads(requester=0, target="expander:0", requests=10),
    ):
        assert pickle.loads(pickle.dumps(w)) == w
    m = fs.traffic.messages([0, 1], [1, 0], [64, 128])
    back = pickle.loads(pickle.dumps(m))
    assert all((getattr(back, c) == getattr(m, c)).all() for c in ("src", "dst", "bytes", "inject_ps", "vc"))


def test_a_sweep_shows_its_progress_when_asked_and_not_otherwise(capsys):
    fab = fs.Fabric.preset("dgx8_nvswitch")
    kw = {"sizes": [4096, 8192], "algorithms": ["ring"]}
    quiet = fs.sweep.collective(fab, "all_reduce", progress=False, **kw)
    assert capsys.readouterr().err == ""
    shown = fs.sweep.collective(fab, "all_reduce", progress=True, **kw)
    err = capsys.readouterr().err
    assert "/2" in err  # tqdm's bar (drawn at most every 0.1 s), or the plain line
    assert shown.points == quiet.points
    with pytest.raises(fs.SpecError, match="progress: must be True, False or None"):
        fs.sweep.collective(fab, "all_reduce", progress="yes", **kw)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_local_cluster_starts_while_dasks_default_dashboard_port_is_taken() -> None:
    # another cluster, or any program, on 8787 must not stop a sweep's cluster from starting
    import socket

    pytest.importorskip("dask.distributed")
    from fabricsim.analysis.executors import local_cluster

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 8787))
            held.listen()
        except OSError:
            pass  # taken already: the case itself
        client = local_cluster(workers=1)
        try:
            assert not client.dashboard_link.endswith(":8787/status")
            assert client.submit(sum, [1, 2, 3]).result() == 6
        finally:
            client.close()
            client.cluster.close()
