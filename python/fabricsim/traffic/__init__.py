"""Traffic: what the endpoints send, in three kinds of workload.

- messages given row by row (:mod:`fabricsim.traffic.messages`: :func:`messages`,
  :func:`stream`, :func:`concat`);
- synthetic loads (:mod:`fabricsim.traffic.synthetic`: :func:`synthetic`, its patterns and
  injection processes);
- memory traffic: requests on one HBM stack (:mod:`fabricsim.traffic.stack_requests`:
  :func:`memory`, :func:`memory_requests`, :func:`memory_trace`) and loads over a memory fabric
  (:func:`loads`, :func:`dma`, defined with their results in :mod:`fabricsim.memory.load`).

``fs.traffic.loads`` and ``dma`` are imported when first used: the memory package imports
this one (its results hold messages), so importing it back here would be a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fabricsim.traffic.messages import MAX_AT_NS, MAX_MESSAGE_BYTES, MessageTraffic, concat, messages, stream
from fabricsim.traffic.stack_requests import MemoryTraffic, memory, memory_requests, memory_trace
from fabricsim.traffic.synthetic import (
    DEFAULT_WINDOW_CYCLES,
    PATTERNS,
    Injection,
    PacketFlits,
    SyntheticLoad,
    destinations,
    synthetic,
)

if TYPE_CHECKING:
    from fabricsim.memory.load import MemoryLoad, dma, loads

_MEMORY_LOADS = ("MemoryLoad", "dma", "loads")


def __getattr__(name: str) -> Any:
    if name in _MEMORY_LOADS:
        from fabricsim.memory import load

        return getattr(load, name)
    raise AttributeError(f"module 'fabricsim.traffic' has no attribute {name!r}")


__all__ = [
    "DEFAULT_WINDOW_CYCLES",
    "MAX_AT_NS",
    "MAX_MESSAGE_BYTES",
    "PATTERNS",
    "Injection",
    "MemoryLoad",
    "MemoryTraffic",
    "MessageTraffic",
    "PacketFlits",
    "SyntheticLoad",
    "concat",
    "destinations",
    "dma",
    "loads",
    "memory",
    "memory_requests",
    "memory_trace",
    "messages",
    "stream",
    "synthetic",
]
