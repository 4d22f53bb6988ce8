"""Invariant checkers over a :class:`~fabricsim.Result`. Each raises ``AssertionError``
with the first offending message or link, and returns None when the run is clean.

Credit conservation is checked inside the engine, every cycle, when a run is made with
``check_invariants=True`` (it needs state the result does not keep).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import numpy as np

from fabricsim.result import Result
from fabricsim.specs import LinkSpec


def check_exactly_once(res: Result) -> None:
    """Every message is delivered exactly once (its delivery rank is unique)."""
    m = res.messages
    missing = np.flatnonzero(m["deliver_ps"] < 0)
    if len(missing):
        raise AssertionError(f"{len(missing)} message(s) never delivered, first: row {int(missing[0])}")
    ranks = np.sort(m["deliver_order"])
    if not np.array_equal(ranks, np.arange(len(m))):
        dup = ranks[np.flatnonzero(np.diff(ranks) == 0)]
        raise AssertionError(f"delivery ranks are not a permutation (duplicated: {dup[:5].tolist()})")
    early = np.flatnonzero((m["send_ps"] < m["inject_ps"]) | (m["deliver_ps"] <= m["send_ps"]))
    if len(early):
        i = int(early[0])
        raise AssertionError(
            f"message {i} has inject {m['inject_ps'][i]} <= send {m['send_ps'][i]} < deliver "
            f"{m['deliver_ps'][i]} broken"
        )


def check_in_order_per_vc(res: Result, delivery: bool = True, sending: bool = True) -> None:
    """Messages of one (src, dst, VC) are sent in the order they were offered (cycle, then
    row; not with ``sending=False``: endpoints with several ports, as on switch planes, send
    on them in parallel) and, with ``delivery``, delivered in the order they were sent (not
    promised by routing that spreads one flow over several paths, like Valiant's)."""
    m = res.messages
    cycles = res.inject_cycles()
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for i in range(len(m)):
        groups[(int(m["src"][i]), int(m["dst"][i]), int(m["vc"][i]))].append(i)
    for key, rows in sorted(groups.items()):
        offered = sorted(rows, key=lambda i: (cycles[i], i))
        sent = [i for i in offered if m["send_ps"][i] >= 0]
        if sending and any(m["send_ps"][a] >= m["send_ps"][b] for a, b in pairwise(sent)):
            raise AssertionError(f"(src, dst, vc)={key}: messages sent out of offer order: {sent[:10]}")
        if not delivery:
            continue
        done = [i for i in sent if m["deliver_order"][i] >= 0]
        if any(m["deliver_order"][a] >= m["deliver_order"][b] for a, b in pairwise(done)):
            raise AssertionError(f"(src, dst, vc)={key}: messages delivered out of order: {done[:10]}")


def check_payload_conserved(res: Result) -> None:
    """The payload the links carried equals the bytes of the messages they delivered."""
    m = res.messages
    # each byte is injected once (on routed fabrics it then crosses several links)
    carried = int(res.links["payload_bytes"][res.links["src"] < res.num_endpoints].sum())
    delivered = int(m["bytes"][m["deliver_ps"] >= 0].sum())
    if res.complete and carried != delivered:
        raise AssertionError(
            f"links carried {carried} payload bytes but messages of {delivered} bytes arrived"
        )
    if carried < delivered:
        raise AssertionError(f"links carried {carried} payload bytes, fewer than the {delivered} delivered")


def check_flit_counts(res: Result, link: LinkSpec) -> None:
    """Each direct link between endpoints sent exactly the flits its messages need."""
    m = res.messages
    expected: dict[tuple[int, int], int] = defaultdict(int)
    for i in range(len(m)):
        expected[(int(m["src"][i]), int(m["dst"][i]))] += link.message_flits(int(m["bytes"][i]))
    for row in res.links:
        key = (int(row["src"]), int(row["dst"]))
        if max(key) >= res.num_endpoints:
            continue  # a router's link: its flits depend on the routes
        if res.complete and int(row["flits"]) != expected.get(key, 0):
            raise AssertionError(
                f"link {key} sent {int(row['flits'])} flits, messages need {expected.get(key, 0)}"
            )


def check_zero_load_bound(res: Result, link: LinkSpec) -> None:
    """No message arrives sooner than it could alone on an idle direct link: from the cycle it
    was offered, its flits' serialization plus the propagation latency (skipped on routed
    fabrics)."""
    if int(res.links["dst"].max(initial=0)) >= res.num_endpoints:
        return  # the bound is the one of a direct link; routers add hops
    r = link.resolved()
    num, den = res.cycle_ps_ratio
    m = res.messages
    cycles = res.inject_cycles()
    for i in np.flatnonzero(m["deliver_ps"] >= 0):
        flits = link.message_flits(int(m["bytes"][i]))
        earliest = (cycles[i] + flits + int(r["latency_cycles"])) * num // den
        if int(m["deliver_ps"][i]) < earliest:
            raise AssertionError(
                f"message {int(i)} delivered at {int(m['deliver_ps'][i])} ps, before the zero-load bound {earliest} ps"
            )


def check_no_corruption(res: Result) -> None:
    """No message was passed up with errors the CRC missed (see ``Result.messages["corrupt"]``
    and ``links["flits_undetected"]``). Not part of :func:`check_all`: a weak CRC makes it
    fail by design, which is what it is for."""
    bad = np.flatnonzero(res.messages["corrupt"])
    if len(bad):
        raise AssertionError(
            f"{len(bad)} message(s) delivered corrupt (undetected errors), first: row {int(bad[0])}"
        )


def check_trace_spans_nest(trace_events: list[dict[str, Any]]) -> None:
    """Duration events on one thread of a Chrome / Perfetto trace either follow each other or
    nest (one inside the other), in the whole ns Perfetto reads ``ts`` and ``dur`` as: it
    drops or cuts events that overlap on a thread without nesting."""
    by_thread: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for e in trace_events:
        if e.get("ph") == "X":
            start, dur = round(e["ts"] * 1000), round(e["dur"] * 1000)
            assert dur >= 0, f"negative duration: {e}"
            by_thread.setdefault((e["pid"], e["tid"]), []).append((start, start + dur))
    for thread, spans in by_thread.items():
        spans.sort(key=lambda x: (x[0], -x[1]))
        open_ends: list[int] = []
        for start, end in spans:
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            assert not open_ends or end <= open_ends[-1], (
                f"span ({start}, {end}) ns overlaps one ending at {open_ends[-1]} without nesting, "
                f"on thread {thread}"
            )
            open_ends.append(end)


def check_all(
    res: Result, link: LinkSpec, in_order_delivery: bool = True, in_order_sending: bool = True
) -> None:
    """Every check above that applies to ``res`` (``in_order_delivery=False`` for multipath
    routing, which may reorder one flow's messages; ``in_order_sending=False`` for endpoints
    with several ports, which send one flow's messages side by side)."""
    if res.complete:
        check_exactly_once(res)
    check_in_order_per_vc(res, delivery=in_order_delivery, sending=in_order_sending)
    check_payload_conserved(res)
    check_flit_counts(res, link)
    check_zero_load_bound(res, link)


__all__ = [
    "check_all",
    "check_exactly_once",
    "check_flit_counts",
    "check_in_order_per_vc",
    "check_no_corruption",
    "check_payload_conserved",
    "check_trace_spans_nest",
    "check_zero_load_bound",
]
