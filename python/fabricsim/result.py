"""Results of a run as numpy structured arrays and plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.errors import NotKeptError
from fabricsim.run_contract import RunResultBase
from fabricsim.timeline import Events, Track, link_counters, link_span_events
from fabricsim.traffic.messages import MessageTraffic

NEVER = np.iinfo(np.uint64).max

MESSAGE_DTYPE = np.dtype(
    [
        ("src", np.uint32),
        ("dst", np.uint32),
        ("bytes", np.int64),
        ("vc", np.uint32),
        ("inject_ps", np.int64),
        ("send_ps", np.int64),
        ("deliver_ps", np.int64),
        ("latency_ps", np.int64),
        ("deliver_order", np.int64),
        ("corrupt", np.bool_),
    ]
)
"""One row a message; ``send_ps``/``deliver_ps``/``latency_ps`` are -1 when not reached.
``send_ps``: first flit on the wire; ``deliver_ps``: last flit drained at the destination;
``latency_ps = deliver_ps - inject_ps`` (source queueing included); ``deliver_order``: rank in
the order of delivery (orders messages delivered in the same cycle), -1 if not delivered;
``corrupt``: a flit of the message was passed up with errors the CRC missed (or, with
``retry="none"``, with any errors)."""

LINK_SPAN_DTYPE = np.dtype(
    [
        ("message", np.int64),
        ("link", np.int64),
        ("src", np.uint32),
        ("dst", np.uint32),
        ("start_ps", np.int64),
        ("end_ps", np.int64),
    ]
)
"""One row per message and link direction it crossed (``link_spans`` in the run's options),
sorted by message then link: ``message`` its row in ``messages``, ``link`` its row in
``links`` (``src``/``dst`` the link direction's ends, as there); at cycle fidelity from its
first flit leaving the link's sender to the end of the cycle its last flit left in, at flow
fidelity from the flow's start to the end of its transfer."""

_LINK_COUNTER_COLUMNS: tuple[tuple[str, str], ...] = tuple(_core.link_counter_columns())
"""The link layer's counters, ``(name, doc)`` in column order: declared once in the engine
(``rust/core/src/result.rs``, ``LinkCounters``), so a new counter needs no edit here."""

_LINK_COUNTERS = tuple(name for name, _ in _LINK_COUNTER_COLUMNS)

LINK_DTYPE = np.dtype(
    [
        ("src", np.uint32),
        ("dst", np.uint32),
        ("flits", np.uint64),
        ("payload_bytes", np.uint64),
        ("utilization", np.float64),
        ("flit_rate", np.float64),
        ("goodput_gbps", np.float64),
        ("credit_stall_cycles", np.uint64),
        ("max_occupancy", np.uint32),
        ("mean_occupancy", np.float64),
        *((name, np.uint64) for name in _LINK_COUNTERS),
    ]
)
LINK_COLUMNS_DOC = """One row per link and direction. ``flits``: new flits sent (replays are
``flits_replayed``); ``utilization``: the fraction of its capacity the wire carried (flits,
replays included, over ``flit_rate`` flits per cycle); ``flit_rate``: the link's capacity in
flits per fabric cycle (1, except for a slower kind of link: a cluster's scale-out network);
``goodput_gbps``: payload bits over the simulated time (Gb/s); ``credit_stall_cycles``: cycles
in which a flit waited and no VC holding one had a credit; occupancy: flits held in the
receive buffers (all VCs). The link layer's counters follow, from the engine's declaration:
""" + "\n".join(f"``{name}``: {' '.join(doc.split())}" for name, doc in _LINK_COUNTER_COLUMNS)
"""What each column of :data:`LINK_DTYPE` holds."""


def _u64(raw: bytes) -> npt.NDArray[np.uint64]:
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def _mean_occupancy(hists: list[bytes], widths: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Per link direction, its mean receive-buffer occupancy from its histogram (cycles at each
    bucket ``i`` of ``width`` flits), all links at once: a fabric of 16,384 GPUs has hundreds
    of thousands of link directions, too many for a loop in Python."""
    lens = np.fromiter((len(h) // 8 for h in hists), dtype=np.int64, count=len(hists))
    out = np.zeros(len(hists))
    if not lens.sum():
        return out
    cycles = np.frombuffer(b"".join(hists), dtype="<u8").astype(np.float64)
    link = np.repeat(np.arange(len(hists)), lens)
    bucket = np.arange(len(cycles)) - np.repeat(np.cumsum(lens) - lens, lens)
    weighted = np.bincount(
        link, weights=bucket * widths[link].astype(np.float64) * cycles, minlength=len(hists)
    )
    total = np.bincount(link, weights=cycles, minlength=len(hists))
    out[:] = weighted / np.maximum(total, 1.0)
    return out


def _times(raw: bytes) -> npt.NDArray[np.int64]:
    t = _u64(raw)
    out = t.astype(np.int64)
    out[t == NEVER] = -1
    return out


@dataclass(frozen=True)
class Window:
    """The measurement window of a run of a :class:`~fabricsim.traffic.SyntheticLoad`: packets
    created in cycles ``start_cycle..end_cycle`` count."""

    start_cycle: int
    end_cycle: int
    flit_payload_bytes: int
    packet_overhead_bytes: int
    """(A message of the load is one packet: its flits follow from its bytes.)"""
    endpoints: int
    """The endpoints that offered load."""
    limit_reached: bool
    """The run was stopped at ``drain_factor`` times its injection time, not drained."""


class Result(RunResultBase):
    """The outcome of ``Fabric.run``.

    ``messages`` and ``links`` are numpy structured arrays (``MESSAGE_DTYPE``,
    ``LINK_DTYPE``); put them in a DataFrame with ``pandas.DataFrame(res.messages)``.
    """

    def __init__(self, raw: dict[str, Any], traffic: MessageTraffic) -> None:
        self._raw = raw
        self._traffic = traffic
        self.complete: bool = bool(raw["complete"])
        """True when every message was delivered (False for a partial result)."""
        self.cycles: int = int(raw["cycles"])
        """Cycles of the fabric clock simulated."""
        self.cycle_ps: float = raw["cycle_ps_num"] / raw["cycle_ps_den"]
        """The fabric clock period (one flit time on the link), ps."""
        self.cycle_ps_ratio: tuple[int, int] = (int(raw["cycle_ps_num"]), int(raw["cycle_ps_den"]))
        """The exact period as ``(num, den)``: cycle ``c`` starts at ``c * num // den`` ps."""
        self.end_ps: int = int(raw["end_ps"])
        """End of the simulated window, ps."""
        self.num_endpoints: int = int(raw["num_endpoints"])
        self.link_samples: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
        """With ``link_samples=N`` in the run's options: sample times (ps, evenly spaced but
        for the last, at the end) and every link direction's flits on the wire by each (a
        ``samples x links`` array), for timelines; else None."""
        if "link_sample_ps" in raw:
            times = _u64(raw["link_sample_ps"]).astype(np.int64)
            flits = _u64(raw["link_sample_flits"]).astype(np.int64)
            self.link_samples = (times, flits.reshape(len(times), -1))
        self.link_spans_left_out: int = int(raw["link_spans"]["left_out"]) if "link_spans" in raw else 0
        """Link crossings not recorded because ``link_spans`` of them were (0 without)."""
        self._link_spans: npt.NDArray[Any] | None = None
        """Endpoints of the fabric; in ``links``, nodes ``>= num_endpoints`` are routers
        (router ``node - num_endpoints``)."""
        self.events: int = int(raw["events"])
        """Engine events: flit sends and arrivals, credit returns, drains."""
        self.wall_seconds: float = float(raw["wall_seconds"])
        """Wall time of the cycle loop (not part of the deterministic result)."""
        self._messages: npt.NDArray[Any] | None = None
        self._links: npt.NDArray[Any] | None = None
        self.window: Window | None = None
        """The measurement window, for a run of a :class:`~fabricsim.traffic.SyntheticLoad`."""
        self.limit_expected = False

    @property
    def simulated_time_ps(self) -> int:
        return self.end_ps

    @property
    def messages_kept(self) -> bool:
        """Whether the per-message columns are here (``keep_messages`` in the run's options)."""
        return bool(self._raw.get("messages_kept", True))

    @property
    def link_spans(self) -> npt.NDArray[Any] | None:
        """When each message crossed each link direction (:data:`LINK_SPAN_DTYPE`), with
        ``link_spans=N`` in the run's options; else None."""
        raw = self._raw.get("link_spans")
        if raw is None:
            return None
        if self._link_spans is None:
            link = _u64(raw["link"]).astype(np.int64)
            rows = np.zeros(len(link), dtype=LINK_SPAN_DTYPE)
            rows["message"] = _u64(raw["msg"]).astype(np.int64)
            rows["link"] = link
            rows["src"] = self.links["src"][link]
            rows["dst"] = self.links["dst"][link]
            rows["start_ps"] = _u64(raw["start_ps"]).astype(np.int64)
            rows["end_ps"] = _u64(raw["end_ps"]).astype(np.int64)
            self._link_spans = rows
        return self._link_spans

    def _crossings(self) -> list[Events]:
        """Per link direction, a span per message that crossed it (with ``link_spans``)."""
        spans = self.link_spans
        return [] if spans is None else [link_span_events(spans, self.num_endpoints)]

    def _timeline(self) -> list[Events]:
        """Per sending endpoint, a span per delivered message from its injection to its
        delivery (label: destination and bytes); per link direction, its utilization and,
        with ``link_spans``, a span per message that crossed it."""
        num, den = self.cycle_ps_ratio
        counters = link_counters(
            self.links, float(self.end_ps), self.num_endpoints, self.link_samples, num / den
        )
        crossings = self._crossings()
        if not self.messages_kept:
            return [counters, *crossings]
        m = self.messages
        done = m["deliver_ps"] >= 0
        n = self.num_endpoints
        tracks = [Track("endpoints (messages sent)", f"endpoint {e}") for e in range(n)]
        labels = [
            f"-> {d} ({b} B)" for d, b in zip(m["dst"][done].tolist(), m["bytes"][done].tolist(), strict=True)
        ]
        spans = Events(
            name="message",
            tracks=tracks,
            track_of=m["src"][done].astype(np.int64),
            start_ps=m["inject_ps"][done].astype(np.float64),
            dur_ps=(m["deliver_ps"][done] - m["inject_ps"][done]).astype(np.float64),
            labels=labels,
            args={"dst": m["dst"][done], "bytes": m["bytes"][done], "latency_ps": m["latency_ps"][done]},
        )
        return [spans, counters, *crossings]

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``messages`` (one row a message), ``links`` (one row a link direction) and, with
        ``link_spans`` in the options, ``link_spans`` (one row a message's crossing of a link)."""
        out = {"messages": self.messages} if self.messages_kept else {}
        out["links"] = self.links
        if self.link_spans is not None:
            out["link_spans"] = self.link_spans
        return out

    def _headline(self) -> dict[str, Any]:
        d: dict[str, Any] = {"cycles": self.cycles, "cycle_ps": self.cycle_ps, **self.stats()}
        if self.window is not None:
            d.update(
                offered_rate=self.offered_rate,
                accepted_rate=self.accepted_rate,
                saturated=self.saturated,
                packet_latency_mean_cycles=float(np.mean(self.packet_latency_cycles))
                if len(self.packet_latency_cycles)
                else float("nan"),
            )
        return d

    @property
    def messages(self) -> npt.NDArray[Any]:
        if not self.messages_kept:
            raise NotKeptError(
                "messages: this run kept no per-message columns (keep_messages=False); its "
                "summaries (times, links, link samples) are here; run with keep_messages=True "
                "for the messages"
            )
        if self._messages is None:
            t = self._traffic
            m = np.zeros(len(t), dtype=MESSAGE_DTYPE)
            m["src"], m["dst"], m["bytes"], m["vc"] = t.src, t.dst, t.bytes, t.vc
            m["inject_ps"] = t.inject_ps
            m["send_ps"] = _times(self._raw["send_ps"])
            m["deliver_ps"] = d = _times(self._raw["deliver_ps"])
            m["latency_ps"] = np.where(d >= 0, d - t.inject_ps, -1)
            m["deliver_order"] = _times(self._raw["deliver_order"])
            m["corrupt"] = _u64(self._raw["corrupt"]) != 0
            self._messages = m
        return self._messages

    @property
    def links(self) -> npt.NDArray[Any]:
        if self._links is None:
            raw = self._raw["links"]
            flits = _u64(raw["flits"])
            payload = _u64(raw["payload_bytes"])
            rows = np.zeros(len(flits), dtype=LINK_DTYPE)
            rows["src"], rows["dst"] = _u64(raw["src"]), _u64(raw["dst"])
            rows["flits"], rows["payload_bytes"] = flits, payload
            cycles = max(self.cycles, 1)
            for name in _LINK_COUNTERS:
                rows[name] = _u64(raw[name])
            rows["flit_rate"] = _u64(raw["pace_num"]) / _u64(raw["pace_den"])
            rows["utilization"] = (flits + rows["flits_replayed"]) / cycles / rows["flit_rate"]
            rows["goodput_gbps"] = payload * 8 / max(self.end_ps, 1) * 1000.0
            rows["credit_stall_cycles"] = _u64(raw["credit_stall_cycles"])
            rows["max_occupancy"] = _u64(raw["max_occupancy"])
            rows["mean_occupancy"] = _mean_occupancy(raw["occupancy_cycles"], _u64(raw["occupancy_width"]))
            self._links = rows
        return self._links

    def occupancy_histograms(self) -> list[npt.NDArray[np.uint64]]:
        """Per link direction: cycles spent at each receive-buffer occupancy (bucket ``i``
        covers ``i * width`` flits; ``width`` is 1 unless the buffers hold more than 64)."""
        return [_u64(h) for h in self._raw["links"]["occupancy_cycles"]]

    def inject_cycles(self) -> list[int]:
        """Per message, the fabric cycle at which it was offered (first cycle starting at or
        after ``inject_ps``); exact integers."""
        num, den = self.cycle_ps_ratio
        return [-(-int(t) * den // num) for t in self._traffic.inject_ps]

    def delivered(self) -> int:
        """Messages delivered."""
        return int(np.count_nonzero(self.messages["deliver_ps"] >= 0))

    def latency_ns(self) -> npt.NDArray[np.float64]:
        """Latencies of the delivered messages, ns."""
        lat = self.messages["latency_ps"]
        return lat[lat >= 0].astype(np.float64) / 1000.0

    def _window(self) -> tuple[Window, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """The window, and per message: created in it; delivered in it."""
        w = self.window
        if w is None:
            raise ValueError(
                "no measurement window: only a run of fs.traffic.synthetic(pattern, rate=..., "
                "warmup_cycles=..., measure_cycles=...) has one (use latency_ns() otherwise)"
            )
        num, den = self.cycle_ps_ratio
        start, end = w.start_cycle * num // den, w.end_cycle * num // den
        m = self.messages
        created = (m["inject_ps"] >= start) & (m["inject_ps"] < end)
        arrived = (m["deliver_ps"] >= start) & (m["deliver_ps"] < end)
        return w, created, arrived

    @property
    def packet_latency_cycles(self) -> npt.NDArray[np.float64]:
        """Latencies, in cycles from creation to delivery (source queueing included), of the
        packets created in the measurement window and delivered."""
        _, created, _ = self._window()
        m = self.messages
        done = created & (m["deliver_ps"] >= 0)
        return m["latency_ps"][done].astype(np.float64) / self.cycle_ps

    def _flits_per_cycle(self, w: Window, which: npt.NDArray[np.bool_]) -> float:
        """The flits of the ``which`` messages, per endpoint per cycle of the window."""
        flits = (self.messages["bytes"][which] + w.packet_overhead_bytes) // w.flit_payload_bytes
        return float(flits.sum()) / w.endpoints / (w.end_cycle - w.start_cycle)

    @property
    def offered_rate(self) -> float:
        """Flits created in the measurement window, per endpoint per cycle."""
        w, created, _ = self._window()
        return self._flits_per_cycle(w, created)

    @property
    def accepted_rate(self) -> float:
        """Flits delivered in the measurement window, per endpoint per cycle (throughput)."""
        w, _, arrived = self._window()
        return self._flits_per_cycle(w, arrived)

    @property
    def saturated(self) -> bool:
        """Past saturation: a packet created in the window was not delivered within the drain
        limit."""
        w, created, _ = self._window()
        return w.limit_reached or bool(np.any(self.messages["deliver_ps"][created] < 0))

    def stats(self) -> dict[str, float]:
        """Headline numbers as a flat dict (for sweeps and DataFrames); without the messages
        (``keep_messages=False``) the time only."""
        if not self.messages_kept:
            return {"cycles": float(self.cycles), "end_ns": self.end_ps / 1000.0}
        lat = self.latency_ns()
        m = self.messages
        ok = m["deliver_ps"] >= 0
        return {
            "messages": float(len(m)),
            "delivered": float(ok.sum()),
            "goodput_gbps": self.goodput_gbps(),
            "latency_mean_ns": float(lat.mean()) if lat.size else float("nan"),
            "latency_p50_ns": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_p99_ns": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "latency_max_ns": float(lat.max()) if lat.size else float("nan"),
            "cycles": float(self.cycles),
            "end_ns": self.end_ps / 1000.0,
        }

    def goodput_gbps(self) -> float:
        """Delivered payload rate, Gb/s: the bytes of all deliveries but the first over the time
        from the first delivery to the last (the steady rate of a stream, without its start-up
        latency); for a single delivery, its bytes over its latency; 0 if nothing arrived."""
        m = self.messages
        done = m[m["deliver_ps"] >= 0]
        if len(done) == 0:
            return 0.0
        order = np.argsort(done["deliver_order"])
        done = done[order]
        if len(done) == 1 or done["deliver_ps"][-1] == done["deliver_ps"][0]:
            span = int(done["deliver_ps"][-1] - done["inject_ps"].min())
            return float(done["bytes"].sum()) * 8 / span * 1000.0 if span > 0 else 0.0
        span = int(done["deliver_ps"][-1] - done["deliver_ps"][0])
        return float(done["bytes"][1:].sum()) * 8 / span * 1000.0

    def summary(self) -> str:
        """A readable table of the run."""
        s = self.stats()
        state = "complete" if self.complete else "PARTIAL"
        lines = [
            f"run {state}: {self.cycles} cycles of {self.cycle_ps:g} ps = {self.end_ps / 1000:.3f} ns simulated, "
            f"{self.events} events",
            f"messages: {int(s['delivered'])}/{int(s['messages'])} delivered, goodput {s['goodput_gbps']:.2f} Gb/s, "
            f"latency mean {s['latency_mean_ns']:.2f} ns, p50 {s['latency_p50_ns']:.2f}, "
            f"p99 {s['latency_p99_ns']:.2f}, max {s['latency_max_ns']:.2f}",
            f"{'link':>8} {'flits':>12} {'payload B':>14} {'util':>7} {'Gb/s':>10} {'stall cyc':>11} "
            f"{'occ mean':>9} {'occ max':>8}",
        ]
        for r in self.links:
            lines.append(
                f"{r['src']:>3} -> {r['dst']:<2} {r['flits']:>12} {r['payload_bytes']:>14} "
                f"{r['utilization']:>7.3f} {r['goodput_gbps']:>10.2f} {r['credit_stall_cycles']:>11} "
                f"{r['mean_occupancy']:>9.2f} {r['max_occupancy']:>8}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Result {'complete' if self.complete else 'partial'} cycles={self.cycles} messages={len(self._traffic)}>"


__all__ = ["LINK_COLUMNS_DOC", "LINK_DTYPE", "MESSAGE_DTYPE", "Result"]
