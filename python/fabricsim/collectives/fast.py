"""Ring (and chain: broadcast, reduce) and hierarchical schedules at scale: their data
movements as numpy columns, planned
in the engine (``rust/core/src/collective_plan.rs``, the :class:`Planner`'s rules in Rust).

The result is the schedule :mod:`fabricsim.collectives.algorithms` builds operation by
operation, the same rows in the same order (tested), in time linear in its operations
without a Python object per operation: a 1,024-rank hierarchical all-reduce (millions of
operations) in about a second instead of minutes. Used where the data divides evenly into
the algorithm's segments; anything else takes the Python path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.algorithms import _tree_order, chain_channels, ring_channels, ring_passes
from fabricsim.collectives.ops import CHAIN_KINDS, RING_KINDS
from fabricsim.collectives.schedule import Schedule

I64 = npt.NDArray[np.int64]
MOVE, MOVE_REDUCE = 0, 1


class Moves:
    """Data movements in the order the algorithm makes them: ``move`` (src's buffer to dst's
    buffer) or ``move_reduce`` (src's piece added into dst's, through a scratch buffer)."""

    def __init__(self) -> None:
        self.parts: list[tuple[I64, ...]] = []

    def add(self, kind: int, src: I64, dst: I64, piece: I64) -> None:
        n = src.size
        self.parts.append(
            (
                np.full(n, kind, np.int64),
                src.ravel(),
                dst.ravel(),
                piece.ravel(),
                piece.ravel(),
                piece.ravel(),
            )
        )

    def columns(self) -> list[I64]:
        return [np.concatenate([p[j] for p in self.parts]) for j in range(6)]


def _grid(groups: I64, segs: I64, steps: int, shift: int) -> tuple[I64, I64, I64]:
    """Ring steps over ``groups`` (rows of ranks in ring order, all of one size ``g``) with
    segment ``j`` of each group's pieces in ``segs[j]``: step ``s``, member ``i`` sends
    segment ``i - s - shift`` to member ``i + 1``; loops nested group, step, member, piece."""
    count, g = groups.shape
    s = np.arange(steps)[:, None]
    i = np.arange(g)[None, :]
    seg = (i - s - shift) % g  # (steps, g)
    pieces = segs[seg]  # (steps, g, L)
    shape = (count, steps, g, segs.shape[1])
    src = np.broadcast_to(groups[:, None, :, None], shape)
    dst = np.broadcast_to(np.roll(groups, -1, axis=1)[:, None, :, None], shape)
    return src, dst, np.broadcast_to(pieces[None], shape)


def ring_reduce_scatter(m: Moves, groups: I64, segs: I64) -> None:
    g = groups.shape[1]
    m.add(MOVE_REDUCE, *_grid(groups, segs, g - 1, 1))


def ring_all_gather(m: Moves, groups: I64, segs: I64) -> None:
    g = groups.shape[1]
    m.add(MOVE, *_grid(groups, segs, g - 1, 0))


def double_tree_all_reduce(m: Moves, group: I64, pieces: I64) -> None:
    """The double binary tree over ``group`` (a rail's ranks), half the pieces on each tree:
    children reduce into parents deepest first, then parents broadcast to children."""
    g = len(group)
    half = (len(pieces) + 1) // 2  # the Python builder's _segments(pieces, 2)
    for part, (root, mirror) in zip((pieces[:half], pieces[half:]), ((0, False), (g - 1, True)), strict=True):
        order = group[np.array(_tree_order(g, root, mirror))]
        v = np.arange(1, g)
        child, parent = order[v], order[(v - 1) // 2]
        shape = (g - 1, len(part))
        up_src, up_dst = child[::-1, None], parent[::-1, None]
        m.add(MOVE_REDUCE, *(np.broadcast_to(a, shape) for a in (up_src, up_dst, part[None, :])))
        m.add(MOVE, *(np.broadcast_to(a, shape) for a in (parent[:, None], child[:, None], part[None, :])))


def _even(pieces: I64, parts: int) -> I64 | None:
    """``pieces`` cut into ``parts`` equal consecutive runs (None if they do not divide)."""
    if len(pieces) % parts:
        return None
    return pieces.reshape(parts, -1)


def chain(m: Moves, kind: str, order: I64, pieces: I64) -> None:
    """A broadcast's pieces down ``order`` (from its first rank on), or a reduce's summed up
    it toward its first rank: piece by piece, hop by hop, as the Python builder's chain."""
    shape = (len(pieces), len(order) - 1)
    if kind == "broadcast":
        src, dst = order[None, :-1], order[None, 1:]
        m.add(MOVE, *(np.broadcast_to(a, shape) for a in (src, dst, pieces[:, None])))
    else:
        src, dst = order[None, :0:-1], order[None, -2::-1]
        m.add(MOVE_REDUCE, *(np.broadcast_to(a, shape) for a in (src, dst, pieces[:, None])))


def moves(
    kind: str, algorithm: str, ranks: int, pieces: int, local: int | None, root: int = 0
) -> Moves | None:
    """The movements of a ring reduce-scatter / all-gather / all-reduce, a ring (chain)
    broadcast or reduce, or a hierarchical all-reduce, or None where the pieces do not divide
    evenly (the Python path then)."""
    m = Moves()
    every = np.arange(pieces)
    if algorithm == "ring" and kind in CHAIN_KINDS:
        for order, ks in chain_channels(ranks, root, pieces, local):
            chain(m, kind, np.array(order), np.array(ks))
        return m
    if algorithm == "ring" and kind in RING_KINDS:
        if _even(every, ranks) is None:
            return None
        rings = [(np.array(o)[None, :], np.array(sg)) for o, sg in ring_channels(ranks, pieces, local)]
        ring_passes(
            kind,
            rings,
            lambda order, segs: ring_reduce_scatter(m, order, segs),
            lambda order, segs: ring_all_gather(m, order, segs),
        )
        return m
    if algorithm in ("hierarchical", "hierarchical_tree") and kind == "all_reduce" and local:
        nodes = ranks // local
        tree = algorithm == "hierarchical_tree"
        segs = _even(every, local)
        if segs is None or (segs.shape[1] % nodes and not tree):
            return None
        nodes_rows = np.arange(nodes)[:, None] * local + np.arange(local)[None, :]
        if local > 1:
            ring_reduce_scatter(m, nodes_rows, segs)
        for i in range(local):
            if tree:
                if nodes > 1:
                    double_tree_all_reduce(m, np.arange(nodes) * local + i, segs[i])
                continue
            sub = segs[i].reshape(nodes, -1)
            across = (np.arange(nodes) * local + i)[None, :]
            if nodes > 1:
                ring_reduce_scatter(m, across, sub)
                ring_all_gather(m, across, sub)
        if local > 1:
            ring_all_gather(m, nodes_rows, segs)
        return m
    return None


def all_to_all_direct(ranks: int, pieces: int, piece_bytes: I64) -> Schedule | None:
    """The direct all-to-all as columns: each rank copies the block it keeps, then at step
    ``s`` rank ``i`` sends its block for ``j = i + s`` (a send and its receive per piece); no
    operation waits for another but a receive for its send (None if the pieces do not divide
    among the ranks)."""
    if pieces % ranks:
        return None
    n, m, k = ranks, pieces // ranks, pieces
    i, t = np.divmod(np.arange(n * m), m)
    own = i * m + t
    s, i2, t2 = (a.ravel() for a in np.meshgrid(np.arange(1, n), np.arange(n), np.arange(m), indexing="ij"))
    j = (i2 + s) % n
    block = j * m + t2
    slot = k + i2 * m + t2
    copies, moves_ = n * m, len(s)
    op = np.concatenate([np.full(copies, 3), np.tile([0, 1], moves_)]).astype(np.uint8)

    def pairs(send: I64, recv: I64) -> I64:
        return np.stack([send, recv], axis=1).ravel()

    none = np.full(moves_, -1)
    return Schedule(
        kind="all_to_all",
        ranks=n,
        pieces=k,
        piece_bytes=piece_bytes,
        root=0,
        op=op,
        rank=np.concatenate([i, pairs(i2, j)]).astype(np.int32),
        peer=np.concatenate([np.full(copies, -1), pairs(j, i2)]).astype(np.int32),
        a=np.concatenate([own, pairs(block, slot)]).astype(np.int32),
        b=np.full(copies + 2 * moves_, -1, dtype=np.int32),
        out=np.concatenate([k + own, pairs(none, slot)]).astype(np.int32),
        tag=np.concatenate([np.zeros(copies, np.int64), pairs(block, block)]).astype(np.int64),
        bytes=np.concatenate([piece_bytes[own], pairs(piece_bytes[block], piece_bytes[block])]).astype(
            np.int64
        ),
        dep_ptr=np.zeros(copies + 2 * moves_ + 1, dtype=np.int64),
        deps=np.zeros(0, dtype=np.int32),
        algorithm="direct",
    )


def build(
    kind: str, algorithm: str, ranks: int, pieces: int, piece_bytes: I64, local: int | None, root: int = 0
) -> Schedule | None:
    """The schedule of :func:`moves`, planned in the engine, or the direct all-to-all's
    columns (None where neither applies)."""
    from fabricsim import _core
    from fabricsim.specs import le_bytes

    if kind == "all_to_all" and algorithm == "direct":
        return all_to_all_direct(ranks, pieces, piece_bytes)
    m = moves(kind, algorithm, ranks, pieces, local, root)
    if m is None or not m.parts:
        return None
    raw = _core.plan_schedule(
        [le_bytes(c) for c in m.columns()], le_bytes(piece_bytes), ranks, pieces * (1 + ranks)
    )

    def col(name: str, dtype: str) -> npt.NDArray[Any]:
        # (a writable bytearray: numpy wraps it without a copy on a little-endian machine)
        a = np.frombuffer(raw[name], dtype=dtype)
        return a if a.dtype.isnative else a.astype(dtype[1:])

    return Schedule(
        kind=kind,
        ranks=ranks,
        pieces=pieces,
        piece_bytes=piece_bytes,
        root=root,
        op=col("op", "<u1"),
        rank=col("rank", "<i4"),
        peer=col("peer", "<i4"),
        a=col("a", "<i4"),
        b=col("b", "<i4"),
        out=col("out", "<i4"),
        tag=col("tag", "<i8"),
        bytes=col("bytes", "<i8"),
        dep_ptr=col("dep_ptr", "<i8"),
        deps=col("deps", "<i4"),
        algorithm=algorithm,
    )


__all__ = [
    "Moves",
    "all_to_all_direct",
    "build",
    "double_tree_all_reduce",
    "moves",
    "ring_all_gather",
    "ring_reduce_scatter",
]
