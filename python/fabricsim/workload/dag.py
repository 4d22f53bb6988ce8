"""A schedule of many calls grown call by call and run whole on the fabric: timed operations
(kernels: copy operations of ``duration_ps`` bytes at 1 ps a byte), point-to-point sends and
receives, and collectives over groups of GPUs with a communication library's costs (the
launch latency on each call's first operations, the hop latency on each of its sends, the
launch latency on a point-to-point send). Traces run on it (trace.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.execution import Execution
from fabricsim.collectives.ops import COPY, RECV, SEND
from fabricsim.collectives.run import execute_schedule
from fabricsim.collectives.schedule import Schedule
from fabricsim.collectives.tuner import protocol_costs
from fabricsim.errors import SpecError
from fabricsim.run_contract import require_complete
from fabricsim.workload.comm import group_schedule

if TYPE_CHECKING:
    from fabricsim.collectives.library import Library
    from fabricsim.collectives.run import CollectiveResult
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions

I64 = npt.NDArray[np.int64]
P2P_TAG = 1 << 40
"""Point-to-point transfers' tags (collectives' tags stay far below)."""
MAX_OPS = 20_000_000
"""The most operations a schedule grown here may hold: each collective call is every step of
its algorithm, so a trace of tens of thousands of calls can hold millions (measured: 9.5
million, 25 s and 4.0 GB a run at flow fidelity, docs/training.md); past this it is refused
before memory runs out."""


class Dag:
    """A schedule of many calls (a training step, a trace), grown call by call: timed
    operations, point-to-point sends and receives, and collectives over groups of GPUs with
    ``library``'s costs."""

    def __init__(self, fabric: Fabric, library: Library) -> None:
        self.fabric, self.library = fabric, library
        self.cols: dict[str, list[npt.NDArray[np.int64]]] = {
            k: [] for k in ("op", "rank", "peer", "tag", "bytes", "delay")
        }
        # dependencies in compressed rows, chunk by chunk: per operation its count, and the
        # dependencies of the chunk's operations in order (no Python list per operation: a
        # step run whole holds millions)
        self.dep_counts: list[npt.NDArray[np.int64]] = []
        self.dep_flat: list[npt.NDArray[np.int64]] = []
        self.n = 0
        self.launch_ps = round(library.costs("simple").base_latency_us * 1e6)

    def op(
        self, kind: int, rank: int, peer: int, nbytes: int, after: list[int], tag: int = 0, delay: int = 0
    ) -> int:
        for key, v in (
            ("op", kind),
            ("rank", rank),
            ("peer", peer),
            ("tag", tag),
            ("bytes", nbytes),
            ("delay", delay),
        ):
            self.cols[key].append(np.array([v], dtype=np.int64))
        self._room(1)
        deps = np.array([d for d in after if d >= 0], dtype=np.int64)
        self.dep_counts.append(np.array([len(deps)], dtype=np.int64))
        self.dep_flat.append(deps)
        self.n += 1
        return self.n - 1

    def collective(self, kind: str, nbytes: int, groups: I64, after: dict[int, int]) -> dict[int, list[int]]:
        """Every row of ``groups`` runs ``kind`` of ``nbytes``; a rank's first operations wait
        for ``after[rank]``. Returns per rank its operations no other of the call waits for."""
        s: Schedule = group_schedule(self.fabric, self.library, kind, nbytes, groups)
        delay, _ = protocol_costs(s, self.fabric, self.library, "simple")
        base = self.n
        k = len(s.op)
        self._room(k)
        waited = np.zeros(k, dtype=bool)
        waited[s.deps] = True
        # an operation of the call with no dependency in it waits for after[its rank]
        own: I64 = np.diff(np.asarray(s.dep_ptr, dtype=np.int64)).astype(np.int64)
        first = np.full(self.fabric.num_ranks, -1, dtype=np.int64)
        if after:
            first[list(after)] = list(after.values())
        before = first[np.asarray(s.rank, dtype=np.int64)]
        added = (own == 0) & (before >= 0)
        counts = own + added
        ptr = np.concatenate(([0], np.cumsum(counts)))
        flat = np.empty(int(ptr[-1]), dtype=np.int64)
        rows = np.repeat(np.arange(k), own)
        flat[ptr[rows] + np.arange(len(rows)) - np.asarray(s.dep_ptr, dtype=np.int64)[rows]] = (
            np.asarray(s.deps, dtype=np.int64) + base
        )
        flat[ptr[:-1][added]] = before[added]
        self.dep_counts.append(counts)
        self.dep_flat.append(flat)
        for key, col in (
            ("op", s.op),
            ("rank", s.rank),
            ("peer", s.peer),
            ("tag", s.tag),
            ("bytes", s.bytes),
            ("delay", delay),
        ):
            self.cols[key].append(np.asarray(col, dtype=np.int64))
        self.n += len(s.op)
        ends: dict[int, list[int]] = {}
        for j in np.flatnonzero(~waited).tolist():
            ends.setdefault(int(s.rank[j]), []).append(base + int(j))
        return ends

    def _room(self, k: int) -> None:
        if self.n + k > MAX_OPS:
            raise SpecError(
                f"trace: its calls expand to more than {MAX_OPS:,} operations on the fabric (every "
                f"step of every collective); run fewer calls, fewer GPUs or larger chunks at a time",
                path="trace",
            )

    def build(self) -> tuple[Schedule, I64]:
        col = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in self.cols.items()}
        ptr = np.zeros(self.n + 1, dtype=np.int64)
        if self.dep_counts:
            ptr[1:] = np.cumsum(np.concatenate(self.dep_counts))
        deps = (np.concatenate(self.dep_flat) if self.dep_flat else np.zeros(0, dtype=np.int64)).astype(
            np.int32
        )
        ops = col["op"].astype(np.uint8)
        buf = np.where(ops == SEND, 0, np.where(ops == RECV, 1, 0)).astype(np.int32)
        schedule = Schedule(
            kind="all_reduce",
            ranks=self.fabric.num_ranks,
            pieces=1,
            piece_bytes=np.zeros(1, dtype=np.int64),
            root=0,
            op=ops,
            rank=col["rank"].astype(np.int32),
            peer=col["peer"].astype(np.int32),
            a=buf,
            b=np.full(self.n, -1, dtype=np.int32),
            out=np.where(ops == SEND, -1, 1).astype(np.int32),
            tag=col["tag"],
            bytes=col["bytes"],
            dep_ptr=ptr,
            deps=deps,
            algorithm="training_step",
        )
        return schedule, col["delay"]

    def run(self, options: RunOptions) -> CollectiveResult:
        """Executes the schedule on the fabric (operations of type copy: 1 ps a byte)."""
        schedule, delay = self.build()
        how = Execution(copy_ns_per_byte=0.001, verify=False, library=self.library)
        res = execute_schedule(self.fabric, schedule, None, options, how, delay_ps=delay)
        require_complete(res, options)
        return res


def join(ends: dict[int, list[int]], dag: Dag, ranks: list[int]) -> dict[int, int]:
    """One zero-time operation per rank after all of its ends (a single thing to wait for)."""
    return {r: dag.op(COPY, r, -1, 0, ends.get(r, [])) for r in ranks}


__all__ = ["P2P_TAG", "Dag", "join"]
