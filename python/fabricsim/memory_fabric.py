"""The memory fabric: loads, stores and DMA to memory behind other endpoints.

Build a load with :func:`loads` (a load/store unit) or :func:`dma` (a DMA engine), add loads
with ``+``, and run it on a fabric that has memory (``Fabric(..., hbm=...)``):

>>> fab = fs.Fabric(topology=fs.topology.switch_star(8, memory_expanders=2),
...                 link=fs.LinkSpec.preset("cxl3_256b"), hbm=fs.HbmSpec.preset("hbm3"))
>>> res = fab.run(fs.traffic.loads(requester=0, target="expander:0", requests=10_000))
>>> res.requesters[0].bandwidth_gbyte_per_s, res.requesters[0].latency_ns.mean()  # doctest: +SKIP

See docs/memory_fabric.md for the model.
"""

from __future__ import annotations

from fabricsim.memory_fabric_result import DeviceResult, MemoryFabricResult, RequesterResult
from fabricsim.memory_load import MemoryLoad, Requester, dma, loads

__all__ = [
    "DeviceResult",
    "MemoryFabricResult",
    "MemoryLoad",
    "Requester",
    "RequesterResult",
    "dma",
    "loads",
]
