"""The memory fabric: remote reads and writes to a peer's HBM and to memory expanders.

Known answers by hand (an isolated remote read), Little's law, bandwidth bounds, exactly one
response per request, protocol deadlock with shared message classes (and none with separate
ones, under hypothesis), determinism and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs

HBM3 = fs.HbmSpec.preset("hbm3")
CXL = fs.LinkSpec.preset("cxl3_256b")


def star(n=4, expanders=1, link=CXL, pipeline=2, protocol="cxl_mem", **proto):
    p = fs.ProtocolSpec.preset(protocol).replace(**proto) if protocol else fs.ProtocolSpec(**proto)
    return fs.Fabric(
        topology=fs.topology.switch_star(n, memory_expanders=expanders),
        link=link,
        router=fs.RouterSpec(pipeline_cycles=pipeline),
        hbm=HBM3,
        protocol=p,
    )


def message_cycles(fab, nbytes, pipeline=2):
    """Zero-load latency of a message through one switch, in link cycles (test_routers.py):
    (1 + L) to the switch, (1 + pipeline + L) through it, then the other flits one per cycle."""
    latency = fab.link.resolved()["latency_cycles"]
    return (1 + latency) + (1 + pipeline + latency) + fab.link.message_flits(nbytes) - 1


@pytest.mark.parametrize("target", ["peer:1", "expander:0"])
def test_an_isolated_remote_read_takes_request_plus_closed_bank_read_plus_response(target):
    fab = star()
    res = fab.run(fs.traffic.loads(requester=0, target=target, requests=1, outstanding=1))
    p = fab.link.resolved()["cycle_ps"]
    tck = HBM3.tck_ns * 1000
    t = HBM3.timing
    # The request (a header-only packet: the link's 16 B header slot) reaches the device; the
    # stack takes it at the first CK edge after that; a closed bank reads in tRCD + CL + BL;
    # the fabric sees the data at its next cycle edge and sends the response (header slot +
    # 64 B data) back.
    at_device = message_cycles(fab, 0) * p
    ck_in = math.floor(at_device / tck) + 1
    ck_done = ck_in + t["rcd_rd"] + t["cl"] + t["bl"]
    resp_sent = math.ceil(ck_done * tck / p)
    done = (resp_sent + message_cycles(fab, 64)) * p
    q = res.requesters[0]
    assert res.rows["device_ps"].tolist() == [at_device]
    assert res.rows["memory_ps"].tolist() == [ck_done * tck]
    assert q.latency_ns.tolist() == [pytest.approx(done / 1000)]
    assert q.memory_ns.tolist() == [pytest.approx((ck_done * tck - at_device) / 1000)]
    assert (t["rcd_rd"] + t["cl"] + t["bl"]) * HBM3.tck_ns == pytest.approx(33.125)


def test_an_isolated_remote_write_carries_its_data_and_gets_a_header_only_completion():
    fab = star()
    res = fab.run(fs.traffic.loads(requester=0, target="peer:2", requests=1, read_ratio=0.0))
    m = res.fabric.messages
    assert m["bytes"].tolist() == [64, 0]  # payload: the data, then a header-only completion
    assert m["src"].tolist() == [0, 2] and m["dst"].tolist() == [2, 0]
    wire = res.fabric.links["payload_bytes"]
    assert sorted(set(wire.tolist()) - {0}) == [64]  # payload counted; each hop carries it once
    assert res.devices[2].writes == 2  # two 32 B accesses of HBM3
    assert res.rows["write"].tolist() == [True]


def test_local_requests_skip_the_fabric():
    fab = star()
    res = fab.run(fs.traffic.loads(requester=1, target="local", requests=200, outstanding=8))
    assert len(res.fabric.messages) == 0
    q = res.requesters[0]
    assert q.requests == 200
    # only the clock crossing back to the fabric clock is outside the stack: under one cycle
    assert (q.fabric_ns >= 0).all() and (q.fabric_ns < CXL.resolved()["cycle_ps"] / 1000).all()
    assert res.devices[1].requests == 200 and res.devices[0].requests == 0


def check_run(res, load):
    """Every request got exactly one answer; Little's law holds per requester."""
    rows = res.rows
    assert (rows["complete_ps"] >= rows["issue_ps"]).all() and res.complete
    assert len(rows["issue_ps"]) == sum(r.requests for r in load.requesters)
    remote = np.array(
        [load.requesters[q].endpoint != d for q, d in zip(rows["requester"], rows["device"], strict=True)],
        dtype=bool,
    )
    # one request and one response message each (several may share a message: packing)
    for k in ("request_msg", "response_msg"):
        assert ((rows[k] >= 0) == remote).all()
    carried = np.bincount(np.concatenate([rows["request_msg"][remote], rows["response_msg"][remote]]))
    assert (carried == res.message_items).all()
    assert (res.fabric.messages["deliver_ps"] >= 0).all()
    order = rows["issue_ps"] <= rows["device_ps"]
    assert order.all() and (rows["device_ps"] <= rows["memory_ps"]).all()
    assert (rows["memory_ps"] <= rows["complete_ps"]).all()
    for q in res.requesters:
        if q.requests > 1:
            assert q.mean_outstanding == pytest.approx(q.littles_law_outstanding, rel=0.01)
            # the occupancy distribution: shares sum to 1, its mean is the mean occupancy
            share = q.outstanding_share
            assert share.sum() == pytest.approx(1.0)
            assert (share * np.arange(len(share))).sum() == pytest.approx(q.mean_outstanding, rel=1e-9)


@pytest.mark.parametrize(
    ("target", "pattern", "read_ratio"),
    [
        ("expander:0", "random", 1.0),
        ("peer:3", "stream", 0.5),
        ("global", "random", 0.7),
        ("local", "random", 0.3),
    ],
)
def test_littles_law_and_one_response_per_request(target, pattern, read_ratio):
    fab = star()
    load = fs.traffic.loads(
        requester=0, target=target, pattern=pattern, read_ratio=read_ratio, outstanding=32, requests=3000
    ) + fs.traffic.loads(requester=2, target="expander:0", outstanding=8, requests=1000)
    res = fab.run(load, check_invariants=True)
    check_run(res, load)


def test_global_addresses_interleave_over_every_device():
    fab = star(n=4, expanders=2)
    res = fab.run(fs.traffic.loads(requester=0, target="global", requests=6000, outstanding=16))
    counts = np.bincount(res.rows["device"], minlength=6)
    assert counts.sum() == 6000 and (counts > 800).all()
    stream = fab.run(
        fs.traffic.loads(requester=0, target="global", pattern="stream", bytes=64, requests=6 * 64)
    )
    # 4096 B blocks: 64 requests of 64 B each per device, in device order
    assert stream.rows["device"].tolist() == np.repeat(np.arange(6), 64).tolist()


@pytest.mark.parametrize("pack", [True, False])
def test_packing_puts_several_small_messages_for_one_endpoint_in_a_flit(pack):
    # CXL 3 256 B flits hold 240 B of slots: 15 read requests (one header slot each) or three
    # 64 B data responses (a header slot and four data slots each)
    fab = star(pack=pack)
    res = fab.run(fs.traffic.loads(requester=0, target="expander:0", outstanding=64, requests=3000))
    items = res.message_items
    if pack:
        req = items[res.rows["request_msg"]]
        resp = items[res.rows["response_msg"]]
        assert req.max() == 15 and resp.max() == 3
    else:
        assert (items == 1).all()
    check_run(res, fs.traffic.loads(requester=0, target="expander:0", requests=3000))
    # one flit carries at most three 64 B responses: at most 96 B of data per 2 ns flit time
    cycle_ns = CXL.resolved()["cycle_ps"] / 1000
    per_flit = 3 if pack else 1
    assert res.requesters[0].bandwidth_gbyte_per_s <= per_flit * 64 / cycle_ns * 1.001


def test_responses_to_several_requesters_still_pack_and_fill_the_expander_link():
    # four requesters' responses leave the expander interleaved: packing looks back past the
    # other destinations' messages, so flits still carry three 64 B responses each
    fab = star(n=4, expanders=1)
    load = fs.traffic.MemoryLoad()
    for e in range(4):
        load = load + fs.traffic.loads(e, target="expander:0", outstanding=64, requests=3000)
    res = fab.run(load)
    check_run(res, load)
    bound = 3 * 64 / (CXL.resolved()["cycle_ps"] / 1000)  # GB/s through the expander's link
    total = sum(q.bandwidth_gbyte_per_s for q in res.requesters)
    assert 0.9 * bound <= total <= bound * 1.001


def test_remote_bandwidth_reaches_the_link_and_never_exceeds_it():
    # 256 B reads over NVLink-like links: the response direction carries 272 B per 256 B read
    # (a 16 B header flit and 16 data flits), the link's goodput at its MTU
    fab = star(link=fs.LinkSpec.preset("nvlink4"), protocol="nvlink_peer")
    goodput = fab.link.resolved()["max_goodput_gbps"] / 8  # GB/s
    assert goodput == pytest.approx(fab.link.resolved()["raw_gbps"] / 8 * 256 / 272)
    bound = min(goodput, HBM3.peak_gbyte_per_s)
    res = fab.run(
        fs.traffic.loads(
            requester=0, target="peer:1", pattern="stream", bytes=256, outstanding=128, requests=4000
        )
    )
    bw = res.requesters[0].bandwidth_gbyte_per_s
    assert 0.85 * bound <= bw <= bound * 1.001
    # with one request in flight it is latency-bound: bytes / latency
    one = fab.run(fs.traffic.loads(requester=0, target="peer:1", bytes=256, outstanding=1, requests=200))
    q = one.requesters[0]
    assert q.bandwidth_gbyte_per_s == pytest.approx(256 / q.latency_ns.mean(), rel=0.02)


def test_hbm_bound_when_the_link_is_wider_than_the_stack():
    # a narrow stack (HBM2, one channel) behind a wide link: memory is the limit
    hbm = fs.HbmSpec.preset("hbm2").replace(channels=1)
    fab = fs.Fabric(
        topology=fs.topology.switch_star(2, memory_expanders=1),
        link=CXL,
        hbm=HBM3,
        expander_memory=hbm,
        protocol="cxl_mem",
    )
    res = fab.run(
        fs.traffic.loads(requester=0, target="expander:0", pattern="stream", outstanding=256, requests=20000)
    )
    bw = res.requesters[0].bandwidth_gbyte_per_s
    assert bw <= hbm.peak_gbyte_per_s * 1.001 and bw >= 0.85 * hbm.peak_gbyte_per_s
    assert res.devices[2].expander and res.devices[2].reads > 0


def test_loaded_latency_rises_with_outstanding_requests():
    fab = star()
    curve = fs.sweep.loaded_latency(
        fab, requester=0, target="expander:0", outstanding=[1, 4, 16, 64, 256], requests=2000
    )
    bw = [p.bandwidth_gbyte_per_s for p in curve.points]
    lat = [p.latency_mean_ns for p in curve.points]
    assert bw == sorted(bw) and lat[0] < lat[-1]
    assert curve.points[0].outstanding == 1
    table = fs.sweep.loaded_latency_table(
        fab, requester=0, targets=["local", "peer:1", "expander:0"], outstanding=[1, 8], requests=500
    )
    local, peer = table["local"].points[0], table["peer:1"].points[0]
    assert local.latency_mean_ns < peer.latency_mean_ns  # the fabric costs latency


def deadlock_prone(classes):
    link = CXL.replace(vcs=2, credits_per_vc=4)
    fab = star(n=4, expanders=0, link=link, message_classes=classes, device_queue=2)
    load = fs.traffic.MemoryLoad()
    for e in range(4):
        load = load + fs.traffic.loads(
            requester=e, target=f"peer:{(e + 1) % 4}", outstanding=64, requests=2000, read_ratio=0.5
        )
    return fab, load


def test_shared_message_classes_deadlock_and_the_watchdog_names_the_full_device():
    fab, load = deadlock_prone("shared")
    with pytest.raises(fs.DeadlockError) as e:
        fab.run(load, watchdog_cycles=20_000)
    text = str(e.value)
    assert "memory device at endpoint" in text and "is full" in text
    assert e.value.waiting


def test_separate_message_classes_do_not_deadlock_under_the_same_load():
    fab, load = deadlock_prone("separate")
    res = fab.run(load, watchdog_cycles=20_000, check_invariants=True)
    check_run(res, load)
    vcs = res.fabric.messages["vc"]  # requests on VC 0, responses on VC 1
    assert (vcs[res.rows["request_msg"]] == 0).all() and (vcs[res.rows["response_msg"]] == 1).all()


@settings(max_examples=max(25, settings().max_examples // 4), deadline=None)
@given(
    n=st.integers(2, 5),
    expanders=st.integers(0, 2),
    vcs=st.sampled_from([2, 4]),
    credits=st.integers(2, 8),
    device_queue=st.integers(1, 8),
    data=st.data(),
)
def test_random_loads_on_separate_classes_complete_with_littles_law(
    n, expanders, vcs, credits, device_queue, data
):
    link = CXL.replace(vcs=vcs, credits_per_vc=credits)
    fab = star(n=n, expanders=expanders, link=link, device_queue=device_queue)
    targets = (
        ["local", "global"] + [f"peer:{i}" for i in range(n)] + [f"expander:{k}" for k in range(expanders)]
    )
    load = fs.traffic.MemoryLoad()
    for _ in range(data.draw(st.integers(1, 4))):
        load = load + fs.traffic.loads(
            requester=data.draw(st.integers(0, n - 1)),
            target=data.draw(st.sampled_from(targets)),
            pattern=data.draw(st.sampled_from(["random", "stream"])),
            bytes=data.draw(st.sampled_from([32, 64])),
            read_ratio=data.draw(st.sampled_from([0.0, 0.5, 1.0])),
            outstanding=data.draw(st.integers(1, 64)),
            requests=data.draw(st.integers(1, 300)),
            start_ns=data.draw(st.sampled_from([0.0, 100.0])),
        )
    res = fab.run(load, watchdog_cycles=50_000, check_invariants=True)
    check_run(res, load)


ROUTED = [
    (fs.topology.mesh((2, 3)), 2),  # dimension order: one VC per class is enough
    (fs.topology.ring(4), 4),  # dateline classes inside each message class
    (fs.topology.torus((3, 2)), 4),
    (fs.topology.fat_tree(4), 2),
]


@settings(max_examples=max(10, settings().max_examples // 8), deadline=None)
@given(case=st.sampled_from(ROUTED), credits=st.integers(2, 8), queue=st.integers(1, 16), data=st.data())
def test_random_loads_on_routed_topologies_complete(case, credits, queue, data):
    topology, vcs = case
    link = fs.LinkSpec.preset("noc").replace(vcs=vcs, credits_per_vc=credits, mtu_bytes=256)
    fab = fs.Fabric(topology=topology, link=link, hbm=HBM3, protocol=fs.ProtocolSpec(device_queue=queue))
    n = topology.num_endpoints
    load = fs.traffic.MemoryLoad()
    for _ in range(data.draw(st.integers(1, 5))):
        load = load + fs.traffic.loads(
            requester=data.draw(st.integers(0, n - 1)),
            target=data.draw(st.sampled_from(["global", "local"] + [f"peer:{i}" for i in range(n)])),
            bytes=data.draw(st.sampled_from([16, 64, 256])),
            read_ratio=data.draw(st.sampled_from([0.0, 0.5, 1.0])),
            outstanding=data.draw(st.integers(1, 32)),
            requests=data.draw(st.integers(1, 200)),
        )
    res = fab.run(load, watchdog_cycles=50_000, check_invariants=True)
    check_run(res, load)


def test_runs_are_deterministic_and_engine_modes_agree():
    fab = star()
    load = fs.traffic.loads(requester=0, target="global", read_ratio=0.5, requests=1500, outstanding=24)
    a, b = fab.run(load, seed=3), fab.run(load, seed=3)
    c = fab.run(load, seed=3, engine="tick_all")
    for k in a.rows:
        assert (a.rows[k] == b.rows[k]).all() and (a.rows[k] == c.rows[k]).all(), k
    d = fab.run(load, seed=4)
    assert not (a.rows["addr"] == d.rows["addr"]).all()


def test_a_trace_replays_its_addresses_and_writes():
    fab = star()
    addr = np.array([0, 4096, 64, 1 << 20])
    res = fab.run(
        fs.traffic.loads(requester=0, target="peer:1", addresses=addr, writes=[False, True, False, True])
    )
    assert res.rows["addr"].tolist() == addr.tolist()
    assert res.rows["write"].tolist() == [False, True, False, True]


def test_dma_moves_a_buffer_in_chunks_with_a_window():
    fab = star(link=fs.LinkSpec.preset("nvlink4"), protocol="nvlink_peer")
    res = fab.run(fs.traffic.dma(requester=0, target="peer:1", bytes=1 << 16, chunk=256, window=4))
    q = res.requesters[0]
    assert q.requests == 256
    assert res.rows["addr"].tolist() == list(range(0, 1 << 16, 256))
    assert q.mean_outstanding <= 4
    w = fab.run(fs.traffic.dma(requester=0, target="peer:1", bytes=1 << 14, chunk=256, write=True))
    assert w.rows["write"].all()


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: fs.traffic.loads(requester=0, target="peer:9"), "requesters[0].target"),
        (lambda: fs.traffic.loads(requester=4, target="local"), "requesters[0].endpoint"),  # an expander
        (lambda: fs.traffic.loads(requester=0, target="remote:1"), "requesters[0].target"),
        (lambda: fs.traffic.loads(requester=0, target="expander:3"), "requesters[0].target"),
        (lambda: fs.traffic.loads(requester=0, target="peer:1", bytes=128), "requesters[0].bytes"),
        (lambda: fs.traffic.loads(requester=0, target="peer:1", outstanding=0), "requesters[0].outstanding"),
        (lambda: fs.traffic.loads(requester=0, target="peer:1", read_ratio=1.5), "requesters[0].read_ratio"),
        (
            lambda: fs.traffic.loads(requester=0, target="peer:1", addresses=[1 << 40]),
            "requesters[0].addresses[0]",
        ),
    ],
)
def test_bad_loads_name_the_field(build, field):
    with pytest.raises(fs.SpecError) as e:
        star().run(build())
    assert field in str(e.value)


def test_a_request_must_be_one_packet():
    fab = star(protocol=None)  # max_request_bytes 4096, but cxl3_256b packets carry 64 B
    with pytest.raises(fs.SpecError, match=r"requesters\[0\]\.bytes: a request must be one packet"):
        fab.run(fs.traffic.dma(requester=0, target="peer:1", bytes=4096, chunk=128, write=True))
    reads = fab.run(fs.traffic.dma(requester=0, target="peer:1", bytes=4096, chunk=128))
    assert reads.requesters[0].requests == 32  # reads of 128 B: the request is a header only


def test_bad_memory_fabrics_name_the_field():
    with pytest.raises(fs.SpecError, match=r"link\.vcs"):
        star(link=CXL.replace(vcs=3)).run(fs.traffic.loads(requester=0, target="peer:1"))
    with pytest.raises(fs.SpecError, match="hbm"):
        fs.Fabric(topology=fs.topology.switch_star(2), link=CXL).run(
            fs.traffic.loads(requester=0, target="peer:1")
        )
    with pytest.raises(fs.SpecError, match=r"protocol\.device_queue"):
        fs.ProtocolSpec(device_queue=0)
    with pytest.raises(fs.SpecError, match="memory_expanders"):
        fs.topology.switch_star(2, memory_expanders=-1)


def test_protocol_presets_cite_sources():
    assert fs.ProtocolSpec.presets() == ["cxl_mem", "nvlink_peer"]
    for name in fs.ProtocolSpec.presets():
        p = fs.ProtocolSpec.preset(name)
        assert p.sources and p.message_classes == "separate"


def test_link_faults_are_replayed_and_every_request_still_completes():
    # refresh off: a replay delays what it carries, and no refresh deadline the clean run
    # happened to meet can make the faulted run's last request the earlier one
    base = star()
    fab = fs.Fabric(
        topology=base.topology,
        link=base.link,
        router=base.router,
        hbm=HBM3,
        protocol=base.protocol,
        controller=fs.ControllerSpec(refresh="off"),
    )
    load = fs.traffic.loads(requester=0, target="expander:0", outstanding=16, requests=500)
    clean = fab.run(load)
    faults = [fs.faults.corrupt_flit(link=0, flit=k) for k in (3, 10, 11, 40)]
    res = fab.run(load, faults=faults, check_invariants=True)
    check_run(res, load)
    assert res.fabric.links["flits_replayed"].sum() > 0
    assert res.rows["complete_ps"].max() > clean.rows["complete_ps"].max()


@pytest.mark.parametrize(("vcs", "ok"), [(2, False), (4, True)])
def test_message_classes_keep_the_torus_dateline_classes(vcs, ok):
    link = fs.LinkSpec.preset("noc").replace(vcs=vcs, mtu_bytes=64)
    fab = fs.Fabric(topology=fs.topology.torus((5, 5)), link=link, hbm=HBM3)
    load = fs.traffic.MemoryLoad()
    for e in range(25):
        load = load + fs.traffic.loads(e, target="global", outstanding=8, requests=150, read_ratio=0.5)
    if not ok:
        # one VC per class leaves no room for the dateline classes: refused before the run
        with pytest.raises(fs.DeadlockError, match="NOT deadlock-free"):
            fab.run(load)
        return
    res = fab.run(load, check_invariants=True)
    check_run(res, load)
    # requests are injected on VC 0, responses on VC 2; that they stay in VCs 0-1 and 2-3 at
    # every hop (each class with its dateline classes) is the class invariant that
    # check_invariants checks on every buffer every cycle
    m = res.fabric.messages
    assert set(m["vc"][res.rows["request_msg"][res.rows["request_msg"] >= 0]].tolist()) <= {0}
    assert set(m["vc"][res.rows["response_msg"][res.rows["response_msg"] >= 0]].tolist()) <= {2}
