"""Collective communication: operations (:func:`all_reduce`, :func:`all_to_all`, ...) built
as schedules (a DAG of send / receive / reduce / copy per rank, in numpy columns) by named
algorithms or user functions, and verified symbolically (:func:`verify`).

>>> import fabricsim as fs
>>> op = fs.collectives.all_reduce(bytes=256 << 20, algorithm="ring", chunks=8)
>>> schedule = fs.collectives.verify(op, ranks=8)   # raises VerificationError if wrong

Running schedules over a fabric (and its HBM) is the next stage of the engine.
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
from fabricsim.collectives.schedule import Schedule, ScheduleBuilder
from fabricsim.collectives.verify import VerificationError

__all__ = [
    "ALGORITHMS",
    "Collective",
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
