"""Collective communication: operations (:func:`all_reduce`, :func:`all_to_all`, ...) built
as schedules (a DAG of send / receive / reduce / copy per rank, in numpy columns) by named
algorithms or user functions, and verified symbolically (:func:`verify`).

>>> import fabricsim as fs
>>> op = fs.collectives.all_reduce(bytes=256 << 20, algorithm="ring", chunks=8)
>>> schedule = fs.collectives.verify(op, ranks=8)   # raises VerificationError if wrong

>>> fab = fs.Fabric(topology=fs.topology.switch_star(8), link=fs.LinkSpec.preset("nvlink4"))
>>> res = fab.run(op)          # the schedule over the fabric: res.time_us, res.busbw_gbyte_per_s
>>> fab.run(op.with_execution(reduce_ns_per_byte=0.001))   # how it executes is the op's
"""

from fabricsim.collectives.algorithms import Planner
from fabricsim.collectives.api import (
    ALGORITHMS,
    Collective,
    all_gather,
    all_reduce,
    all_to_all,
    broadcast,
    reduce,
    reduce_scatter,
    verify,
)
from fabricsim.collectives.execution import Execution
from fabricsim.collectives.run import CollectiveResult
from fabricsim.collectives.schedule import Schedule, ScheduleBuilder
from fabricsim.collectives.verify import VerificationError

__all__ = [
    "ALGORITHMS",
    "Collective",
    "CollectiveResult",
    "Execution",
    "Planner",
    "Schedule",
    "ScheduleBuilder",
    "VerificationError",
    "all_gather",
    "all_reduce",
    "all_to_all",
    "broadcast",
    "reduce",
    "reduce_scatter",
    "verify",
]
