"""Collective algorithms as schedule builders.

Each builder takes a :class:`Planner` (a :class:`ScheduleBuilder` that adds the dependencies
buffer accesses need: a read waits for the buffer's last write, a write for its last write and
every read since) and issues sends, receives, reductions and copies. The data is cut into
pieces (``chunks`` per segment, for pipelining); see :mod:`fabricsim.collectives.verify` for
which buffers hold which pieces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from fabricsim.collectives.ops import spans_nodes
from fabricsim.collectives.schedule import ScheduleBuilder


class Planner(ScheduleBuilder):
    """A schedule builder that orders each rank's buffer accesses by itself."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._last_write: dict[tuple[int, int], int] = {}
        self._reads: dict[tuple[int, int], list[int]] = {}
        self._scratch: dict[int, int] = {}

    def _read_deps(self, rank: int, buf: int) -> list[int]:
        w = self._last_write.get((rank, buf))
        return [] if w is None else [w]

    def _write_deps(self, rank: int, buf: int) -> list[int]:
        return self._read_deps(rank, buf) + self._reads.get((rank, buf), [])

    def _did_read(self, rank: int, buf: int, op: int) -> None:
        self._reads.setdefault((rank, buf), []).append(op)

    def _did_write(self, rank: int, buf: int, op: int) -> None:
        self._last_write[(rank, buf)] = op
        self._reads[(rank, buf)] = []

    def scratch(self, rank: int) -> int:
        """A fresh scratch buffer of ``rank`` (never reused, so never a hazard)."""
        base = self.pieces * (1 + self.ranks)  # past every layout (all-to-all's included)
        i = self._scratch.get(rank, 0)
        self._scratch[rank] = i + 1
        return base + i

    def move(self, src: int, dst: int, buf: int, into: int, piece: int) -> int:
        """Sends ``src``'s buffer ``buf`` to ``dst``'s buffer ``into`` (piece ``piece``'s
        bytes, tagged with it); returns the receive."""
        nbytes = self.piece_bytes(piece)
        s = self.send(src, dst, buf, nbytes, tag=piece, after=self._read_deps(src, buf))
        self._did_read(src, buf, s)
        r = self.recv(dst, src, into, nbytes, tag=piece, after=self._write_deps(dst, into))
        self._did_write(dst, into, r)
        return r

    def add_into(self, rank: int, buf: int, other: int, piece: int) -> int:
        """``buf += other`` at ``rank``."""
        deps = self._write_deps(rank, buf) + self._read_deps(rank, other)
        op = self.reduce(rank, buf, other, buf, self.piece_bytes(piece), after=deps)
        self._did_read(rank, other, op)
        self._did_write(rank, buf, op)
        return op

    def copy_to(self, rank: int, buf: int, into: int, piece: int) -> int:
        deps = self._read_deps(rank, buf) + self._write_deps(rank, into)
        op = self.copy(rank, buf, into, self.piece_bytes(piece), after=deps)
        self._did_read(rank, buf, op)
        self._did_write(rank, into, op)
        return op

    def move_reduce(self, src: int, dst: int, piece: int) -> None:
        """``dst``'s piece += ``src``'s piece (through a scratch buffer at ``dst``)."""
        tmp = self.scratch(dst)
        self.move(src, dst, piece, tmp, piece)
        self.add_into(dst, piece, tmp, piece)


Segments = Sequence[Sequence[int]]
Pass = Callable[[Any, Any], None]


def _segments(pieces: Sequence[int], parts: int) -> list[list[int]]:
    """``pieces`` cut into ``parts`` consecutive runs (as even as possible)."""
    base, extra = divmod(len(pieces), parts)
    out, at = [], 0
    for j in range(parts):
        size = base + (1 if j < extra else 0)
        out.append(list(pieces[at : at + size]))
        at += size
    return out


def ring_reduce_scatter(p: Planner, group: Sequence[int], segs: Segments) -> None:
    """Ring reduce-scatter over ``group`` (in ring order): segment ``j`` ends fully reduced
    at ``group[j]``. Step ``s``: member ``i`` sends segment ``i - s - 1`` to ``i + 1``."""
    g = len(group)
    for s in range(g - 1):
        for i in range(g):
            for k in segs[(i - s - 1) % g]:
                p.move_reduce(group[i], group[(i + 1) % g], k)


def ring_all_gather(p: Planner, group: Sequence[int], segs: Segments) -> None:
    """Ring all-gather: ``group[j]`` starts with segment ``j``; step ``s``: member ``i``
    forwards segment ``i - s``."""
    g = len(group)
    for s in range(g - 1):
        for i in range(g):
            for k in segs[(i - s) % g]:
                p.move(group[i], group[(i + 1) % g], k, k, k)


def direct_reduce_scatter(p: Planner, group: Sequence[int], segs: Segments) -> None:
    g = len(group)
    for s in range(1, g):  # staggered so that no rank gets everything at once
        for j in range(g):
            for k in segs[j]:
                p.move_reduce(group[(j + s) % g], group[j], k)


def direct_all_gather(p: Planner, group: Sequence[int], segs: Segments) -> None:
    g = len(group)
    for s in range(1, g):
        for j in range(g):
            for k in segs[j]:
                p.move(group[j], group[(j + s) % g], k, k, k)


def _fold(n: int) -> tuple[int, int]:
    """Recursive halving/doubling runs on the largest power of two ``q <= n``; the ``n - q``
    extra ranks ``q + e`` fold into rank ``e``."""
    q = 1 << (n.bit_length() - 1)
    return q, n - q


def halving_reduce_scatter(p: Planner, n: int, segs: Segments) -> None:
    """Recursive halving (Rabenseifner): extras fold their data into ranks ``0..n-q-1``,
    then at distance ``q/2, q/4, .. 1`` each rank keeps the half of its segments whose owners
    agree with its own bit and sends the other half to its partner; rank ``v`` then holds
    segments ``v`` and ``v + q``, and returns the latter to its extra rank."""
    q, extra = _fold(n)
    for e in range(extra):
        for seg in segs:
            for k in seg:
                p.move_reduce(q + e, e, k)
    owners = {v: [j for j in range(n) if j % q == v] for v in range(q)}
    held = {v: list(range(q)) for v in range(q)}  # virtual owners whose segments v holds
    d = q // 2
    while d >= 1:
        for v in range(q):
            partner = v ^ d
            give = [w for w in held[v] if (w & d) != (v & d)]
            for w in give:
                for j in owners[w]:
                    for k in segs[j]:
                        p.move_reduce(v, partner, k)
        for v in range(q):
            held[v] = [w for w in held[v] if (w & d) == (v & d)]
        d //= 2
    for e in range(extra):
        for k in segs[q + e]:
            p.move(e, q + e, k, k, k)


def doubling_all_gather(p: Planner, n: int, segs: Segments) -> None:
    """Recursive doubling, the mirror of :func:`halving_reduce_scatter`: extras hand their
    segment to their fold partner, the ``q`` ranks double what they hold at distances
    ``1, 2, .. q/2``, then each folded rank sends everything to its extra rank."""
    q, extra = _fold(n)
    for e in range(extra):
        for k in segs[q + e]:
            p.move(q + e, e, k, k, k)
    owners = {v: [j for j in range(n) if j % q == v] for v in range(q)}
    held = {v: [v] for v in range(q)}
    d = 1
    while d < q:
        for v in range(q):
            for w in held[v]:
                for j in owners[w]:
                    for k in segs[j]:
                        p.move(v, v ^ d, k, k, k)
        held = {v: held[v] + held[v ^ d] for v in range(q)}
        d *= 2
    for e in range(extra):
        for seg in segs:
            for k in seg:
                p.move(e, q + e, k, k, k)


def _tree_order(n: int, root: int, mirror: bool = False) -> list[int]:
    """Ranks in binary-heap order from ``root`` (position ``v``'s children are ``2v + 1`` and
    ``2v + 2``); ``mirror`` numbers the others the other way round, so that ranks that are
    leaves in one tree are inner nodes of the other (a double binary tree)."""
    others = [(root + i) % n for i in range(1, n)]
    if mirror:
        others.reverse()
    return [root, *others]


def tree_reduce(p: Planner, order: Sequence[int], pieces: Sequence[int]) -> None:
    """Children send to parents (deepest first); parents reduce what they receive."""
    for v in range(len(order) - 1, 0, -1):
        for k in pieces:
            p.move_reduce(order[v], order[(v - 1) // 2], k)


def tree_broadcast(p: Planner, order: Sequence[int], pieces: Sequence[int]) -> None:
    for v in range(1, len(order)):
        for k in pieces:
            p.move(order[(v - 1) // 2], order[v], k, k, k)


def chain_broadcast(p: Planner, order: Sequence[int], pieces: Sequence[int]) -> None:
    """Pipeline: each piece goes down the chain ``order[0] -> order[1] -> ...``."""
    for k in pieces:
        for v in range(1, len(order)):
            p.move(order[v - 1], order[v], k, k, k)


def chain_reduce(p: Planner, order: Sequence[int], pieces: Sequence[int]) -> None:
    """Pipeline toward ``order[0]``: each piece is summed along the chain from its end."""
    for k in pieces:
        for v in range(len(order) - 1, 0, -1):
            p.move_reduce(order[v], order[v - 1], k)


# --- builders per (kind, algorithm): (planner, ranks, chunks, options) -> None -------------


def ring_channels(n: int, pieces: int, local: int | None) -> list[tuple[list[int], Segments]]:
    """The rings a ring collective runs, each as (ranks in ring order, the segment each
    member starts or ends with): one ring over the ranks in order, carrying every piece; or,
    where the ranks fill several nodes of ``local`` ranks each (and the pieces divide among the
    ranks), one ring per piece of a segment, as NCCL's channels: ring ``c`` visits each node's
    ranks rotated by ``c``, so it leaves each node through its rank ``c - 1`` and enters the
    next through its rank ``c``. A ring that crosses nodes in rank order sends everything
    between two nodes through one rank's NIC; the channels spread it over ``local`` of them
    (NVIDIA: 192 GB/s all-reduce busbw between DGX A100s, their eight 200 Gb/s NICs'
    worth; nccl#812)."""
    segs = _segments(range(pieces), n)
    if not spans_nodes(n, local) or pieces % n:
        return [(list(range(n)), segs)]
    assert local is not None
    rings: list[tuple[list[int], Segments]] = []
    for c in range(pieces // n):
        order = channel_ring(n, local, c)
        rings.append((order, [[segs[r][c]] for r in order]))
    return rings


def channel_ring(n: int, local: int, c: int) -> list[int]:
    """Channel ``c``'s ring over ``n`` ranks in nodes of ``local``: each node's ranks rotated
    by ``c``, so it leaves a node through its rank ``c - 1`` and enters the next through its
    rank ``c``."""
    return [b * local + (j + c) % local for b in range(n // local) for j in range(local)]


def chain_channels(n: int, root: int, pieces: int, local: int | None) -> list[tuple[list[int], list[int]]]:
    """The chains a ring broadcast or reduce runs, each as (ranks from ``root`` down the chain,
    the pieces it carries): one chain over the ranks from the root on; or, where the ranks fill
    several nodes of ``local`` ranks each, one per channel as NCCL's rings: piece ``k`` goes
    down channel ``k mod local``'s ring (:func:`channel_ring`) from the root, so the channels
    cross between nodes through different ranks' NICs."""
    if not spans_nodes(n, local):
        return [(_tree_order(n, root), list(range(pieces)))]
    assert local is not None
    chains = []
    for c in range(min(local, pieces)):
        ring = channel_ring(n, local, c)
        at = ring.index(root)
        chains.append((ring[at:] + ring[:at], list(range(c, pieces, local))))
    return chains


def chain_collective(p: Planner, kind: str, n: int, local: int | None = None) -> None:
    """Ring (chain) broadcast or reduce over :func:`chain_channels`, toward or from the root."""
    for order, pieces in chain_channels(n, p.root, p.pieces, local):
        (chain_broadcast if kind == "broadcast" else chain_reduce)(p, order, pieces)


def ring_passes(kind: str, rings: Sequence[tuple[Any, Any]], reduce_scatter: Pass, all_gather: Pass) -> None:
    """A ring ``kind``'s passes over ``rings`` ((order, segments) each): every ring's
    reduce-scatter (but for an all-gather), then every ring's all-gather (but for a
    reduce-scatter); the planner here and the engine-planned path alike."""
    if kind != "all_gather":
        for order, segs in rings:
            reduce_scatter(order, segs)
    if kind != "reduce_scatter":
        for order, segs in rings:
            all_gather(order, segs)


def ring_collective(p: Planner, kind: str, n: int, local: int | None = None) -> None:
    """Ring reduce-scatter, all-gather or all-reduce over :func:`ring_channels`."""
    ring_passes(
        kind,
        ring_channels(n, p.pieces, local),
        lambda order, segs: ring_reduce_scatter(p, order, segs),
        lambda order, segs: ring_all_gather(p, order, segs),
    )


def _all_reduce_ring(p: Planner, n: int, c: int) -> None:
    ring_collective(p, "all_reduce", n)


def _all_reduce_direct(p: Planner, n: int, c: int) -> None:
    segs = _segments(range(p.pieces), n)
    direct_reduce_scatter(p, list(range(n)), segs)
    direct_all_gather(p, list(range(n)), segs)


def _all_reduce_halving_doubling(p: Planner, n: int, c: int) -> None:
    segs = _segments(range(p.pieces), n)
    halving_reduce_scatter(p, n, segs)
    doubling_all_gather(p, n, segs)


def double_tree_all_reduce(p: Planner, group: Sequence[int], pieces: Sequence[int]) -> None:
    """All-reduce of ``pieces`` over ``group`` on two binary trees, each reducing then
    broadcasting half the pieces. The second tree is rooted at the last member and numbered
    the other way round: the inner nodes of one are the leaves of the other (NCCL's double
    binary tree), so no rank carries both trees' inner-node traffic."""
    g = len(group)
    halves = _segments(pieces, 2)
    for half, (root, mirror) in zip(halves, ((0, False), (g - 1, True)), strict=True):
        order = [group[v] for v in _tree_order(g, root, mirror)]
        tree_reduce(p, order, half)
        tree_broadcast(p, order, half)


def _all_reduce_tree(p: Planner, n: int, c: int) -> None:
    double_tree_all_reduce(p, list(range(n)), list(range(p.pieces)))


def _all_reduce_hierarchical(p: Planner, n: int, c: int, local: int, across: str = "ring") -> None:
    """2D: ring reduce-scatter inside each node of ``local`` ranks, all-reduce of each rank's
    segment across the nodes (ranks with the same local index: a rail), ring all-gather
    inside each node. ``across="ring"``: a ring over the rail's nodes, each segment cut once
    per node (pieces grow with the nodes); ``across="tree"``: a double binary tree over the
    rail's nodes, each piece of the segment up and down it (pieces do not grow with the nodes:
    how NCCL reaches thousands of nodes)."""
    nodes = n // local
    segs = _segments(range(p.pieces), local)
    for node in range(nodes):
        ring_reduce_scatter(p, [node * local + i for i in range(local)], segs)
    for i in range(local):
        group = [node * local + i for node in range(nodes)]
        if across == "tree":
            if nodes > 1:
                double_tree_all_reduce(p, group, segs[i])
            continue
        sub = _segments(segs[i], nodes)
        ring_reduce_scatter(p, group, sub)
        ring_all_gather(p, group, sub)
    for node in range(nodes):
        ring_all_gather(p, [node * local + i for i in range(local)], segs)


def _torus_pass(p: Planner, dims: Sequence[int], pieces: Sequence[int], reverse: bool) -> None:
    """One direction of the torus all-reduce over ``pieces``: ring reduce-scatter along each
    dimension in turn (each rank keeping a shrinking share), then ring all-gather back."""
    n = math.prod(dims)
    owned = {r: list(pieces) for r in range(n)}
    done: list[tuple[list[int], list[list[int]]]] = []
    stride = 1
    for k in dims:
        for r in range(n):
            if (r // stride) % k:
                continue  # not the first rank of its line along this dimension
            line = [r + i * stride for i in range(k)]
            if reverse:
                line = line[:1] + line[:0:-1]  # the same ring the other way round
            segs = _segments(owned[r], k)  # a line's members own the same pieces here
            ring_reduce_scatter(p, line, segs)
            for j, member in enumerate(line):
                owned[member] = segs[j]
            done.append((line, segs))
        stride *= k
    for line, segs in reversed(done):
        ring_all_gather(p, line, segs)


def _all_reduce_torus(p: Planner, n: int, c: int, dims: Sequence[int]) -> None:
    """Multi-dimensional ring all-reduce for a torus of ``dims`` (rank ``r`` at coordinates
    ``r`` in mixed radix, dimension 0 fastest, as the torus numbers its endpoints): ring
    reduce-scatter along dimension 0, then 1, ..., then all-gather back; half the pieces go
    round each ring one way and half the other way, so every link direction carries data."""
    pieces = list(range(p.pieces))
    half = len(pieces) // 2
    if half == 0:
        _torus_pass(p, dims, pieces, reverse=False)
        return
    _torus_pass(p, dims, pieces[:half], reverse=False)
    _torus_pass(p, dims, pieces[half:], reverse=True)


def _all_reduce_nvls(p: Planner, n: int, c: int, planes: int, units: int) -> None:
    """In-network reduction (NVLS-like) with ``units`` reduction units on each of ``planes``
    switches (helper ranks ``n + plane * units + u``): piece ``k`` belongs to unit ``(k //
    planes) % units`` of switch ``k % planes``; every rank sends its copy of the piece there
    once, the unit adds the copies up as they arrive and multicasts the sum back to every
    rank (one send per rank from the unit's port, as a switch replicates a multicast).

    The pieces go in rounds of one per unit (``chunks`` rounds pipeline: a round's sums
    multicast while the next round's copies arrive). Orders are staggered so that no port is
    a hot spot: within a round rank ``i`` starts ``i`` units further on (at any moment the
    ranks of a switch feed different units), and each unit multicasts starting with a
    different rank."""
    K = p.pieces
    width = planes * units

    def unit_of(k: int) -> int:
        return n + (k % planes) * units + (k // planes) % units

    def slot(k: int) -> int:  # the unit's buffers for piece k: one per rank
        return (k // (planes * units)) * n

    for t in range(K):
        base, at = divmod(t, width)
        for i in range(n):
            k = base * width + (at + i * planes) % width
            p.move(i, unit_of(k), k, slot(k) + i, k)
    for k in range(K):
        for i in range(1, n):
            p.add_into(unit_of(k), slot(k), slot(k) + i, k)
    for k in range(K):
        first = (k // planes) % units
        for j in range(n):
            i = (first + j) % n
            p.move(unit_of(k), i, slot(k), k, k)


def _rs(impl: Callable[[Planner, Sequence[int], Segments], None]) -> Callable[[Planner, int, int], None]:
    return lambda p, n, c: impl(p, list(range(n)), _segments(range(p.pieces), n))


def _chain(kind: str) -> Callable[[Planner, int, int], None]:
    return lambda p, n, c: chain_collective(p, kind, n)


def _tree_broadcast(p: Planner, n: int, c: int) -> None:
    tree_broadcast(p, _tree_order(n, p.root), range(p.pieces))


def _tree_reduce(p: Planner, n: int, c: int) -> None:
    tree_reduce(p, _tree_order(n, p.root), range(p.pieces))


def _all_to_all(pairwise: bool) -> Callable[[Planner, int, int], None]:
    def build(p: Planner, n: int, c: int) -> None:
        m = p.pieces // n
        for i in range(n):
            for t in range(m):  # the block a rank keeps: a local copy
                p.copy_to(i, i * m + t, p.pieces + i * m + t, i * m + t)
        prev: dict[int, list[int]] = {i: [] for i in range(n)}
        for s in range(1, n):
            step: dict[int, list[int]] = {i: [] for i in range(n)}
            for i in range(n):
                j = (i + s) % n
                for t in range(m):
                    k = j * m + t
                    nbytes = p.piece_bytes(k)
                    # pairwise: step s starts when the rank's step s - 1 is done
                    after = prev[i] + prev[j] if pairwise else []
                    snd = p.send(i, j, k, nbytes, tag=k, after=after)
                    rcv = p.recv(j, i, p.pieces + i * m + t, nbytes, tag=k, after=after)
                    step[i].append(snd)
                    step[j].append(rcv)
            if pairwise:
                prev = step

    return build


BUILDERS: dict[tuple[str, str], Callable[[Planner, int, int], None]] = {
    ("all_reduce", "ring"): _all_reduce_ring,
    ("all_reduce", "direct"): _all_reduce_direct,
    ("all_reduce", "halving_doubling"): _all_reduce_halving_doubling,
    ("all_reduce", "tree"): _all_reduce_tree,
    ("reduce_scatter", "ring"): lambda p, n, c: ring_collective(p, "reduce_scatter", n),
    ("reduce_scatter", "direct"): _rs(direct_reduce_scatter),
    ("reduce_scatter", "halving_doubling"): lambda p, n, c: halving_reduce_scatter(
        p, n, _segments(range(p.pieces), n)
    ),
    ("all_gather", "ring"): lambda p, n, c: ring_collective(p, "all_gather", n),
    ("all_gather", "direct"): _rs(direct_all_gather),
    ("all_gather", "halving_doubling"): lambda p, n, c: doubling_all_gather(
        p, n, _segments(range(p.pieces), n)
    ),
    ("all_to_all", "direct"): _all_to_all(pairwise=False),
    ("all_to_all", "pairwise"): _all_to_all(pairwise=True),
    ("broadcast", "ring"): _chain("broadcast"),
    ("broadcast", "tree"): _tree_broadcast,
    ("reduce", "ring"): _chain("reduce"),
    ("reduce", "tree"): _tree_reduce,
}
"""(kind, algorithm) -> builder. ``hierarchical`` all-reduce takes ``local`` and ``torus``
all-reduce ``dims``; both are built by :meth:`fabricsim.collectives.api.Collective.schedule`."""

__all__ = ["BUILDERS", "Planner"]
