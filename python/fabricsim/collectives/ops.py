"""The operations of a collective schedule and the collective kinds: constants every part of
the package shares (schedules, verification, execution)."""

from __future__ import annotations

SEND, RECV, REDUCE, COPY = 0, 1, 2, 3
OP_NAMES = ("send", "recv", "reduce", "copy")

KINDS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "reduce")

MAX_OPERATIONS = 20_000_000
"""The most operations a schedule may have (about 2 GB while it is built and verified; the
tuner's automatic chunks stay under it)."""

RING_KINDS = ("all_reduce", "reduce_scatter", "all_gather")
"""The kinds a ring runs as reduce-scatter and/or all-gather passes (:func:`fabricsim.collectives.algorithms.ring_collective`)."""

CHAIN_KINDS = ("broadcast", "reduce")
"""The kinds a ring runs as a chain from or to the root (:func:`fabricsim.collectives.algorithms.chain_collective`)."""

CHANNEL_KINDS = RING_KINDS + CHAIN_KINDS
"""The kinds whose ring runs one ring per channel across nodes, each leaving a node by another
rank's NIC."""


def spans_nodes(ranks: int, local: int | None) -> bool:
    """Whether ``ranks`` fill several nodes of ``local`` (> 1) ranks each."""
    return local is not None and 1 < local < ranks and ranks % local == 0


def runs_channels(kind: str, algorithm: str, ranks: int, local: int | None) -> bool:
    """Whether ``kind`` run by ``algorithm`` over ``ranks`` runs a ring per channel across
    nodes of ``local`` ranks (each leaving a node by another rank's NIC): a ring of a
    :data:`CHANNEL_KINDS` kind over several whole nodes."""
    return algorithm == "ring" and kind in CHANNEL_KINDS and spans_nodes(ranks, local)


__all__ = [
    "CHAIN_KINDS",
    "CHANNEL_KINDS",
    "COPY",
    "KINDS",
    "MAX_OPERATIONS",
    "OP_NAMES",
    "RECV",
    "REDUCE",
    "RING_KINDS",
    "SEND",
    "runs_channels",
    "spans_nodes",
]
