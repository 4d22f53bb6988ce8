"""The operations of a collective schedule and the collective kinds: constants every part of
the package shares (schedules, verification, execution)."""

from __future__ import annotations

SEND, RECV, REDUCE, COPY = 0, 1, 2, 3
OP_NAMES = ("send", "recv", "reduce", "copy")

KINDS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "reduce")

__all__ = ["COPY", "KINDS", "OP_NAMES", "RECV", "REDUCE", "SEND"]
