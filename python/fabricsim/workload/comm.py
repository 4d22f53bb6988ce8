"""The fabric's answer for the collectives and point-to-point transfers of a training step.

A step calls a handful of distinct collectives thousands of times (every layer's
tensor-parallel all-gather, every gradient bucket's reduce-scatter). Each distinct
``(kind, communicator kind, bytes)`` is run once on the fabric, at the run's fidelity, with
**every communicator of that kind at once** (all tensor-parallel groups of the cluster, all
data-parallel groups): the run sees the contention between communicators of one kind (groups
that share spine links, a degraded link on one group's path) and gives each communicator its
own time. Calls reuse it. Contention between different kinds (a pipeline transfer during a
gradient reduction) is not seen: docs/training.md says so.

A communicator's schedule is the collective's named algorithm over its ranks (ring for
all-reduce, reduce-scatter and all-gather, direct for all-to-all), its ranks mapped to the
group's GPUs, pieces enough for the fabric's planes (the collectives tuner's
``auto_chunks``), with the communication library's costs (launch, per-hop and protocol
latencies, Simple protocol) as for any collective run."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.api import Collective, _make
from fabricsim.collectives.library import Library
from fabricsim.collectives.ops import MAX_OPERATIONS
from fabricsim.collectives.run import execute_schedule
from fabricsim.collectives.schedule import Schedule
from fabricsim.collectives.tuner import auto_chunks, node_of, planes_of
from fabricsim.errors import SpecError
from fabricsim.run_contract import require_complete
from fabricsim.traffic.messages import messages

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions

I64 = npt.NDArray[np.int64]
ALGORITHM = {"all_reduce": "ring", "reduce_scatter": "ring", "all_gather": "ring", "all_to_all": "direct"}


def tile(schedule: Schedule, groups: I64, ranks: int) -> Schedule:
    """``schedule`` (over ``groups.shape[1]`` ranks) run by every row of ``groups`` at once:
    rank ``r`` of row ``g`` is GPU ``groups[g, r]`` of a fabric of ``ranks`` ranks. The rows'
    operations are independent copies (a receive still matches its send: the ranks differ)."""
    count, n = groups.shape
    if schedule.ranks != n or schedule.helpers:
        raise SpecError(f"groups: the schedule has {schedule.ranks} ranks, the groups {n}", path="groups")
    ops = len(schedule.op)
    if count * ops > MAX_OPERATIONS:
        raise SpecError(
            f"groups: {count} communicators x {ops} operations exceed the {MAX_OPERATIONS} a schedule may hold",
            path="groups",
        )

    def mapped(col: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        safe = np.clip(col, 0, n - 1)
        out = groups[:, safe].astype(np.int32)
        return np.where(col[None, :] >= 0, out, col[None, :]).ravel()

    def repeat(col: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.tile(col, count)

    deps_len = len(schedule.deps)
    offsets = np.repeat(np.arange(count, dtype=np.int64) * ops, deps_len)
    deps = (np.tile(schedule.deps.astype(np.int64), count) + offsets).astype(np.int32)
    ptr = (schedule.dep_ptr[:-1][None, :] + (np.arange(count) * deps_len)[:, None]).ravel()
    dep_ptr = np.concatenate([ptr, [count * deps_len]]).astype(np.int64)
    return replace(
        schedule,
        ranks=ranks,
        op=repeat(schedule.op),
        rank=mapped(schedule.rank),
        peer=mapped(schedule.peer),
        a=repeat(schedule.a),
        b=repeat(schedule.b),
        out=repeat(schedule.out),
        tag=repeat(schedule.tag),
        bytes=repeat(schedule.bytes),
        dep_ptr=dep_ptr,
        deps=deps,
        execution=schedule.execution.replace(verify=False),
    )


def node_rings(fabric: Fabric, groups: I64) -> tuple[I64, int | None]:
    """``groups`` with each row's GPUs gathered node by node (in order within a node: a ring's
    order is the library's choice, and the step reads only each communicator's time), and the
    ranks every row has in each node it spans where that is one number (a ring over them then
    runs one channel per NIC, :func:`fabricsim.collectives.algorithms.ring_channels`), else None."""
    node = node_of(fabric)
    if node is None:
        return groups, None
    nodes = node[groups]
    order = np.argsort(nodes, axis=1, kind="stable")
    rows = np.take_along_axis(groups, order, axis=1)
    nodes = np.take_along_axis(nodes, order, axis=1)
    local = int(np.count_nonzero(nodes[0] == nodes[0, 0]))
    if local < 2 or groups.shape[1] % local:
        return rows, None
    blocks = nodes.reshape(nodes.shape[0], -1, local)
    return rows, (local if bool((blocks == blocks[:, :, :1]).all()) else None)


def group_schedule(fabric: Fabric, library: Library, kind: str, nbytes: int, groups: I64) -> Schedule:
    """The schedule of every row of ``groups`` running ``kind`` of ``nbytes`` at once, each
    row's ring laid node by node (:func:`node_rings`): the reduced step's and the step run
    whole's calls alike."""
    count, n = groups.shape
    rows, local = node_rings(fabric, groups)
    op = group_collective(fabric, library, kind, nbytes, n, count, local)
    return tile(op.schedule(n), rows, fabric.num_ranks)


def group_collective(
    fabric: Fabric, library: Library, kind: str, nbytes: int, n: int, count: int, local: int | None = None
) -> Collective:
    """The collective each of ``count`` communicators of ``n`` ranks runs: its named algorithm
    (a ring over nodes of ``local`` ranks: a channel leaving each node by each NIC), pieces for
    every plane of ``fabric`` but no more than ``count`` schedules may hold, the Simple protocol
    with ``library``'s costs, not verified again (the algorithm's schedule is)."""
    algorithm = ALGORITHM[kind]
    op = replace(_make(kind, nbytes, algorithm, None, protocol="simple"), local=local)
    per_chunk = replace(op, chunks=1).operations_estimate(n) * count
    chunks = max(1, min(auto_chunks(op, n, planes_of(fabric), algorithm), MAX_OPERATIONS // per_chunk))
    return replace(op, chunks=chunks).with_execution(library=library, verify=False)


class CommModel:
    """Runs each distinct collective of a step once on ``fabric`` (see the module's text) and
    remembers per communicator its time (ns). ``runs`` counts fabric runs made."""

    def __init__(self, fabric: Fabric, options: RunOptions, library: Library) -> None:
        self.fabric = fabric
        self.options = options
        self.library = library
        self.runs = 0
        self._cache: dict[tuple[Any, ...], npt.NDArray[np.float64]] = {}
        self.results: dict[tuple[str, str, int], npt.NDArray[np.float64]] = {}
        """Per distinct call ``(kind, communicator kind, bytes)``: each communicator's time (ns)."""
        self.link_busy: dict[tuple[str, str, int], npt.NDArray[np.float64]] = {}
        """Per distinct call: each link direction's utilization over its run."""
        self.link_ends: tuple[I64, I64] | None = None
        """(src, dst) of every link direction (nodes as in a result's ``links``)."""

    def collective_ns(self, kind: str, group_kind: str, nbytes: int, groups: I64) -> npt.NDArray[np.float64]:
        """Per communicator (row of ``groups``), its time for one ``kind`` of ``nbytes``,
        every communicator running at once."""
        count, n = groups.shape
        if n == 1 or nbytes == 0:
            return np.zeros(count)
        # (the shape too: rows of 2 and rows of 4 over the same GPUs in order flatten alike)
        key = (kind, nbytes, groups.shape, groups.tobytes())
        if key in self._cache:
            return self._cache[key]
        schedule = group_schedule(self.fabric, self.library, kind, nbytes, groups)
        # per-rank finish and link utilization are all a step reads of a call
        quiet = self.options.replace(keep_messages=False)
        res = execute_schedule(self.fabric, schedule, None, quiet, schedule.execution)
        require_complete(res, self.options)
        self.runs += 1
        finish = res.rank_finish_us * 1000
        times: npt.NDArray[np.float64] = finish[groups].max(axis=1)
        self._cache[key] = times
        self.results[(kind, group_kind, nbytes)] = times
        self.link_busy[(kind, group_kind, nbytes)] = np.asarray(res.link_utilization, dtype=np.float64)
        if self.link_ends is None:
            links = res.run.links
            self.link_ends = (links["src"].astype(np.int64), links["dst"].astype(np.int64))
        return times

    def p2p_ns(self, src: I64, dst: I64, nbytes: int, way: int | None = None) -> npt.NDArray[np.float64]:
        """Per pair, the time of ``nbytes`` from ``src[i]`` to ``dst[i]``, all pairs sent at
        once in both directions (1F1B sends activations forward while gradients go back),
        plus the library's launch latency: the slower direction's, or with ``way`` 0 the one
        from ``src`` to ``dst``, 1 the one back."""
        if len(src) == 0 or nbytes == 0:
            return np.zeros(len(src))
        key = ("p2p", nbytes, np.concatenate([src, dst]).tobytes())
        if key not in self._cache:
            both_src = np.concatenate([src, dst])
            both_dst = np.concatenate([dst, src])
            traffic = messages(both_src, both_dst, nbytes)
            res = traffic.run_on(self.fabric, self.options.replace(keep_messages=True))
            require_complete(res, self.options)
            self.runs += 1
            lat: npt.NDArray[np.float64] = np.asarray(res.messages["latency_ps"], dtype=np.float64) / 1000
            launch = self.library.costs("simple").base_latency_us * 1000
            self._cache[key] = lat.reshape(2, len(src)) + launch
            self.results[("send_recv", "pp", nbytes)] = self._cache[key].max(axis=0)
        times = self._cache[key]  # [direction, pair]
        out: npt.NDArray[np.float64] = times.max(axis=0) if way is None else times[way]
        return out


__all__ = ["ALGORITHM", "CommModel", "group_collective", "tile"]
