"""Symbolic verification of a collective schedule, without running any fabric.

Every buffer holds a *piece label* (which piece of the collective's data it is) and, per rank,
how many times that rank's contribution is summed in. The schedule is executed on these
symbols in dependency order (ties by operation index): a send snapshots its buffer, the
matching receive writes it, a reduce adds two buffers of the same piece, a copy copies. At the
end every buffer of the collective's layout must hold exactly what the collective promises,
each contribution exactly once.

Layouts (``K`` pieces, ``n`` ranks, ``m = K / n`` pieces per rank where the data is split
among ranks, ``owner(k) = k // m``):

=================  ===========================================  ==========================================
kind               initially                                    finally
=================  ===========================================  ==========================================
all_reduce         rank r, buffer k < K: piece k from r          every rank, buffer k: piece k from all
reduce_scatter     as all_reduce                                 rank r, its buffers k: piece k from all
all_gather         rank r, its buffers k: piece k from r         every rank, buffer k: piece k from owner(k)
all_to_all         rank i, buffer k < K: piece k from i (for     rank j, buffer K + i m + t: piece j m + t
                   owner(k))                                     from i, for every rank i
broadcast          root, buffer k: piece k from root             every rank, buffer k: piece k from root
reduce             rank r, buffer k: piece k from r              root, buffer k: piece k from all
=================  ===========================================  ==========================================

Any other buffer index is scratch (initially empty). Helper ranks (switch reduction units,
``Schedule.helpers``) hold only scratch.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.ops import COPY, RECV, REDUCE, SEND

if TYPE_CHECKING:
    from fabricsim.collectives.schedule import Schedule


class VerificationError(AssertionError):
    """A schedule does not compute its collective; the message names the first wrong
    operation (``op``: its index, or -1 when the fault is in the final state)."""

    def __init__(self, message: str, op: int = -1) -> None:
        super().__init__(message)
        self.op = op


def _per_rank(s: Schedule) -> int:
    if s.kind in ("reduce_scatter", "all_gather", "all_to_all"):
        if s.pieces % s.ranks:
            raise VerificationError(
                f"{s.kind} needs pieces ({s.pieces}) to be a multiple of ranks ({s.ranks})"
            )
        return s.pieces // s.ranks
    return s.pieces


def layout(
    s: Schedule,
) -> tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.int16],
    npt.NDArray[np.int32],
    npt.NDArray[np.int16],
    npt.NDArray[np.bool_],
]:
    """The initial and final states of ``s``'s collective over its layout buffers: labels
    ``[rank, buf]`` (-1 empty), contribution counts ``[rank, buf, source]``, and which
    ``[rank, buf]`` the final state constrains."""
    n, K = s.ranks, s.pieces
    total = n + s.helpers
    m = _per_rank(s)
    width = K + (n * m if s.kind == "all_to_all" else 0)
    width = max(width, int(max(s.a.max(initial=-1), s.b.max(initial=-1), s.out.max(initial=-1))) + 1)
    lab0 = np.full((total, width), -1, dtype=np.int32)
    cnt0 = np.zeros((total, width, n), dtype=np.int16)
    lab1 = np.full((total, width), -1, dtype=np.int32)
    cnt1 = np.zeros((total, width, n), dtype=np.int16)
    need = np.zeros((total, width), dtype=bool)
    ks = np.arange(K)
    owner = ks // m if m else ks
    everyone = np.ones(n, dtype=np.int16)
    for r in range(n):
        if s.kind in ("all_reduce", "reduce_scatter", "reduce", "all_to_all"):
            lab0[r, :K] = ks
            cnt0[r, :K, r] = 1
        elif s.kind == "all_gather":
            mine = ks[owner == r]
            lab0[r, mine] = mine
            cnt0[r, mine, r] = 1
        elif s.kind == "broadcast" and r == s.root:
            lab0[r, :K] = ks
            cnt0[r, :K, r] = 1
    for r in range(n):
        if s.kind == "all_reduce" or (s.kind == "reduce" and r == s.root):
            lab1[r, :K], cnt1[r, :K] = ks, everyone
            need[r, :K] = True
        elif s.kind == "reduce_scatter":
            mine = ks[owner == r]
            lab1[r, mine], cnt1[r, mine] = mine, everyone
            need[r, mine] = True
        elif s.kind == "all_gather":
            lab1[r, :K] = ks
            cnt1[r, ks, owner] = 1
            need[r, :K] = True
        elif s.kind == "broadcast":
            lab1[r, :K] = ks
            cnt1[r, :K, s.root] = 1
            need[r, :K] = True
        elif s.kind == "all_to_all":
            for i in range(n):
                slots = K + i * m + np.arange(m)
                lab1[r, slots] = r * m + np.arange(m)
                cnt1[r, slots, i] = 1
                need[r, slots] = True
    return lab0, cnt0, lab1, cnt1, need


def _match_exact(s: Schedule) -> npt.NDArray[np.int64]:
    """For every receive, its send (sends and receives of one (sender, receiver, tag) match
    in index order); -1 elsewhere."""
    sends: dict[tuple[int, int, int], list[int]] = {}
    recvs: dict[tuple[int, int, int], list[int]] = {}
    for i in range(len(s)):
        if s.op[i] == SEND:
            sends.setdefault((int(s.rank[i]), int(s.peer[i]), int(s.tag[i])), []).append(i)
        elif s.op[i] == RECV:
            recvs.setdefault((int(s.peer[i]), int(s.rank[i]), int(s.tag[i])), []).append(i)
    match = np.full(len(s), -1, dtype=np.int64)
    for key in sorted(set(sends) | set(recvs)):
        a, b = sends.get(key, []), recvs.get(key, [])
        for snd, rcv in zip(a, b, strict=False):
            if s.bytes[snd] != s.bytes[rcv]:
                raise VerificationError(
                    f"{s.describe(rcv)} receives {int(s.bytes[rcv])} B but its send {s.describe(snd)} sends {int(s.bytes[snd])} B",
                    rcv,
                )
            match[rcv] = snd
        if len(a) != len(b):
            extra = a[len(b)] if len(a) > len(b) else b[len(a)]
            what = "receive" if len(a) > len(b) else "send"
            raise VerificationError(f"{s.describe(extra)} has no matching {what}", extra)
    return match


EXACT_COUNTERS = 20_000_000
"""The exact verifier keeps ranks x buffers x ranks contribution counters; past this many it
would not fit comfortably, and only the engine's verifier runs."""


def _core_verify(s: Schedule, match_only: bool) -> npt.NDArray[np.int64]:
    """The engine's verifier (``rust/core/src/collective_verify.rs``): every schedule, in
    time and memory linear in its operations and buffers; a contribution set is a count and
    a sum of random 64-bit weights per rank (a wrong set passes with probability 2^-64)."""
    from fabricsim import _core

    def le(col: npt.NDArray[Any], dtype: str) -> bytes:
        return np.ascontiguousarray(col, dtype=dtype).tobytes()

    narrow = (s.rank, s.peer, s.a, s.b, s.out)
    cols = [le(s.op, "<u1")] + [le(c, "<i4") for c in narrow]
    cols += [le(s.tag, "<i8"), le(s.bytes, "<i8"), le(s.dep_ptr, "<i8"), le(s.deps, "<i4")]
    raw, failure = _core.verify_schedule(s.kind, s.ranks, s.helpers, s.pieces, s.root, cols, match_only)
    if failure is not None:
        op, message = failure
        where = f"{s.describe(op)}: " if 0 <= op < len(s) else ""
        raise VerificationError(where + message, op)
    matched: npt.NDArray[np.int64] = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    return matched


def _match(s: Schedule) -> npt.NDArray[np.int64]:
    """For every receive, its send (sends and receives of one (sender, receiver, tag) match
    in index order); -1 elsewhere. Raises :class:`VerificationError` for one without."""
    return _core_verify(s, match_only=True)


def _exact_fits(s: Schedule) -> bool:
    n = s.ranks + s.helpers
    width = max(int(max(s.a.max(initial=-1), s.b.max(initial=-1), s.out.max(initial=-1))) + 1, s.pieces)
    return n * width * s.ranks <= EXACT_COUNTERS


def verify_schedule(s: Schedule) -> npt.NDArray[np.int64]:
    """Raises :class:`VerificationError` naming the first wrong operation unless ``s``
    computes its collective; returns each receive's send (what the executor needs too).

    The engine's verifier decides (linear in the schedule, any scale); when it finds a fault
    and the schedule is small enough for exact per-rank counters, the exact verifier runs
    too, to name the operation that counted a rank twice."""
    try:
        return _core_verify(s, match_only=False)
    except VerificationError:
        if _exact_fits(s):
            _verify_exact(s)
        raise


def _verify_exact(s: Schedule) -> npt.NDArray[np.int64]:
    """The exact symbolic execution (per-rank contribution counters)."""
    n = s.ranks + s.helpers
    for i in range(len(s)):
        r, p = int(s.rank[i]), int(s.peer[i])
        if not 0 <= r < n or (s.op[i] in (SEND, RECV) and not (0 <= p < n and p != r)):
            raise VerificationError(
                f"{s.describe(i)}: ranks must be in 0..{n - 1} and a peer another rank", i
            )
        if (
            min(int(s.a[i]), int(s.out[i]) if s.op[i] != SEND else 0, int(s.b[i]) if s.op[i] == REDUCE else 0)
            < 0
        ):
            raise VerificationError(f"{s.describe(i)}: buffer indices must be >= 0", i)
    match = _match_exact(s)
    lab, cnt, want_lab, want_cnt, need = layout(s)
    writer = np.full(lab.shape, -1, dtype=np.int64)
    # Kahn's algorithm over the explicit dependencies plus receive-after-send.
    waiting = np.diff(s.dep_ptr).astype(np.int64) + (match >= 0)
    users: list[list[int]] = [[] for _ in range(len(s))]
    for i in range(len(s)):
        for d in s.deps[s.dep_ptr[i] : s.dep_ptr[i + 1]]:
            if not 0 <= d < len(s):
                raise VerificationError(f"{s.describe(i)} waits for op {int(d)}, which does not exist", i)
            users[int(d)].append(i)
        if match[i] >= 0:
            users[int(match[i])].append(i)
    ready = [i for i in range(len(s)) if waiting[i] == 0]
    heapq.heapify(ready)
    sent: dict[int, tuple[int, npt.NDArray[np.int16]]] = {}
    done = 0
    while ready:
        i = heapq.heappop(ready)
        done += 1
        r, kind = int(s.rank[i]), int(s.op[i])
        a = int(s.a[i])
        if kind in (SEND, COPY, REDUCE) and lab[r, a] < 0:
            raise VerificationError(
                f"{s.describe(i)} reads buffer {a} of rank {r} before anything was written to it", i
            )
        if kind == SEND:
            sent[i] = (int(lab[r, a]), cnt[r, a].copy())
        else:
            out = int(s.out[i])
            if kind == RECV:
                lab[r, out], cnt[r, out] = sent.pop(int(match[i]))
            elif kind == COPY:
                lab[r, out], cnt[r, out] = lab[r, a], cnt[r, a].copy()
            else:
                b = int(s.b[i])
                if lab[r, b] < 0:
                    raise VerificationError(
                        f"{s.describe(i)} reads buffer {b} of rank {r} before anything was written to it", i
                    )
                if lab[r, a] != lab[r, b]:
                    raise VerificationError(
                        f"{s.describe(i)} adds piece {int(lab[r, a])} to piece {int(lab[r, b])}", i
                    )
                total = cnt[r, a] + cnt[r, b]
                twice = np.flatnonzero(total > 1)
                if len(twice):
                    raise VerificationError(
                        f"{s.describe(i)} counts rank {int(twice[0])}'s contribution to piece {int(lab[r, a])} twice",
                        i,
                    )
                lab[r, out], cnt[r, out] = lab[r, a], total
            writer[r, out] = i
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if done < len(s):
        stuck = int(np.flatnonzero(waiting > 0)[0])
        raise VerificationError(
            f"{s.describe(stuck)} never becomes ready: a dependency cycle (a receive waiting, through its send, on itself)",
            stuck,
        )
    bad = need & ((lab != want_lab) | np.any(cnt != want_cnt, axis=2))
    if bad.any():
        r, b = (int(x) for x in np.argwhere(bad)[0])
        got = (
            "nothing"
            if lab[r, b] < 0
            else f"piece {int(lab[r, b])} from ranks {np.flatnonzero(cnt[r, b]).tolist()}"
        )
        want = f"piece {int(want_lab[r, b])} from ranks {np.flatnonzero(want_cnt[r, b]).tolist()}"
        last = int(writer[r, b])
        by = f", last written by {s.describe(last)}" if last >= 0 else ""
        raise VerificationError(f"{s.kind}: rank {r} buffer {b} ends with {got}, not {want}{by}", last)
    return match


__all__ = ["VerificationError", "layout", "verify_schedule"]
