"""Collective schedules: every algorithm computes its collective (symbolic verification) for
every rank count, the verifier catches wrong schedules by name, and the schedules move the
bytes the textbook says."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.collectives import ALGORITHMS, Planner, ScheduleBuilder, VerificationError
from fabricsim.collectives.schedule import COPY, REDUCE, SEND

ALL = [(kind, alg) for kind, algs in ALGORITHMS.items() for alg in algs]


def collective(kind, alg, nbytes=1 << 20, chunks=1, ranks=8, **kw):
    if alg in ("hierarchical", "hierarchical_tree"):
        kw["local"] = next(d for d in (4, 3, 2, 1) if ranks % d == 0)
    if alg == "torus":
        first = next(d for d in (4, 3, 2, 1) if ranks % d == 0)
        kw["dims"] = (first, ranks // first)
    return getattr(fs.collectives, kind)(bytes=nbytes, algorithm=alg, chunks=chunks, **kw)


@pytest.mark.parametrize(("kind", "alg"), ALL)
def test_every_algorithm_verifies_on_small_rank_counts(kind, alg):
    for n in range(2, 13):
        for chunks in (1, 3):
            root = {"root": n - 1} if kind in ("broadcast", "reduce") else {}
            fs.collectives.verify(collective(kind, alg, 1000, chunks, n, **root), ranks=n)


@pytest.mark.parametrize(("kind", "alg"), ALL)
def test_every_algorithm_verifies_on_64_ranks(kind, alg):
    s = fs.collectives.verify(collective(kind, alg, ranks=64), ranks=64)
    assert s.ranks == 64 and len(s) > 0


@settings(max_examples=max(4, settings().max_examples // 8))
@given(
    n=st.integers(2, 64), chunks=st.integers(1, 3), nbytes=st.integers(0, 1 << 24), root=st.integers(0, 63)
)
def test_every_algorithm_verifies_for_any_rank_count_and_size(n, chunks, nbytes, root):
    for kind, alg in ALL:
        extra = {"root": root % n} if kind in ("broadcast", "reduce") else {}
        s = fs.collectives.verify(collective(kind, alg, nbytes, chunks, n, **extra), ranks=n)
        # every send is received with its byte count, and pieces add up to the data
        assert s.count("send") == s.count("recv")
        assert int(s.piece_bytes.sum()) == nbytes


@pytest.mark.parametrize("n", [2, 4, 7, 8])
def test_ring_all_reduce_moves_two_n_minus_one_over_n_of_the_data_per_rank(n):
    # Each rank sends 2(n-1) segments of S/n: 2(n-1)/n x S (what busbw normalizes by).
    size = 1 << 20
    s = fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="ring", chunks=4).schedule(n)
    assert s.bytes_sent() == pytest.approx(n * 2 * (n - 1) / n * size, abs=n * 2 * n * 4)
    per_rank = np.bincount(s.rank[s.op == 0], weights=s.bytes[s.op == 0], minlength=n)
    assert np.allclose(per_rank, per_rank[0], rtol=0.01)
    assert s.count("reduce") == n * (n - 1) * 4


def test_all_to_all_moves_n_minus_one_blocks_per_rank():
    n, size = 6, 6000
    s = fs.collectives.all_to_all(library="ideal", bytes=size, algorithm="pairwise").schedule(n)
    assert s.bytes_sent() == n * (n - 1) * size // n
    assert s.count("copy") == n  # the block a rank keeps


def wrong(build, kind="all_reduce", ranks=4, pieces=4):
    p = Planner(kind, ranks, pieces, 4000)
    build(p)
    return p.build()


def ring_all_reduce_without(skip):
    """The ring all-reduce with one (step, rank) of the all-gather left out."""

    def build(p):
        from fabricsim.collectives.algorithms import _segments, ring_reduce_scatter

        n = p.ranks
        segs = _segments(range(p.pieces), n)
        ring_reduce_scatter(p, list(range(n)), segs)
        for step in range(n - 1):
            for i in range(n):
                if (step, i) != skip:
                    for k in segs[(i - step) % n]:
                        p.move(i, (i + 1) % n, k, k, k)

    return build


def test_the_verifier_names_what_is_wrong():
    with pytest.raises(
        VerificationError,
        match=r"all_reduce: rank \d buffer 2 ends with piece 2 from ranks \[.*\], not piece 2 from ranks \[0, 1, 2, 3\], last written by op \d+",
    ):
        fs.collectives.verify(wrong(ring_all_reduce_without((0, 2))))

    def twice(p):  # rank 1's piece 0 reduced into rank 0 twice
        p.move_reduce(1, 0, 0)
        p.move_reduce(1, 0, 0)

    with pytest.raises(VerificationError, match="counts rank 1's contribution to piece 0 twice") as e:
        fs.collectives.verify(wrong(twice))
    assert e.value.op >= 0

    def mixed(p):  # adds piece 1 into piece 0
        tmp = p.scratch(0)
        p.move(1, 0, 1, tmp, 1)
        p.add_into(0, 0, tmp, 0)

    with pytest.raises(VerificationError, match=r"adds piece (0 to piece 1|1 to piece 0)"):
        fs.collectives.verify(wrong(mixed))

    b = ScheduleBuilder("all_reduce", 2, 2, 100)
    b.send(0, 1, 0, 50, tag=7)
    with pytest.raises(
        VerificationError,
        match=r"op 0 \(rank 0 sends buffer 0 to rank 1, tag 7, 50 B\) has no matching receive",
    ):
        fs.collectives.verify(b.build())

    b = ScheduleBuilder("all_reduce", 2, 2, 100)
    b.send(0, 1, 0, 50)
    b.recv(1, 0, 9, 40)
    with pytest.raises(VerificationError, match="receives 40 B but its send"):
        fs.collectives.verify(b.build())

    b = ScheduleBuilder("all_reduce", 2, 2, 100)
    b.send(0, 1, 0, 50, after=[1])  # waits for its own receive
    b.recv(1, 0, 9, 50)
    with pytest.raises(VerificationError, match="never becomes ready"):
        fs.collectives.verify(b.build())

    b = ScheduleBuilder("all_reduce", 2, 2, 100)
    b.send(0, 1, 9, 50)  # scratch buffer 9 was never written
    b.recv(1, 0, 9, 50)
    with pytest.raises(VerificationError, match="reads buffer 9 of rank 0 before anything was written"):
        fs.collectives.verify(b.build())


def test_a_user_algorithm_is_a_function_of_a_planner():
    def reduce_then_broadcast(p):
        """All-reduce: everyone's pieces summed into rank 0, which sends the sums back."""
        for k in range(p.pieces):
            for r in range(1, p.ranks):
                p.move_reduce(r, 0, k)
            for r in range(1, p.ranks):
                p.move(0, r, k, k, k)

    op = fs.collectives.all_reduce(library="ideal", bytes=4096, algorithm=reduce_then_broadcast)
    s = fs.collectives.verify(op, ranks=5)
    assert s.algorithm == "reduce_then_broadcast"
    assert s.bytes_sent() == 2 * 4 * 4096


def test_bad_arguments_are_spec_errors():
    with pytest.raises(fs.SpecError, match=r"algorithm: all_to_all knows auto, direct, pairwise, got 'ring'"):
        fs.collectives.all_to_all(library="ideal", bytes=10, algorithm="ring")
    with pytest.raises(fs.SpecError, match=r"chunks: must be an integer in 1\.\.=1048576, got 0"):
        fs.collectives.all_reduce(library="ideal", bytes=10, chunks=0)
    with pytest.raises(fs.SpecError, match=r"root: must be in 0\.\.3"):
        fs.collectives.broadcast(library="ideal", bytes=10, root=4).schedule(4)
    with pytest.raises(fs.SpecError, match=r"local: hierarchical all-reduce needs ranks per node dividing 6"):
        fs.collectives.all_reduce(library="ideal", bytes=10, algorithm="hierarchical", local=4).schedule(6)
    for bad in (0, -2, 2.5):  # ranks per node, on every kind that takes it
        with pytest.raises(fs.SpecError, match=r"local: must be an integer in 1\.\.=1048576"):
            fs.collectives.broadcast(bytes=10, local=bad)
        with pytest.raises(fs.SpecError, match=r"local: must be an integer"):
            fs.collectives.all_reduce(bytes=10, local=bad)
    with pytest.raises(fs.SpecError, match="ranks: give the number of ranks"):
        fs.collectives.verify(fs.collectives.all_reduce(library="ideal", bytes=10))


NOC = fs.LinkSpec.preset("noc")  # 16 GB/s per direction, 1 ns cycles, no link retry


def routed(topology, **router):
    return fs.Fabric(topology=topology, link=NOC, router=fs.RouterSpec(pipeline_cycles=3, **router))


@pytest.mark.parametrize("n", [3, 4, 8])
def test_ring_all_reduce_on_a_ring_takes_two_n_minus_one_over_n_of_s_over_b(n):
    # 2(n-1) steps of S/n bytes over links of B = 16 GB/s, each step also paying the
    # neighbour latency (1 + L + router 4 + L + ... about 10 cycles): time = 2(n-1)/n S/B +
    # 2(n-1) x step latency; busbw tends to the link goodput.
    size, goodput = 1 << 20, 16.0
    res = routed(fs.topology.ring(n)).run(
        fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="ring")
    )
    bound = 2 * (n - 1) / n * size / goodput
    assert bound <= res.time_ns <= bound + 2 * (n - 1) * 20
    assert res.busbw_gbyte_per_s == pytest.approx(goodput, rel=0.01)
    assert res.run.complete and len(res.run.messages) == res.schedule.count("send")
    assert res.link_utilization.max() > 0.99


def test_all_to_all_on_a_switch_star_takes_n_minus_one_over_n_of_s_over_port_goodput():
    n, size = 8, 1 << 20
    res = routed(fs.topology.switch_star(n)).run(fs.collectives.all_to_all(library="ideal", bytes=size))
    assert res.time_ns == pytest.approx((n - 1) / n * size / 16.0, rel=0.01)
    assert res.busbw_gbyte_per_s == pytest.approx(16.0, rel=0.01)


def test_collective_runs_are_deterministic_and_engine_modes_agree():
    fab = routed(fs.topology.mesh((2, 3)))
    op = fs.collectives.all_reduce(library="ideal", bytes=50_000, algorithm="halving_doubling", chunks=2)
    a = fab.run(op, seed=3)
    b = fab.run(op, seed=3, engine="tick_all")
    assert np.array_equal(a.op_finish_ns, b.op_finish_ns) and a.time_ns == b.time_ns
    assert np.array_equal(a.run.links, b.run.links)
    # every send's message was delivered once; its receive finished with it
    sends = np.flatnonzero(a.schedule.op == 0)
    assert np.all(a.op_finish_ns[sends] >= a.op_start_ns[sends])


def test_reduction_compute_time_is_charged():
    fab = routed(fs.topology.ring(4))
    op = fs.collectives.all_reduce(library="ideal", bytes=1 << 16, algorithm="ring")
    fast = fab.run(op)
    slow = fab.run(op.with_execution(reduce_ns_per_byte=0.01))  # 100 GB/s of reduction
    # 3 reduce steps in sequence, each of S/n bytes
    extra = 3 * (1 << 16) / 4 * 0.01
    assert slow.time_ns - fast.time_ns == pytest.approx(extra, rel=0.05)


def test_a_stalling_schedule_is_a_deadlock_and_a_wrong_one_fails_verification():
    b = ScheduleBuilder("all_reduce", 4, 4, 4000)
    b.recv(1, 0, 9, 100)  # waits for a send that never comes
    b.send(2, 1, 0, 100)
    fab = routed(fs.topology.ring(4))
    with pytest.raises(VerificationError, match="has no matching"):
        fab.run(b.build())
    c = ScheduleBuilder("all_reduce", 4, 4, 4000)
    c.send(0, 1, 0, 100, after=[1])
    c.recv(1, 0, 9, 100)
    with pytest.raises(fs.DeadlockError, match="collective schedule stalled"):
        fab.run(c.build().with_execution(verify=False))
    with pytest.raises(fs.SpecError, match="the schedule has 4 ranks and 0 helpers, the fabric 8 ranks"):
        routed(fs.topology.ring(8)).run(b.build())


def test_switch_planes_carry_a_collective_in_parallel():
    op = fs.collectives.all_to_all(library="ideal", bytes=1 << 18)
    one = routed(fs.topology.switch_star(8)).run(op)
    four = routed(fs.topology.switch_star(8, planes=4)).run(op)
    assert one.time_ns / four.time_ns == pytest.approx(4, rel=0.15)


def test_alpha_beta_estimate_and_bottleneck_beside_each_result():
    fab = routed(fs.topology.ring(8))
    big = fab.run(fs.collectives.all_reduce(library="ideal", bytes=1 << 20, algorithm="ring"))
    assert big.analytical_us == pytest.approx(big.time_us, rel=0.01)
    assert big.bottleneck == "link-limited"
    small = fab.run(fs.collectives.all_reduce(library="ideal", bytes=64, algorithm="ring"))
    assert small.bottleneck == "latency-limited"
    # direct exchange on a ring: the estimate assumes every rank injects at full rate, but the
    # ring's links carry several flows each; the simulation shows the contention
    direct = fab.run(fs.collectives.all_reduce(library="ideal", bytes=1 << 18, algorithm="direct"))
    assert direct.time_us > 2 * direct.analytical_us
    assert direct.bottleneck in ("link-limited", "switch-limited")
    # the tree's estimate counts its pipeline (2 trees, depth 3 for 8 ranks); on a switch
    # (every pair one hop apart) the two agree
    star = routed(fs.topology.switch_star(8))
    tree = star.run(fs.collectives.all_reduce(library="ideal", bytes=1 << 18, algorithm="tree", chunks=8))
    assert tree.analytical_us == pytest.approx(tree.time_us, rel=0.05)
    assert "alpha-beta" in big.summary()


def test_collective_sweep_table():
    fab = routed(fs.topology.switch_star(4))
    table = fs.sweep.collective(
        fab, "all_gather", sizes=fs.sizes("1KiB", "64KiB", 8), algorithms=["ring", "direct"], library="ideal"
    )
    assert [p.size for p in table.points] == [1024, 1024, 8192, 8192, 65536, 65536]
    assert set(table.to_dict()) >= {"size", "algorithm", "busbw_gbyte_per_s", "analytical_us", "bottleneck"}
    assert table.best(65536).busbw_gbyte_per_s == pytest.approx(16.0, rel=0.05)
    assert "busbw" in str(table)
    assert fs.sizes("1KiB", "1MiB", 4) == [1024, 4096, 16384, 65536, 262144, 1048576]


# --- memory coupling: every rank's HBM stack at cycle level ---------------------------------

HBM3 = fs.HbmSpec.preset("hbm3")


def _with_hbm(fab, hbm=HBM3):
    return fs.Fabric(topology=fab.topology, link=fab.link, router=fab.router, endpoint=fab.endpoint, hbm=hbm)


def test_one_send_through_memory_is_read_then_message_then_write_by_hand():
    link = fs.LinkSpec.preset("nvlink4")
    # refresh off: at time 0 the per-bank refresh would hold the first banks for tRFCsb
    ctrl = fs.ControllerSpec(refresh="off")
    fab = fs.Fabric(topology=fs.topology.point_to_point(), link=link, hbm=HBM3, controller=ctrl)
    sched = fs.collectives.broadcast(library="ideal", bytes=64, algorithm="ring").schedule(2)
    res = fab.run(sched.with_execution(memory=True, library="ideal"))
    p, tck = link.resolved()["cycle_ps"], HBM3.tck_ns * 1000
    t = HBM3.timing
    # the sender's stack reads the 64 B (two 32 B accesses on two channels, in parallel): they
    # enter at the first CK edge after 0 and finish a closed-bank read later
    read_done = (1 + t["rcd_rd"] + t["cl"] + t["bl"]) * tck
    sent = math.ceil(read_done / p)
    # the message: (1 + latency) cycles for its first flit, then one per flit
    arrived = sent + 1 + link.resolved()["latency_cycles"] + link.message_flits(64) - 1
    write_in = math.floor(arrived * p / tck) + 1
    written = (write_in + t["rcd_wr"] + t["cwl"] + t["bl"]) * tck
    assert res.time_ns == pytest.approx(math.ceil(written / p) * p / 1000)
    assert [m["reads"] for m in res.memory] == [2, 0] and [m["writes"] for m in res.memory] == [0, 2]


def _expected_accesses(s, n, access):
    """Per rank: the HBM reads and writes (in accesses) the schedule's operations name (switch
    reduction units, helper ranks from ``n`` on, have no memory)."""
    total = n + s.helpers
    reads, writes = np.zeros(total), np.zeros(total)
    for k, r, p, b in zip(s.op, s.rank, s.peer, s.bytes, strict=True):
        if k == SEND:
            reads[r] += b
            writes[p] += b
        elif k == REDUCE:
            reads[r] += 2 * b
            writes[r] += b
        elif k == COPY:
            reads[r] += b
            writes[r] += b
    return reads[:n] / access, writes[:n] / access


@pytest.mark.parametrize(
    ("algorithm", "kind"), [("ring", "all_reduce"), ("tree", "all_reduce"), ("direct", "all_to_all")]
)
def test_memory_traffic_is_every_ops_buffers_exactly(algorithm, kind):
    fab = _with_hbm(fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4")))
    op = getattr(fs.collectives, kind)(bytes=64 << 10, algorithm=algorithm, chunks=2)
    res = fab.run(op.with_execution(library="ideal", memory=True, piece_bytes=4096))
    s = op.schedule(4)
    reads, writes = _expected_accesses(s, 4, HBM3.resolved()["access_bytes"])
    assert [m["reads"] for m in res.memory] == reads.tolist()
    assert [m["writes"] for m in res.memory] == writes.tolist()
    # the fabric carried the same bytes as without memory, in pieces of at most 4 KiB
    assert res.run.messages["bytes"].sum() == s.bytes[s.op == SEND].sum()
    assert res.run.messages["bytes"].max() <= 4096
    plain = fab.run(op.with_execution(library="ideal"))
    assert res.time_ns > plain.time_ns  # memory adds latency and contention


def test_a_narrow_stack_makes_the_collective_memory_limited():
    narrow = fs.HbmSpec.preset("hbm2").replace(channels=1)
    fab = _with_hbm(fs.Fabric.preset("dgx8_nvswitch"), narrow)
    op = fs.collectives.all_reduce(library="ideal", bytes=4 << 20, algorithm="ring", chunks=4)
    res = fab.run(op.with_execution(memory=True, library="ideal"))
    assert res.bottleneck == "memory-limited"
    assert res.memory_utilization.max() > 0.8
    assert fab.run(op).bottleneck == "link-limited"


def test_memory_needs_hbm_and_the_gpu_presets_bring_hbm3():
    bare = fs.Fabric(topology=fs.topology.switch_star(4), link=fs.LinkSpec.preset("nvlink4"))
    with pytest.raises(fs.SpecError, match="hbm"):
        bare.run(fs.collectives.all_reduce(library="ideal", bytes=1024, memory=True))
    for name in ("dgx8_nvswitch", "dgx8_nvls", "dgx8_cluster4"):
        assert fs.Fabric.preset(name).hbm == HBM3
    res = fs.Fabric.preset("dgx8_nvswitch").run(
        fs.collectives.all_reduce(library="ideal", bytes=64 << 10, chunks=2, memory=True)
    )
    assert len(res.memory) == 8 and sum(m["reads"] for m in res.memory) > 0


@pytest.mark.parametrize("dims", [(4,), (2, 3), (4, 4), (2, 2, 2), (3, 1, 2)])
@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_torus_all_reduce_verifies_for_any_shape(dims, chunks):
    n = math.prod(dims)
    op = fs.collectives.all_reduce(
        library="ideal", bytes=1 << 12, algorithm="torus", dims=dims, chunks=chunks
    )
    s = fs.collectives.verify(op, ranks=n)
    # 2 sum(k - 1) ring steps in all; each rank sends 2 (n - 1) / n of the data, as a ring
    per_rank = np.bincount(s.rank[s.op == SEND], weights=s.bytes[s.op == SEND], minlength=n)
    assert per_rank.sum() == pytest.approx(2 * (n - 1) * (1 << 12), rel=0.02)


def test_torus_all_reduce_takes_the_fabric_shape_and_beats_ring_on_latency():
    fab = fs.Fabric(topology=fs.topology.torus((4, 4)), link=fs.LinkSpec.preset("noc").replace(vcs=2))
    small = {
        a: fab.run(fs.collectives.all_reduce(library="ideal", bytes=256, algorithm=a))
        for a in ("ring", "torus")
    }
    # 2 x 6 steps instead of 2 x 15: latency-bound sizes finish much sooner
    assert small["torus"].time_us < 0.6 * small["ring"].time_us
    assert small["torus"].bottleneck == "latency-limited"
    assert small["torus"].analytical_us < small["ring"].analytical_us
    # large sizes: both are bound by each endpoint's one injection link, as fast as each other
    big = {
        a: fab.run(fs.collectives.all_reduce(library="ideal", bytes=1 << 20, algorithm=a, chunks=2))
        for a in ("ring", "torus")
    }
    assert big["torus"].time_us == pytest.approx(big["ring"].time_us, rel=0.05)
    with pytest.raises(fs.SpecError, match="dims"):
        fs.Fabric.preset("dgx8_nvswitch").run(
            fs.collectives.all_reduce(library="ideal", bytes=1024, algorithm="torus")
        )


@settings(max_examples=max(10, settings().max_examples // 4), deadline=None)
@given(
    case=st.sampled_from(ALL),
    n=st.integers(2, 6),
    kib=st.integers(1, 4),
    chunks=st.integers(1, 3),
    piece=st.sampled_from([256, 1024, 4096]),
)
def test_any_collective_through_memory_completes_with_exact_access_counts(case, n, kib, chunks, piece):
    kind, alg = case
    units = n if alg == "nvls" else 0  # nvls needs switches that reduce
    topology = fs.topology.switch_star(n, reduction_ports=units)
    fab = _with_hbm(fs.Fabric(topology=topology, link=fs.LinkSpec.preset("nvlink4")))
    root = {"root": n - 1} if kind in ("broadcast", "reduce") else {}
    # every piece a whole number of 32 B accesses: the counts are then exact
    op = collective(kind, alg, kib * 1024 * n * chunks, chunks, n, **root)
    res = fab.run(op.with_execution(library="ideal", memory=True, piece_bytes=piece), check_invariants=True)
    s = res.schedule
    reads, writes = _expected_accesses(s, n, HBM3.resolved()["access_bytes"])
    assert [m["reads"] for m in res.memory] == reads.tolist()
    assert [m["writes"] for m in res.memory] == writes.tolist()
    assert res.run.messages["bytes"].sum() == s.bytes[s.op == SEND].sum()
    assert (res.op_finish_ns >= res.op_start_ns).all()


def test_per_rank_results_and_the_link_heat_map(tmp_path):
    fab = fs.Fabric(topology=fs.topology.ring(4), link=fs.LinkSpec.preset("noc").replace(vcs=2))
    op = fs.collectives.all_reduce(library="ideal", bytes=4096, algorithm="ring")
    res = fab.run(op)
    assert res.rank_finish_us.max() == pytest.approx(res.time_us)
    # a ring all-reduce: every rank sends 2 (n - 1) / n of the buffer
    assert res.rank_bytes_sent.tolist() == [2 * 3 * 1024] * 4
    m = res.link_matrix()
    links = res.run.links
    assert m.shape == (8, 8)  # 4 endpoints, 4 routers
    for row, u in zip(links, res.link_utilization, strict=True):
        assert m[row["src"], row["dst"]] == pytest.approx(u)
    assert m[0, 0] == 0.0 and m.max() <= 1.0
    out = res.plot_links(tmp_path / "links.png")
    assert out.exists() and out.stat().st_size > 0


# --- in-network reduction (NVLS-like): switches with reduction units -------------------------


@settings(max_examples=max(10, settings().max_examples // 4), deadline=None)
@given(
    n=st.integers(2, 12),
    planes=st.integers(1, 4),
    units=st.integers(1, 12),
    chunks=st.integers(1, 3),
    nbytes=st.integers(0, 1 << 16),
)
def test_nvls_verifies_for_any_switch_shape_and_moves_the_data_once_each_way(
    n, planes, units, chunks, nbytes
):
    op = fs.collectives.all_reduce(
        library="ideal", bytes=nbytes, algorithm="nvls", chunks=chunks, switch=(planes, units)
    )
    s = fs.collectives.verify(op, ranks=n)
    assert s.helpers == planes * units and s.pieces == planes * units * chunks
    sends = s.op == SEND
    own = s.rank < n
    # every rank sends its whole buffer once (to the switches) and receives the sum once
    sent = np.bincount(s.rank[sends & own], weights=s.bytes[sends & own], minlength=n)
    got = np.bincount(s.peer[sends & ~own], weights=s.bytes[sends & ~own], minlength=n)
    assert sent.tolist() == [nbytes] * n and got.tolist() == [nbytes] * n
    # every send of a rank goes to a unit of its switch plane, and units talk only to ranks
    unit = np.where(own, s.peer, s.rank)
    assert ((unit >= n) & (unit < n + planes * units)).all()
    assert (s.peer[sends & ~own] < n).all()


def test_nvls_on_the_dgx8_preset_injects_once_and_beats_ring():
    fab = fs.Fabric.preset("dgx8_nvls")
    assert (fab.num_endpoints, fab.num_ranks) == (40, 8)
    assert fab.topology.reduction_units == tuple(range(8, 40))
    size = 16 << 20
    nvls = fab.run(
        fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="nvls", chunks=16),
        check_invariants=True,
    )
    ring = fab.run(fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="ring", chunks=8))
    # each GPU injects S once over its 4 ports (the units add and multicast at line rate) and,
    # as head of 1/8 of the data, takes that sum and stores it back: 1.125 S each way (as wire
    # bytes), so the time tends to 1.125 S / (4 x port goodput) plus one round of pipeline fill
    goodput = 4 * fab.link.resolved()["max_goodput_gbps"] / 8
    wire = 1 + 1 / 8
    assert wire * size / goodput <= nvls.time_ns <= 1.10 * wire * size / goodput
    # the estimate: the same with one round of the 16 as the pipeline's fill
    assert nvls.analytical_us == pytest.approx(wire * size / goodput * 17 / 16 / 1000, rel=0.01)
    assert nvls.bottleneck == "link-limited"
    # ring moves 2(n-1)/n S = 1.75 S per rank: NVLS's fabric-level gain is close to 1.75/1.125
    assert 1.4 < nvls.busbw_gbyte_per_s / ring.busbw_gbyte_per_s < 1.75 / wire
    assert nvls.rank_bytes_sent.tolist() == [size] * 8
    assert len(nvls.rank_finish_us) == 8 and nvls.rank_finish_us.max() == pytest.approx(nvls.time_us)
    # every message to a unit entered at the unit's switch: the plane-p ports carry exactly
    # the pieces of plane p (their wire bytes: the heads' share included)
    links = nvls.run.links
    inject = links[(links["src"] < 8) & (links["dst"] >= 40)]
    assert len(inject) == 32 and (inject["payload_bytes"] == size // 4 * wire).all()


def test_fewer_reduction_ports_make_the_switch_the_bottleneck():
    link = fs.Fabric.preset("dgx8_nvls").link
    size, port = 4 << 20, link.resolved()["max_goodput_gbps"] / 8
    res = {}
    for k in (8, 2):
        fab = fs.Fabric(topology=fs.topology.switch_star(8, planes=4, reduction_ports=k), link=link)
        res[k] = fab.run(fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="nvls", chunks=8))
    # a unit's port takes 8 copies of each of its pieces: with 2 units per switch instead of 8
    # the switches take in data at a quarter of the GPUs' rate (8 S / (4 x 2) per unit port)
    assert res[2].time_ns >= 8 * size / (4 * 2 * port)
    assert res[2].time_ns > 3.5 * res[8].time_ns
    src, dst = res[2].busiest_link
    assert 8 <= dst < 16 or 8 <= src < 16  # a link of a unit (8 GPUs, 8 units, 4 switches)


def test_nvls_through_memory_touches_each_gpus_stack_once_per_byte_each_way():
    fab = _with_hbm(fs.Fabric.preset("dgx8_nvls"))
    size = 1 << 20
    nvls = fab.run(
        fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="nvls", chunks=4, memory=True)
    )
    access = HBM3.resolved()["access_bytes"]
    assert len(nvls.memory) == 8  # the units have no memory
    assert [m["reads"] for m in nvls.memory] == [size // access] * 8
    assert [m["writes"] for m in nvls.memory] == [size // access] * 8
    ring = fab.run(
        fs.collectives.all_reduce(library="ideal", bytes=size, algorithm="ring", chunks=4, memory=True)
    )
    # ring: sends read 2 (n-1)/n S and reduces 2 x (n-1)/n S per rank: 3.5x NVLS's reads
    assert sum(m["reads"] for m in ring.memory) == 3.5 * sum(m["reads"] for m in nvls.memory)
    assert nvls.time_ns < ring.time_ns


def test_nvls_and_reduction_units_refuse_what_they_cannot_do():
    op = fs.collectives.all_reduce(library="ideal", bytes=1024, algorithm="nvls")
    with pytest.raises(fs.SpecError, match="reduction_ports"):
        fs.Fabric.preset("dgx8_nvswitch").run(op)
    fab = fs.Fabric.preset("dgx8_nvls")
    # units 8..15 are on switch 0, 16..23 on switch 1: no route between them
    with pytest.raises(fs.SpecError, match=r"traffic\.dst\[0\].*reduction units of switches 0 and 1"):
        fab.run(fs.traffic.messages(8, 16, 64))
    # a unit reaches a GPU and a GPU a unit, on the unit's plane (switch 1 = node 41)
    res = fab.run(fs.traffic.messages([0, 16], [16, 3], 64))
    assert res.complete
    links = res.links
    carried = {
        (int(a), int(b))
        for a, b, p in zip(links["src"], links["dst"], links["payload_bytes"], strict=True)
        if p
    }
    assert carried == {(0, 41), (41, 16), (16, 41), (41, 3)}
    with pytest.raises(fs.SpecError, match="reduction_ports"):
        fs.Fabric(topology=fs.topology.switch_star(4, reduction_ports=5), link=NOC)
    with pytest.raises(fs.SpecError, match="reduction_ports"):
        fs.Fabric(topology=fs.topology.switch_star(4, reduction_ports=-1), link=NOC)
    with pytest.raises(fs.SpecError, match="reduction_ports"):
        fs.Fabric(topology=fs.topology.switch_star(100, reduction_ports=40), link=NOC)
    mem = _with_hbm(fab)
    with pytest.raises(fs.SpecError, match="reduction_ports"):
        mem.run(fs.traffic.loads(0, "peer:1", requests=4))
    # a schedule built for another switch shape is refused
    other = fs.collectives.all_reduce(library="ideal", bytes=1024, algorithm="nvls", switch=(2, 8)).schedule(
        8
    )
    with pytest.raises(fs.SpecError, match="helpers"):
        fab.run(other)


def test_the_engine_reads_schedule_columns_in_their_own_widths_and_names_a_bad_one():
    from fabricsim import _core

    fab = fs.Fabric.preset("dgx8_nvswitch")
    s = fs.collectives.all_reduce(bytes=4096, algorithm="ring", chunks=1).schedule(8)

    def cols(**bad):
        c = {
            "op": np.ascontiguousarray(s.op, "<u1").tobytes(),
            "rank": np.ascontiguousarray(s.rank, "<i4").tobytes(),
            "peer": np.ascontiguousarray(s.peer, "<i4").tobytes(),
            "nbytes": np.ascontiguousarray(s.bytes, "<i8").tobytes(),
            "matched": np.full(len(s), -1, "<i4").tobytes(),
            "dep_ptr": np.ascontiguousarray(s.dep_ptr, "<i8").tobytes(),
            "deps": np.ascontiguousarray(s.deps, "<i4").tobytes(),
        }
        c.update(bad)
        return c

    def run(**bad):
        c = cols(**bad)
        return _core.run_collective(
            fab._json, "{}", c["op"], c["rank"], c["peer"], c["nbytes"], c["matched"], c["dep_ptr"],
            c["deps"], 0.0, 0.0, b"", 1.0, None,
        )  # fmt: skip

    with pytest.raises(fs.SpecError, match=r"schedule\.rank: must be a buffer of 32-bit integers"):
        run(rank=b"\x00" * 5)
    with pytest.raises(fs.SpecError, match=r"schedule\.bytes\[0\]: is out of range: -1"):
        run(nbytes=np.full(len(s), -1, "<i8").tobytes())
    with pytest.raises(fs.SpecError, match=r"schedule\.rank\[0\]: is out of range: -3"):
        run(rank=np.full(len(s), -3, "<i4").tobytes())
