"""fabricsim: a cycle-level emulator of the interconnect and memory fabric of AI systems.

>>> import fabricsim as fs
>>> link = fs.LinkSpec.preset("pcie6_x16")
>>> fab = fs.Fabric(topology=fs.topology.point_to_point(), link=link)
>>> res = fab.run(fs.traffic.messages(src=[0, 0], dst=[1, 1], bytes=[4096, 1 << 20]))
>>> print(res.summary())  # doctest: +SKIP
"""

# (`testing` holds the invariant and DRAM timing checkers; its hypothesis strategies,
# fabricsim.testing.strategies, are imported only by who fuzzes)
from fabricsim import collectives, faults, memory, streams, testing, topology, traffic, workload
from fabricsim._core import __version__
from fabricsim.analysis import sweep
from fabricsim.analysis.sweep import sizes
from fabricsim.errors import (
    DeadlockError,
    FabricsimError,
    InternalError,
    InvariantError,
    NotKeptError,
    SimulationLimitError,
    SpecError,
    UnsafeSpecWarning,
)
from fabricsim.fabric import Fabric
from fabricsim.memory.fabric_result import MemoryFabricResult
from fabricsim.memory.stack import MemoryResult, run_memory
from fabricsim.result import Result, Window
from fabricsim.run_contract import RunResultBase, Workload
from fabricsim.run_options import Progress, RunOptions
from fabricsim.simulation import Simulation
from fabricsim.specs import ControllerSpec, EndpointSpec, HbmSpec, LinkSpec, ProtocolSpec, RouterSpec
from fabricsim.workload.gpu import GpuSpec

__all__ = [
    "ControllerSpec",
    "DeadlockError",
    "EndpointSpec",
    "Fabric",
    "FabricsimError",
    "GpuSpec",
    "HbmSpec",
    "InternalError",
    "InvariantError",
    "LinkSpec",
    "MemoryFabricResult",
    "MemoryResult",
    "NotKeptError",
    "Progress",
    "ProtocolSpec",
    "Result",
    "RouterSpec",
    "RunOptions",
    "RunResultBase",
    "Simulation",
    "SimulationLimitError",
    "SpecError",
    "UnsafeSpecWarning",
    "Window",
    "Workload",
    "__version__",
    "collectives",
    "faults",
    "memory",
    "run_memory",
    "sizes",
    "streams",
    "sweep",
    "testing",
    "topology",
    "traffic",
    "workload",
]
