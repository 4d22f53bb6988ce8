"""Memory: one HBM stack at cycle level (:mod:`fabricsim.memory.stack`: :func:`run_memory`
and its :class:`MemoryResult`), and the memory fabric, where loads, stores and DMA reach the
memory behind other endpoints (:mod:`fabricsim.memory.load`: :func:`loads`, :func:`dma`, a
:class:`MemoryLoad` of requesters; :mod:`fabricsim.memory.fabric_result`: what such a run
returns).

Build a load with :func:`loads` (a load/store unit) or :func:`dma` (a DMA engine), add loads
with ``+``, and run it on a fabric that has memory (``Fabric(..., hbm=...)``):

>>> fab = fs.Fabric(topology=fs.topology.switch_star(8, memory_expanders=2),
...                 link=fs.LinkSpec.preset("cxl3_256b"), hbm=fs.HbmSpec.preset("hbm3"))
>>> res = fab.run(fs.traffic.loads(requester=0, target="expander:0", requests=10_000))
>>> res.requesters[0].bandwidth_gbyte_per_s, res.requesters[0].latency_ns.mean()  # doctest: +SKIP

See docs/memory_fabric.md for the model and docs/hbm.md for the stack.
"""

from __future__ import annotations

from fabricsim.memory.fabric_result import DeviceResult, MemoryFabricResult, RequesterResult
from fabricsim.memory.load import MemoryLoad, Requester, dma, loads
from fabricsim.memory.stack import COMMAND_DTYPE, COMMANDS, STACK_TOTALS, MemoryResult, run_memory

__all__ = [
    "COMMANDS",
    "COMMAND_DTYPE",
    "STACK_TOTALS",
    "DeviceResult",
    "MemoryFabricResult",
    "MemoryLoad",
    "MemoryResult",
    "Requester",
    "RequesterResult",
    "dma",
    "loads",
    "run_memory",
]
