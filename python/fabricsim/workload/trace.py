"""Traces in: a DAG of compute and communication operations a user brings (from a profiler,
another simulator's generator, or by hand), run on the fabric like any workload.

The file is JSON::

    {
      "name": "my step",                          (optional)
      "ops": [
        {"id": 0, "kind": "compute", "gpu": 0, "duration_us": 120.0},
        {"id": 1, "kind": "all_reduce", "gpus": [0, 1, 2, 3], "bytes": 16777216, "after": [0]},
        {"id": 2, "kind": "send", "gpu": 0, "peer": 4, "bytes": 65536, "after": [1]},
        {"id": 3, "kind": "recv", "gpu": 4, "peer": 0, "bytes": 65536},
        {"id": 4, "kind": "compute", "gpu": 4, "duration_us": 80.0, "after": [3], "name": "layer 0"}
      ]
    }

- ``id``: any integer, unique; ``after``: the ids this operation waits for (default none);
  ``name``: a label for the timeline (optional).
- ``compute``: ``gpu`` busy for ``duration_us`` (the trace's own kernel time). Operations on one
  GPU run at once unless ``after`` orders them (Chakra's execution-trace semantics).
- ``send`` / ``recv``: ``bytes`` from ``gpu`` to ``peer``; the k-th send from a GPU to a peer
  matches the k-th receive of that peer from it, in the file's order, with equal ``bytes``.
  A send does not wait for its receive; a receive ends when the data has arrived.
- ``all_reduce``, ``reduce_scatter``, ``all_gather``, ``all_to_all``: over ``gpus`` (at least
  two, distinct), ``bytes`` as nccl-tests counts them; each member starts once the ``after``
  operations are done; the operation ends when every member's part has.

The run puts the whole DAG on the fabric as one schedule (every call meets the traffic on
the fabric when it runs), with the communication library's costs (launch and hop latencies);
``fab.run(fs.workload.Trace.from_json("step.json"), fidelity="flow")``."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.library import Library
from fabricsim.collectives.ops import COPY, RECV, SEND
from fabricsim.errors import SpecError
from fabricsim.run_contract import RunResultBase, Workload
from fabricsim.timeline import Events, Track, link_counters
from fabricsim.workload.dag import P2P_TAG, Dag, join

if TYPE_CHECKING:
    from fabricsim.collectives.run import CollectiveResult
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions

COLLECTIVES = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all")
KINDS = ("compute", "send", "recv", *COLLECTIVES)
MAX_OPS = 5_000_000


@dataclass(frozen=True)
class TraceOp:
    """One operation of a trace (see the module's text for the fields)."""

    id: int
    kind: str
    gpu: int = -1
    gpus: tuple[int, ...] = ()
    peer: int = -1
    bytes: int = 0
    duration_us: float = 0.0
    after: tuple[int, ...] = ()
    name: str = ""


class Trace(Workload):
    """A DAG of compute and communication operations (:class:`TraceOp`), checked when built:
    errors name the operation (``trace.ops[3].peer``), the value and what is allowed."""

    def __init__(
        self, ops: list[dict[str, Any]] | list[TraceOp], name: str = "", library: str | Library = "nccl"
    ) -> None:
        if not isinstance(ops, list) or not ops:
            raise SpecError("trace.ops: must be a non-empty list of operations", path="trace.ops")
        if len(ops) > MAX_OPS:
            raise SpecError(f"trace.ops: at most {MAX_OPS} operations, got {len(ops)}", path="trace.ops")
        self.ops = [op if isinstance(op, TraceOp) else _op(i, op) for i, op in enumerate(ops)]
        self.name = str(name)
        self.library = Library.preset(library) if isinstance(library, str) else library
        self._index: dict[int, int] = {}
        for i, op in enumerate(self.ops):
            if op.id in self._index:
                raise SpecError(
                    f"trace.ops[{i}].id: {op.id} is already the id of ops[{self._index[op.id]}]",
                    path=f"trace.ops[{i}].id",
                )
            self._index[op.id] = i
        for i, op in enumerate(self.ops):
            for d in op.after:
                if d not in self._index:
                    raise SpecError(
                        f"trace.ops[{i}].after: no operation has id {d}", path=f"trace.ops[{i}].after"
                    )
        self._order = self._topological()
        self._tags = self._match()

    @classmethod
    def from_json(cls, path: str | PathLike[str]) -> Trace:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise SpecError(f"trace: cannot read {p}: {e.strerror}", path="trace") from None
        except json.JSONDecodeError as e:
            raise SpecError(f"trace: {p} is not JSON (line {e.lineno}: {e.msg})", path="trace") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if not isinstance(data, dict) or "ops" not in data:
            raise SpecError('trace: must be an object with "ops" (a list of operations)', path="trace")
        return cls(data["ops"], name=str(data.get("name", "")))

    def to_dict(self) -> dict[str, Any]:
        out = []
        for op in self.ops:
            d: dict[str, Any] = {"id": op.id, "kind": op.kind}
            if op.kind == "compute":
                d.update(gpu=op.gpu, duration_us=op.duration_us)
            elif op.kind in ("send", "recv"):
                d.update(gpu=op.gpu, peer=op.peer, bytes=op.bytes)
            else:
                d.update(gpus=list(op.gpus), bytes=op.bytes)
            if op.after:
                d["after"] = list(op.after)
            if op.name:
                d["name"] = op.name
            out.append(d)
        return {"name": self.name, "ops": out}

    def to_json(self, path: str | PathLike[str]) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return p

    def __len__(self) -> int:
        return len(self.ops)

    def _topological(self) -> list[int]:
        n = len(self.ops)
        waiting = [len(op.after) for op in self.ops]
        users: list[list[int]] = [[] for _ in range(n)]
        for i, op in enumerate(self.ops):
            for d in op.after:
                users[self._index[d]].append(i)
        ready = deque(i for i in range(n) if waiting[i] == 0)
        order = []
        while ready:
            i = ready.popleft()
            order.append(i)
            for u in users[i]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    ready.append(u)
        if len(order) < n:
            stuck = next(i for i in range(n) if waiting[i] > 0)
            raise SpecError(
                f"trace.ops[{stuck}].after: the operations wait for each other in a cycle (through id {self.ops[stuck].id})",
                path=f"trace.ops[{stuck}].after",
            )
        return order

    def _match(self) -> dict[int, int]:
        """Per send and receive, its tag: the k-th of its (sender, receiver) pair."""
        sends: dict[tuple[int, int], list[int]] = {}
        recvs: dict[tuple[int, int], list[int]] = {}
        for i, op in enumerate(self.ops):
            if op.kind == "send":
                sends.setdefault((op.gpu, op.peer), []).append(i)
            elif op.kind == "recv":
                recvs.setdefault((op.peer, op.gpu), []).append(i)
        tags: dict[int, int] = {}
        for pair in sorted(set(sends) | set(recvs)):
            a, b = sends.get(pair, []), recvs.get(pair, [])
            if len(a) != len(b):
                extra = a[len(b)] if len(a) > len(b) else b[len(a)]
                what = "receive" if len(a) > len(b) else "send"
                raise SpecError(
                    f"trace.ops[{extra}]: no matching {what} (GPU {pair[0]} to GPU {pair[1]}: {len(a)} sends, {len(b)} receives)",
                    path=f"trace.ops[{extra}]",
                )
            for k, (s, r) in enumerate(zip(a, b, strict=True)):
                if self.ops[s].bytes != self.ops[r].bytes:
                    raise SpecError(
                        f"trace.ops[{r}].bytes: receives {self.ops[r].bytes} B, its send ops[{s}] sends {self.ops[s].bytes} B",
                        path=f"trace.ops[{r}].bytes",
                    )
                tags[s] = tags[r] = P2P_TAG + k
        return tags

    def run_on(self, fabric: Fabric, options: RunOptions) -> TraceResult:
        n = fabric.num_ranks
        for i, op in enumerate(self.ops):
            for g in (op.gpu, op.peer, *op.gpus):
                if g >= n:
                    raise SpecError(
                        f"trace.ops[{i}]: GPU {g} is not on the fabric ({n} GPUs: 0..{n - 1})",
                        path=f"trace.ops[{i}]",
                    )
        dag = Dag(fabric, self.library)
        end: dict[int, int] = {}  # op index -> the DAG operation marking its end
        span: list[tuple[int, int]] = [(0, 0)] * len(self.ops)
        for i in self._order:
            op = self.ops[i]
            deps = [end[self._index[d]] for d in op.after]
            lo = dag.n
            if op.kind == "compute":
                end[i] = dag.op(COPY, op.gpu, -1, round(op.duration_us * 1e6), deps)
            elif op.kind == "send":
                end[i] = dag.op(SEND, op.gpu, op.peer, op.bytes, deps, tag=self._tags[i], delay=dag.launch_ps)
            elif op.kind == "recv":
                end[i] = dag.op(RECV, op.gpu, op.peer, op.bytes, deps, tag=self._tags[i])
            else:
                members = list(op.gpus)
                start = {g: dag.op(COPY, g, -1, 0, deps) for g in members}
                ends = dag.collective(op.kind, op.bytes, np.asarray([members], dtype=np.int64), start)
                joined = join(ends, dag, members)
                end[i] = dag.op(COPY, members[0], -1, 0, list(joined.values()))
            span[i] = (lo, dag.n)
        res = dag.run(options)
        return TraceResult(self, res, span, end)


class TraceResult(RunResultBase):
    """A trace run: ``time_us`` (from the start to the last operation's end), per operation its
    start and finish (``tables()["ops"]``), per GPU its busy compute time, and the network's
    result (``run``: links, messages). ``to_perfetto``: per GPU, its operations as spans; per
    link, its utilization."""

    def __init__(
        self, trace: Trace, res: CollectiveResult, span: list[tuple[int, int]], end: dict[int, int]
    ) -> None:
        self.trace = trace
        self.run = res.run
        self.complete = res.complete
        start = res.op_start_ns
        finish = res.op_finish_ns
        k = len(trace.ops)
        self.op_start_us: npt.NDArray[np.float64] = np.array(
            [float(start[lo:hi].min()) / 1e3 if hi > lo else 0.0 for lo, hi in span]
        )
        self.op_finish_us: npt.NDArray[np.float64] = np.array([float(finish[end[i]]) / 1e3 for i in range(k)])
        self.time_us = float(self.op_finish_us.max(initial=0.0))
        gpus = np.array([op.gpu for op in trace.ops])
        compute = np.array([op.kind == "compute" for op in trace.ops])
        self.gpu_compute_us: npt.NDArray[np.float64] = np.bincount(
            gpus[compute],
            weights=(self.op_finish_us - self.op_start_us)[compute],
            minlength=self.run.num_endpoints,
        ).astype(np.float64)
        """Per GPU: the time its compute operations took (us; overlapping ones each count)."""

    @property
    def simulated_time_ps(self) -> int:
        return round(self.time_us * 1e6)

    def summary(self) -> str:
        t = self.trace
        kinds = {k: sum(op.kind == k for op in t.ops) for k in KINDS}
        counted = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
        return f"trace {t.name or ''}: {len(t.ops)} operations ({counted}), {self.time_us:,.1f} us"

    def __repr__(self) -> str:
        return f"<TraceResult {self.time_us:.1f} us, {len(self.trace.ops)} operations>"

    def _headline(self) -> dict[str, Any]:
        return {"trace": self.trace.name, "operations": len(self.trace.ops), "time_us": self.time_us}

    def tables(self) -> dict[str, npt.NDArray[Any]]:
        """``ops`` (one row an operation of the trace, in its order), then the network's."""
        t = self.trace.ops
        ops = np.zeros(
            len(t),
            dtype=[
                ("id", np.int64),
                ("kind", "U14"),
                ("gpu", np.int32),
                ("bytes", np.int64),
                ("start_us", np.float64),
                ("finish_us", np.float64),
                ("name", "U40"),
            ],
        )
        ops["id"] = [op.id for op in t]
        ops["kind"] = [op.kind for op in t]
        ops["gpu"] = [op.gpu for op in t]
        ops["bytes"] = [op.bytes for op in t]
        ops["start_us"], ops["finish_us"] = self.op_start_us, self.op_finish_us
        ops["name"] = [op.name[:40] for op in t]
        return {"ops": ops, **self.run.tables()}

    def _timeline(self) -> list[Events]:
        t = self.trace.ops
        n = self.run.num_endpoints
        tracks = [Track("GPUs", f"GPU {g}") for g in range(n)]
        track_of, start, dur, labels = [], [], [], []
        for i, op in enumerate(t):
            for g in op.gpus if op.gpus else (op.gpu,):
                track_of.append(g)
                start.append(self.op_start_us[i] * 1e6)
                dur.append((self.op_finish_us[i] - self.op_start_us[i]) * 1e6)
                labels.append(op.name or (op.kind if op.kind == "compute" else f"{op.kind} {op.bytes} B"))
        spans = Events(
            name="operation",
            tracks=tracks,
            track_of=np.asarray(track_of, dtype=np.int64),
            start_ps=np.asarray(start, dtype=np.float64),
            dur_ps=np.asarray(dur, dtype=np.float64),
            labels=labels,
        )
        return [spans, link_counters(self.run.links, float(self.run.end_ps), self.run.num_endpoints)]


def _field(i: int, d: dict[str, Any], key: str, low: float, high: float, integer: bool = True) -> Any:
    v: Any = d.get(key)
    ok = not isinstance(v, bool) and isinstance(v, (int, float) if not integer else int)
    if ok and not integer:
        ok = math.isfinite(float(v))
    if not ok or not low <= v <= high:
        what = "an integer" if integer else "a number"
        raise SpecError(
            f"trace.ops[{i}].{key}: must be {what} in {low:g}..={high:g}, got {v!r}",
            path=f"trace.ops[{i}].{key}",
        )
    return v


def _op(i: int, d: Any) -> TraceOp:
    if not isinstance(d, dict):
        raise SpecError(f"trace.ops[{i}]: must be an object, got {d!r}", path=f"trace.ops[{i}]")
    unknown = sorted(set(d) - {"id", "kind", "gpu", "gpus", "peer", "bytes", "duration_us", "after", "name"})
    if unknown:
        raise SpecError(f"trace.ops[{i}]: unknown field(s) {unknown}", path=f"trace.ops[{i}]")
    kind = d.get("kind")
    if kind not in KINDS:
        raise SpecError(
            f"trace.ops[{i}].kind: must be one of {', '.join(KINDS)}, got {kind!r}",
            path=f"trace.ops[{i}].kind",
        )
    op_id = _field(i, d, "id", -(1 << 62), 1 << 62)
    after = d.get("after", [])
    if not isinstance(after, list) or any(isinstance(a, bool) or not isinstance(a, int) for a in after):
        raise SpecError(
            f"trace.ops[{i}].after: must be a list of ids, got {after!r}", path=f"trace.ops[{i}].after"
        )
    name = d.get("name", "")
    if not isinstance(name, str):
        raise SpecError(f"trace.ops[{i}].name: must be a string, got {name!r}", path=f"trace.ops[{i}].name")
    common = {"id": op_id, "kind": kind, "after": tuple(after), "name": name}
    if kind == "compute":
        return TraceOp(
            gpu=_field(i, d, "gpu", 0, 1 << 20),
            duration_us=float(_field(i, d, "duration_us", 0, 1e12, False)),
            **common,
        )
    nbytes = _field(i, d, "bytes", 0, 1 << 50)
    if kind in ("send", "recv"):
        gpu, peer = _field(i, d, "gpu", 0, 1 << 20), _field(i, d, "peer", 0, 1 << 20)
        if gpu == peer:
            raise SpecError(f"trace.ops[{i}].peer: must differ from gpu ({gpu})", path=f"trace.ops[{i}].peer")
        return TraceOp(gpu=gpu, peer=peer, bytes=nbytes, **common)
    gpus = d.get("gpus")
    if (
        not isinstance(gpus, list)
        or len(gpus) < 2
        or any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in gpus)
        or len(set(gpus)) != len(gpus)
    ):
        raise SpecError(
            f"trace.ops[{i}].gpus: must list two or more distinct GPU indices, got {gpus!r}",
            path=f"trace.ops[{i}].gpus",
        )
    return TraceOp(gpus=tuple(gpus), bytes=nbytes, **common)


__all__ = ["KINDS", "Trace", "TraceOp", "TraceResult"]
