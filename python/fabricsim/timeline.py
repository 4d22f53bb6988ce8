"""Timelines of runs as Chrome / Perfetto JSON traces (ui.perfetto.dev and chrome://tracing
open them): spans per endpoint, rank or requester, instants per HBM channel, and the links'
utilization as counters. Each result kind says what it shows (its ``_timeline`` method);
:func:`write_trace` bounds the window and the number of events, so a large run never writes
gigabytes by surprise."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim.errors import SpecError

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
    kept = 0
    for g in groups:
        for track in g.tracks:
            pid = pids.setdefault(track.process, len(pids) + 1)
            if track not in tids:
                tids[track] = len(tids) + 1
                events.append(
                    {
                        "ph": "M",
                        "name": "thread_name",
                        "pid": pid,
                        "tid": tids[track],
                        "args": {"name": track.thread},
                    }
                )
        for i in _kept(g.start_ps, lo, hi, cutoff):
            if kept >= max_events:
                break
            kept += 1
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
                e.update(ph="X", dur=max(float(g.dur_ps[i]), 0.0) / 1e6)
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
        json.dump({"traceEvents": events, "displayTimeUnit": "ns"}, f)
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


def _node(i: int, endpoints: int) -> str:
    return f"e{i}" if i < endpoints else f"r{i - endpoints}"


__all__ = ["DEFAULT_MAX_EVENTS", "Events", "Track", "link_counters", "write_trace"]
