"""`to_perfetto`: every kind of run writes a Chrome / Perfetto JSON trace whose events match
the result's own tables, bounded in window and count."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.testing.invariants import check_trace_spans_nest

NOC = fs.LinkSpec.preset("noc")


def load(path):
    events = json.loads(path.read_text())["traceEvents"]
    for e in events:  # the format's required fields
        assert e["ph"] in ("X", "i", "C", "M") and "pid" in e and "name" in e
        if e["ph"] in ("X", "i", "C"):
            assert isinstance(e["ts"], float)
    check_trace_spans_nest(events)
    return events


def spans(events):
    return [e for e in events if e["ph"] == "X"]


def test_message_spans_are_the_messages_injection_to_delivery(tmp_path):
    fab = fs.Fabric(topology=fs.topology.mesh((2, 2)), link=NOC, router=fs.RouterSpec(pipeline_cycles=3))
    res = fab.run(fs.traffic.messages([0, 1, 3], [3, 2, 0], [64, 4096, 16], at_ns=[0, 5, 10]))
    events = load(res.to_perfetto(tmp_path / "m.json"))
    got = sorted(
        (round(e["ts"] * 1000), round((e["ts"] + e["dur"]) * 1000), e["args"]["dst"]) for e in spans(events)
    )
    m = res.messages
    want = sorted(  # in whole ns, as Perfetto reads them
        (round(i / 1000), round(d / 1000), int(t))
        for i, d, t in zip(m["inject_ps"], m["deliver_ps"], m["dst"], strict=True)
    )
    assert got == want
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {"endpoint 0", "endpoint 1", "endpoint 3"} <= names


def test_messages_in_flight_together_go_to_lanes_under_their_endpoint(tmp_path):
    fab = fs.Fabric(topology=fs.topology.mesh((2, 2)), link=NOC, router=fs.RouterSpec(pipeline_cycles=3))
    # endpoint 0 sends three messages at once (they overlap), then one after all are delivered
    res = fab.run(
        fs.traffic.messages([0, 0, 0, 0], [1, 2, 3, 3], [4096, 4096, 4096, 64], at_ns=[0, 0, 0, 10_000])
    )
    events = load(res.to_perfetto(tmp_path / "m.json"))
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    lanes = sorted(names[e["tid"]] for e in spans(events))
    assert lanes == ["endpoint 0", "endpoint 0", "endpoint 0 (2)", "endpoint 0 (3)"]
    order = {e["tid"]: e["args"]["sort_index"] for e in events if e["name"] == "thread_sort_index"}
    by_name = {n: order[t] for t, n in names.items()}
    assert (
        by_name["endpoint 0"] < by_name["endpoint 0 (2)"] < by_name["endpoint 0 (3)"] < by_name["endpoint 1"]
    )
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == 2 * len(res.links)  # each link's mean utilization, start and end


def test_collective_operations_per_rank(tmp_path):
    res = fs.Fabric.preset("dgx8_nvswitch").run(fs.collectives.all_reduce(bytes=64 << 10))
    events = spans(load(res.to_perfetto(tmp_path / "c.json")))
    assert len(events) == len(res.schedule.op)
    assert max(e["ts"] + e["dur"] for e in events) == pytest.approx(res.time_us, abs=0.5e-3)  # whole ns
    assert {e["name"].split()[0] for e in events} >= {"send", "recv", "reduce"}


def test_hbm_commands_and_requests(tmp_path):
    res = fs.run_memory(
        fs.HbmSpec.preset("hbm3"), fs.traffic.memory("random", 300, bytes=64), record_commands=True
    )
    events = load(res.to_perfetto(tmp_path / "h.json"))
    instants = [e for e in events if e["ph"] == "i"]
    assert len(instants) == len(res.tables()["commands"]) and {"ACT", "RD"} <= {e["name"] for e in instants}
    assert len(spans(events)) == 300


def test_memory_fabric_requests_then_the_fabrics_messages(tmp_path):
    hbm = fs.HbmSpec.preset("hbm3")
    fab = fs.Fabric(
        topology=fs.topology.switch_star(2, memory_expanders=1),
        link=fs.LinkSpec.preset("cxl3_256b"),
        router=fs.RouterSpec(pipeline_cycles=2),
        hbm=hbm,
        protocol="cxl_mem",
    )
    res = fab.run(fs.traffic.loads(requester=0, target="expander:0", requests=50))
    events = spans(load(res.to_perfetto(tmp_path / "f.json")))
    requests = [e for e in events if e["cat"] == "request"]
    assert len(requests) == 50 and all(e["name"].startswith("read") for e in requests)
    assert len([e for e in events if e["cat"] == "message"]) == int(
        (res.fabric.messages["deliver_ps"] >= 0).sum()
    )


def test_the_window_and_the_cap_bound_what_is_written(tmp_path):
    res = fs.Fabric.preset("dgx8_nvswitch").run(fs.collectives.all_reduce(bytes=64 << 10))
    capped = load(res.to_perfetto(tmp_path / "cap.json", max_events=25))
    assert len([e for e in capped if e["ph"] != "M"]) == 25
    note = [e for e in capped if e["name"] == "fabricsim"]
    assert note and "left out" in note[0]["args"]["note"]
    starts = np.sort(res.op_start_ns)
    kept = sorted(e["ts"] for e in spans(capped))
    assert kept == pytest.approx((starts[: len(kept)] / 1000).tolist(), abs=0.5e-3)  # the earliest
    mid = float(np.median(res.op_start_ns))
    window = spans(load(res.to_perfetto(tmp_path / "w.json", start_ns=mid)))
    assert window and all(e["ts"] * 1000 >= mid - 0.5 for e in window)  # (rounded to the ns)
    with pytest.raises(fs.SpecError, match="max_events: must be an integer >= 1"):
        res.to_perfetto(tmp_path / "x.json", max_events=0)
    with pytest.raises(fs.SpecError, match="start_ns: must be a finite number"):
        res.to_perfetto(tmp_path / "x.json", start_ns=float("nan"))


def test_every_table_exports_to_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    res = fs.Fabric.preset("dgx8_nvswitch").run(fs.collectives.all_reduce(bytes=64 << 10))
    files = res.to_parquet(tmp_path / "tables")
    assert [f.stem for f in files] == list(res.tables())
    ops = pq.read_table(files[0]).to_pydict()
    assert ops["finish_ns"] == res.tables()["operations"]["finish_ns"].tolist()


def test_sampled_link_utilization_adds_up_to_the_links_totals(tmp_path):
    from fabricsim.analysis.link_samples import run_sampled

    fab = fs.Fabric(topology=fs.topology.mesh((3, 3)), link=NOC, router=fs.RouterSpec(pipeline_cycles=3))
    traffic = fs.traffic.synthetic("uniform", rate=0.2, warmup_cycles=200, measure_cycles=400)
    plain = fab.run(traffic)
    res = run_sampled(fab, traffic, samples=20)
    assert np.array_equal(res.messages["deliver_ps"], plain.messages["deliver_ps"])  # the same run
    times, flits = res.link_samples
    assert 10 <= len(times) <= 21 and times[-1] == res.end_ps
    assert np.array_equal(flits[-1], res.links["flits"].astype(np.int64))
    assert (np.diff(flits, axis=0) >= 0).all()
    assert len(set(np.diff(times[:-1]).tolist())) == 1  # evenly spaced but for the last
    events = load(res.to_perfetto(tmp_path / "s.json"))
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == len(times) * len(res.links)
    values = [v for e in counters for v in e["args"].values()]
    assert 0 <= min(values) and max(values) <= 1.0 + 1e-9
    with pytest.raises(fs.SpecError, match=r"samples: must be an integer in 1\.\.="):
        run_sampled(fab, traffic, samples=0)


@pytest.mark.parametrize("fidelity", ["cycle", "flow"])
def test_a_collective_samples_its_links_while_it_runs_without_changing_the_run(tmp_path, fidelity):
    fab = fs.Fabric.preset("dgx8_cluster4")
    op = fs.collectives.all_reduce(bytes=4 << 20, algorithm="hierarchical", chunks=4)
    plain = fab.run(op, fidelity=fidelity)
    res = fab.run(op, fidelity=fidelity, link_samples=40)
    assert plain.run.link_samples is None
    np.testing.assert_array_equal(res.op_finish_ns, plain.op_finish_ns)  # the same run
    times, flits = res.run.link_samples
    assert 20 <= len(times) <= 41 and times[-1] == res.run.end_ps
    assert (np.diff(times) > 0).all() and (np.diff(flits, axis=0) >= 0).all()
    # the last sample is each link's total (flow integrates its rates: within a flit)
    total = res.run.links["flits"].astype(np.int64)
    assert np.abs(flits[-1] - total).max() <= (0 if fidelity == "cycle" else 1)
    events = load(res.to_perfetto(tmp_path / "c.json"))
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == len(times) * len(res.run.links)
    values = [v for e in counters for v in e["args"].values()]
    # (sample times are whole ps: an interval's cycles come out within a part in 10^4)
    assert min(values) >= 0 and max(values) <= 1.0 + 1e-4
    # the NICs work in the middle of the run, not at its start: a hierarchical all-reduce
    # reduces inside the nodes first
    nic = int(np.flatnonzero(res.run.links["src"] == 0)[-1])  # GPU 0's last link: its NIC
    first = flits[:, nic] > 0
    assert not first[0] and first.any()


def test_the_cycle_and_flow_samples_of_a_link_dominated_run_agree():
    fab = fs.Fabric.preset("dgx8_nvswitch")
    op = fs.collectives.all_reduce(bytes=16 << 20, algorithm="ring", chunks=4)
    c = fab.run(op, link_samples=20).run
    f = fab.run(op, fidelity="flow", link_samples=20).run
    busiest = int(np.argmax(c.links["flits"]))
    tc, fc = c.link_samples
    tf, ff = f.link_samples
    # the busiest link's cumulative flits at the same fractions of the run: within 5% of its total
    frac = np.linspace(0.1, 0.9, 9)
    at_c = np.interp(frac * tc[-1], tc, fc[:, busiest])
    at_f = np.interp(frac * tf[-1], tf, ff[:, busiest])
    assert np.abs(at_c - at_f).max() <= 0.05 * fc[-1, busiest]


def test_link_samples_are_refused_out_of_range():
    fab = fs.Fabric.preset("dgx8_nvswitch")
    with pytest.raises(fs.SpecError, match=r"options\.link_samples"):
        fab.run(fs.traffic.messages(0, 1, 64), link_samples=-1)
    with pytest.raises(fs.SpecError, match=r"options\.link_samples"):
        fab.run(fs.traffic.messages(0, 1, 64), link_samples=1 << 20)
    # samples that would not fit are refused before running, with the estimate
    big = fs.Fabric.preset("dgx_h100_cluster", nodes=512)
    links = len(big.link_directions())
    with pytest.raises(
        fs.SpecError,
        match=r"options\.link_samples: 100,000 samples of [\d,]+ link directions would hold about [\d.]+ GiB \(at most 2 GiB\): ask for at most",
    ) as e:
        big.run(fs.collectives.all_reduce(bytes=1 << 20), fidelity="flow", link_samples=100_000)
    most = int(str(e.value).rsplit(" ", 1)[-1].replace(",", ""))
    assert (most + 1) * links * 8 <= 2 << 30 < (most + 2) * links * 8


def test_a_memory_load_samples_the_fabrics_links(tmp_path):
    fab = fs.Fabric(
        topology=fs.topology.switch_star(4),
        link=fs.LinkSpec.preset("cxl3_256b"),
        hbm=fs.HbmSpec.preset("hbm3"),
    )
    work = fs.traffic.loads(0, 1, requests=500, outstanding=32) + fs.traffic.loads(2, 1, requests=500)
    res = fab.run(work, link_samples=16)
    times, flits = res.fabric.link_samples
    assert 8 <= len(times) <= 17 and np.array_equal(flits[-1], res.fabric.links["flits"].astype(np.int64))
    trace = load(res.to_perfetto(tmp_path / "m.json"))
    assert sum(e["ph"] == "C" for e in trace) == len(times) * len(res.fabric.links)


@settings(max_examples=max(5, settings().max_examples // 5), deadline=None)
@given(data=st.data(), samples=st.integers(1, 64), fidelity=st.sampled_from(["cycle", "flow"]))
def test_link_samples_of_any_traffic_are_cumulative_and_end_at_the_totals(data, samples, fidelity):
    from fabricsim.testing.strategies import message_traffic, routed_fabrics

    fab = data.draw(routed_fabrics())
    vcs = fab.router.vcs or fab.link.vcs
    tr = data.draw(message_traffic(num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=20, max_bytes=600))
    plain = fab.run(tr, fidelity=fidelity)
    res = fab.run(tr, fidelity=fidelity, link_samples=samples)
    np.testing.assert_array_equal(res.messages["deliver_ps"], plain.messages["deliver_ps"])
    times, flits = res.link_samples
    assert len(times) <= max(samples, 2) + 1 and times[-1] == res.end_ps
    assert (np.diff(times) > 0).all() and (np.diff(flits, axis=0) >= 0).all()
    total = res.links["flits"].astype(np.int64)
    assert np.abs(flits[-1] - total).max() <= (0 if fidelity == "cycle" else 1)


def _mesh3x2():
    return fs.Fabric(topology=fs.topology.mesh((3, 2)), link=NOC, router=fs.RouterSpec(pipeline_cycles=3))


@pytest.mark.parametrize("fidelity", ["cycle", "flow"])
def test_a_lone_message_crosses_its_routes_links_one_after_another(fidelity):
    fab = _mesh3x2()
    # 64 B on the NoC's 16 B flits: 4 flits, 1 ns each; endpoint 0 to 2 along the bottom row
    res = fab.run(fs.traffic.messages(0, 2, 64), fidelity=fidelity, link_spans=100)
    s = res.link_spans
    links = res.links
    node = fab.num_endpoints
    want = [(0, node + 0), (node + 0, node + 1), (node + 1, node + 2), (node + 2, 2)]
    order = np.argsort(s["start_ps"], kind="stable")
    got = [(int(a), int(b)) for a, b in zip(s["src"][order], s["dst"][order], strict=True)]
    assert got == want if fidelity == "cycle" else sorted(got) == sorted(want)
    assert (links["src"][s["link"]] == s["src"]).all() and (s["message"] == 0).all()
    assert res.link_spans_left_out == 0
    m = res.messages
    if fidelity == "cycle":
        # each link sends the 4 flits in 4 consecutive cycles, the first as the message leaves
        assert (s["end_ps"] - s["start_ps"] == 4000).all()
        assert s["start_ps"][order][0] == m["send_ps"][0]
        assert (np.diff(s["start_ps"][order]) > 0).all() and s["end_ps"].max() <= m["deliver_ps"][0]
    else:
        # a flow holds its whole path from its start to the end of its transfer (4 flit times)
        assert (s["start_ps"] == 0).all() and (s["end_ps"] == 4000).all()


def test_recording_link_spans_does_not_change_the_run():
    fab = fs.Fabric(
        topology=fs.topology.torus((4, 4)), link=NOC.replace(vcs=4), router=fs.RouterSpec(pipeline_cycles=2)
    )
    load = fs.traffic.synthetic("uniform", rate=0.3, warmup_cycles=200, measure_cycles=400, packet_flits=1)
    plain = fab.run(load)
    traced = fab.run(load, link_spans=10_000_000)
    np.testing.assert_array_equal(traced.messages, plain.messages)
    np.testing.assert_array_equal(traced.links, plain.links)
    s = traced.link_spans
    assert traced.link_spans_left_out == 0 and len(s) > len(plain.messages)
    # a link carried flits exactly when a message crossed it
    crossed = np.zeros(len(plain.links), dtype=bool)
    crossed[s["link"]] = True
    np.testing.assert_array_equal(crossed, plain.links["flits"] > 0)
    # every delivered message left its source and reached its destination
    m = plain.messages
    for i in np.flatnonzero(m["deliver_ps"] >= 0)[:200]:
        mine = s[s["message"] == i]
        assert m["src"][i] in mine["src"] and m["dst"][i] in mine["dst"]
        assert mine["start_ps"].min() == m["send_ps"][i] and mine["end_ps"].max() <= m["deliver_ps"][i]


def test_the_two_fidelities_cross_the_same_links():
    fab = fs.Fabric.preset("dgx8_cluster4")
    tr = fs.traffic.messages([0, 3, 9], [12, 9, 1], [1 << 20, 4096, 65536])
    c = fab.run(tr, link_spans=1000).link_spans
    f = fab.run(tr, fidelity="flow", link_spans=1000).link_spans
    np.testing.assert_array_equal(c[["message", "link"]], f[["message", "link"]])


def test_link_spans_past_the_cap_are_counted_and_bad_caps_refused(tmp_path):
    fab = _mesh3x2()
    tr = fs.traffic.messages([0, 1, 2, 3], [5, 4, 3, 2], 256)
    res = fab.run(tr, link_spans=3)
    assert len(res.link_spans) <= 3 and res.link_spans_left_out > 0
    with pytest.raises(fs.SpecError, match=r"options\.link_spans: must be an integer in 0\.\.="):
        fab.run(tr, link_spans=-1)
    with pytest.raises(fs.SpecError, match=r"options\.link_spans"):
        fab.run(tr, link_spans=10**9)


@pytest.mark.parametrize("fidelity", ["cycle", "flow"])
def test_the_timeline_draws_each_links_crossings_in_lanes(tmp_path, fidelity):
    res = fs.Fabric.preset("dgx8_nvswitch").run(
        fs.collectives.all_reduce(bytes=1 << 20, algorithm="ring", chunks=4),
        fidelity=fidelity,
        link_spans=100_000,
    )
    assert "link_spans" in res.tables()
    events = load(res.to_perfetto(tmp_path / "c.json"))
    crossings = [e for e in events if e.get("cat") == "crossing"]
    assert len(crossings) == len(res.run.link_spans)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {names[e["tid"]].split(" ")[0] for e in crossings} >= {"e0->r0"}


@settings(max_examples=max(5, settings().max_examples // 5), deadline=None)
@given(data=st.data(), fidelity=st.sampled_from(["cycle", "flow"]))
def test_link_spans_of_any_traffic_leave_the_run_alone_and_cover_the_links_used(data, fidelity):
    from fabricsim.testing.strategies import message_traffic, routed_fabrics

    fab = data.draw(routed_fabrics(retry=True))
    vcs = fab.router.vcs or fab.link.vcs
    tr = data.draw(message_traffic(num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=20, max_bytes=600))
    plain = fab.run(tr, fidelity=fidelity)
    res = fab.run(tr, fidelity=fidelity, link_spans=100_000)
    np.testing.assert_array_equal(res.messages, plain.messages)
    np.testing.assert_array_equal(res.links, plain.links)
    s = res.link_spans
    crossed = np.zeros(len(res.links), dtype=bool)
    crossed[s["link"]] = True
    np.testing.assert_array_equal(crossed, res.links["flits"] > 0)
    assert (s["end_ps"] >= s["start_ps"]).all() and s["end_ps"].max(initial=0) <= res.end_ps
    done = res.messages["deliver_ps"] >= 0
    assert set(np.flatnonzero(done).tolist()) <= set(s["message"].tolist())


@pytest.mark.parametrize("nests", [True, False])
def test_spans_inside_spans_nest_only_where_their_group_says_so(tmp_path, nests):
    from fabricsim.timeline import Events, Track, write_trace

    # a 10 ns span, a 3 ns one inside it at its end, a 4 ns one crossing its end
    g = Events(
        name="x",
        tracks=[Track("p", "t")],
        track_of=np.zeros(3, dtype=np.int64),
        start_ps=np.array([0.0, 7000.0, 8000.0]),
        dur_ps=np.array([10000.0, 3000.0, 4000.0]),
        labels=["outer", "part", "crossing"],
        nests=nests,
    )
    events = load(write_trace(tmp_path / "n.json", [g]))
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    where = {e["name"]: names[e["tid"]] for e in spans(events)}
    assert where["outer"] == "t"
    assert where["part"] == ("t" if nests else "t (2)")
    assert where["crossing"] == ("t (2)" if nests else "t (3)")  # never nested: it crosses the end
