"""Timelines of runs as Chrome / Perfetto JSON traces (ui.perfetto.dev and chrome://tracing
open them): spans per endpoint, rank or requester, instants per HBM channel, and the links'
utilization as counters. Each result kind says what it shows (its ``_timeline`` method);
:func:`write_trace` bounds the window and the number of events, so a large run never writes
gigabytes by surprise."""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim.errors import SpecError

LANES_PER_TRACK = 1 << 16
"""Sort indices a track leaves for its lanes (overlapping spans), so they sit under it."""

DEFAULT_MAX_EVENTS = 1_000_000
"""Events written by default (about 150 MB of JSON at most); more need ``max_events``."""


@dataclass(frozen=True)
class Track:
    """Where events go: a process (a group of tracks) and a thread (one track) in it."""

    process: str
    thread: str


@dataclass
class Events:
    """Events of one kind on tracks, as columns: spans (``dur_ps >= 0``), instants
    (``dur_ps`` None) or counters (``counter`` set: ``value`` per event)."""

    name: str
    tracks: list[Track]
    track_of: npt.NDArray[np.int64]
    start_ps: npt.NDArray[np.float64]
    dur_ps: npt.NDArray[np.float64] | None = None
    labels: list[str] | None = None
    value: npt.NDArray[np.float64] | None = None
    args: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    nests: bool = False
    """Spans that lie inside another span on their track are its parts (a pass's exposed
    communication inside the pass): drawn nested under it, on its thread, rather than on a
    lane of their own."""


def write_trace(
    path: str | PathLike[str],
    groups: Iterable[Events],
    max_events: int = DEFAULT_MAX_EVENTS,
    start_ns: float | None = None,
    end_ns: float | None = None,
) -> Path:
    """Writes ``groups`` as a Chrome / Perfetto JSON trace at ``path``: the events that start
    in ``[start_ns, end_ns)`` (default: all), the earliest ``max_events`` of them; a metadata
    event says how many were left out. Times are in microseconds, as the format wants."""
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
        raise SpecError(f"max_events: must be an integer >= 1, got {max_events!r}", path="max_events")
    for name, v in (("start_ns", start_ns), ("end_ns", end_ns)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise SpecError(f"{name}: must be a finite number of ns or None, got {v!r}", path=name)
    lo = -math.inf if start_ns is None else float(start_ns) * 1000
    hi = math.inf if end_ns is None else float(end_ns) * 1000
    groups = list(groups)
    # the earliest max_events starts in the window, over every group
    starts = [g.start_ps[(g.start_ps >= lo) & (g.start_ps < hi)] for g in groups]
    total = sum(len(s) for s in starts)
    cutoff = math.inf
    if total > max_events:
        cutoff = float(np.partition(np.concatenate(starts), max_events - 1)[max_events - 1])
    pids: dict[str, int] = {}
    tids: dict[Track, int] = {}
    events: list[dict[str, Any]] = []

    def tid_of(track: Track, sort_index: int | None = None) -> int:
        """The track's thread id, named (and placed: lanes under their track) when new."""
        pid = pids.setdefault(track.process, len(pids) + 1)
        if track not in tids:
            tid = tids[track] = len(tids) + 1
            sort = tid * LANES_PER_TRACK if sort_index is None else sort_index
            events.append(
                {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": track.thread}}
            )
            events.append(
                {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": sort}}
            )
        return tids[track]

    kept_of: list[list[int]] = []
    kept = 0
    for g in groups:
        for track in g.tracks:
            tid_of(track)
        idx = list(_kept(g.start_ps, lo, hi, cutoff))[: max_events - kept]
        kept += len(idx)
        kept_of.append(idx)
    lanes = _span_lanes(groups, kept_of, tid_of)
    for gi, (g, idx) in enumerate(zip(groups, kept_of, strict=True)):
        for i in idx:
            track = g.tracks[int(g.track_of[i])]
            e: dict[str, Any] = {
                "name": g.labels[i] if g.labels is not None else g.name,
                "cat": g.name,
                "pid": pids[track.process],
                "tid": tids[track],
                "ts": float(g.start_ps[i]) / 1e6,
            }
            if g.value is not None:
                e.update(ph="C", name=g.name, args={track.thread: float(g.value[i])})
                e.pop("tid")
            elif g.dur_ps is not None:
                tid, start_ns, end_ns = lanes[gi, i]
                e.update(ph="X", tid=tid, ts=start_ns / 1000, dur=(end_ns - start_ns) / 1000)
            else:
                e.update(ph="i", s="t")
            if g.args and g.value is None:
                e["args"] = {k: _plain(v[i]) for k, v in g.args.items()}
            events.append(e)
    for process, pid in pids.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": process}})
    if kept < total:
        events.append(
            {
                "ph": "M",
                "name": "fabricsim",
                "pid": 0,
                "args": {
                    "note": f"{total - kept} of {total} events left out: raise max_events or narrow the window"
                },
            }
        )
    out = Path(path)
    with out.open("w", encoding="utf-8") as f:
        # (dumps, not dump: the C encoder, 5x faster on a million events)
        f.write(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
    return out


def _span_lanes(
    groups: list[Events], kept_of: list[list[int]], tid_of: Callable[[Track, int | None], int]
) -> dict[tuple[int, int], tuple[int, int, int]]:
    """Each kept span's thread and its start and end in whole ns: spans on one track that
    overlap go to lanes (threads named "<track> (2)", "(3)", ...) so that no two spans on a
    thread overlap but by nesting, and only a group that ``nests`` nests (under the spans on a
    track's own thread). Perfetto drops or cuts duration events that overlap on a thread
    without nesting (google/perfetto#4280); messages in flight from one endpoint always do. Times are
    whole ns because Perfetto rounds ``ts`` and ``dur`` to ns each on its own: spans that
    touch in ps could overlap by a ns there."""
    spans: list[tuple[int, int, int, int, int]] = []
    for gi, (g, idx) in enumerate(zip(groups, kept_of, strict=True)):
        if g.dur_ps is None or g.value is not None or not idx:
            continue
        at = np.asarray(idx, dtype=np.int64)
        first = np.rint(g.start_ps[at] / 1000).astype(np.int64)
        last = np.maximum(np.rint((g.start_ps[at] + np.maximum(g.dur_ps[at], 0.0)) / 1000), first)
        base = np.array([tid_of(t, None) for t in g.tracks], dtype=np.int64)[g.track_of[at]]
        spans.extend(
            zip(
                first.tolist(),
                (-last.astype(np.int64)).tolist(),  # (the longer first: a parent before its parts)
                base.tolist(),
                [gi] * len(idx),
                idx,
                strict=True,
            )
        )
    spans.sort()
    # per track: its own thread's open spans (a stack of ends: nested ones on top), then a heap
    # of its other lanes' (end, lane); a span takes its own thread when free (or, nesting,
    # inside the span on top), else the lane free earliest; lanes get threads of their own
    own: dict[int, list[int]] = {}
    free: dict[int, list[tuple[int, int]]] = {}
    lane_tid: dict[tuple[int, int], int] = {}
    track_of_tid = {
        tid: (gi, t)
        for gi, g in enumerate(groups)
        for t, tid in ((t, tid_of(tr, None)) for t, tr in enumerate(g.tracks))
    }
    out: dict[tuple[int, int], tuple[int, int, int]] = {}
    for start, neg_end, tid, gi, i in spans:
        end = -neg_end
        stack = own.setdefault(tid, [])
        while stack and stack[-1] <= start:
            stack.pop()
        if not stack or (groups[gi].nests and stack[-1] >= end):
            stack.append(end)
            lane = 0
        else:
            heap = free.setdefault(tid, [])
            if heap and heap[0][0] <= start:
                lane = heapq.heapreplace(heap, (end, heap[0][1]))[1]
            else:
                lane = len(heap) + 1
                heapq.heappush(heap, (end, lane))
        if lane:
            key = (tid, lane)
            if key not in lane_tid:
                g0, t0 = track_of_tid[tid]
                track = groups[g0].tracks[t0]
                sort = tid * LANES_PER_TRACK + min(lane, LANES_PER_TRACK - 1)
                lane_tid[key] = tid_of(Track(track.process, f"{track.thread} ({lane + 1})"), sort)
            tid = lane_tid[key]
        out[gi, i] = (tid, start, end)
    return out


def _kept(start_ps: npt.NDArray[np.float64], lo: float, hi: float, cutoff: float) -> Iterator[int]:
    inside = np.flatnonzero((start_ps >= lo) & (start_ps < hi) & (start_ps <= cutoff))
    return iter(inside[np.argsort(start_ps[inside], kind="stable")].tolist())


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def link_counters(
    links: npt.NDArray[Any],
    end_ps: float,
    endpoints: int,
    samples: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    cycle_ps: float = 1.0,
) -> Events:
    """Each link direction's utilization as a counter track: without ``samples``, its mean
    over the run from the start to the end (the engine keeps per-link totals); with
    ``samples`` (times in ps and each link's flits sent by then,
    :func:`fabricsim.analysis.link_samples.run_sampled`), its utilization over each interval."""
    n = len(links)
    names = zip(links["src"].tolist(), links["dst"].tolist(), strict=True)
    tracks = [Track("links (utilization)", f"{_node(s, endpoints)}->{_node(d, endpoints)}") for s, d in names]
    if samples is None:
        util = np.asarray(links["utilization"], dtype=np.float64)
        return Events(
            name="utilization",
            tracks=tracks,
            track_of=np.concatenate([np.arange(n), np.arange(n)]),
            start_ps=np.concatenate([np.zeros(n), np.full(n, float(end_ps))]),
            value=np.concatenate([util, util]),
        )
    times, flits = samples
    starts = np.concatenate([[0], times[:-1]]).astype(np.float64)
    spans_cycles = np.maximum((times - starts) / cycle_ps, 1e-12)
    sent = np.diff(np.vstack([np.zeros((1, n), dtype=np.int64), flits]), axis=0).astype(np.float64)
    rate = np.asarray(links["flit_rate"], dtype=np.float64)
    util = sent / spans_cycles[:, None] / np.where(rate > 0, rate, 1.0)[None, :]
    k = len(times)
    return Events(
        name="utilization",
        tracks=tracks,
        track_of=np.tile(np.arange(n), k),
        start_ps=np.repeat(starts, n),
        value=util.reshape(-1),
    )


def link_span_events(spans: npt.NDArray[Any], endpoints: int) -> Events:
    """Per link direction that carried messages, a span per message that crossed it (rows
    of a result's ``link_spans``), labelled with the message's row."""
    _, first, track_of = np.unique(spans["link"], return_index=True, return_inverse=True)
    tracks = [
        Track(
            "links (messages)",
            f"{_node(int(spans['src'][i]), endpoints)}->{_node(int(spans['dst'][i]), endpoints)}",
        )
        for i in first.tolist()
    ]
    return Events(
        name="crossing",
        tracks=tracks,
        track_of=track_of.astype(np.int64).reshape(-1),
        start_ps=spans["start_ps"].astype(np.float64),
        dur_ps=(spans["end_ps"] - spans["start_ps"]).astype(np.float64),
        labels=[f"message {m}" for m in spans["message"].tolist()],
        args={"message": spans["message"], "link": spans["link"]},
    )


def _node(i: int, endpoints: int) -> str:
    return f"e{i}" if i < endpoints else f"r{i - endpoints}"


__all__ = ["DEFAULT_MAX_EVENTS", "Events", "Track", "link_counters", "link_span_events", "write_trace"]
