"""The operations of a collective schedule and the collective kinds: constants every part of
the package shares (schedules, verification, execution)."""

from __future__ import annotations

SEND, RECV, REDUCE, COPY = 0, 1, 2, 3
OP_NAMES = ("send", "recv", "reduce", "copy")

KINDS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "reduce")

MAX_OPERATIONS = 20_000_000
"""The most operations a schedule may have (about 2 GB while it is built and verified; the
tuner's automatic chunks stay under it)."""

__all__ = ["COPY", "KINDS", "MAX_OPERATIONS", "OP_NAMES", "RECV", "REDUCE", "SEND"]
