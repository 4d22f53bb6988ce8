"""Collective schedules: a DAG of operations per rank, held as numpy columns.

An operation is one of

- ``send(rank, peer, buf)``: send buffer ``buf`` of ``rank`` to ``peer``;
- ``recv(rank, peer, buf)``: receive from ``peer`` into buffer ``buf`` (sends and receives of
  one ``(sender, receiver, tag)`` pair match in the order they were added);
- ``reduce(rank, a, b, out)``: ``out = a + b`` (reads two buffers, writes one);
- ``copy(rank, a, out)``: ``out = a``;

each with a byte count and the operations it must wait for (``after``). A receive also waits
for its matching send. Buffers are small integers per rank: the collective's layout says which
hold the data (see :mod:`fabricsim.collectives.verify`); any other index is scratch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.execution import Execution
from fabricsim.collectives.ops import COPY, KINDS, OP_NAMES, RECV, REDUCE, SEND
from fabricsim.collectives.run import CollectiveResult, execute_schedule
from fabricsim.run_contract import Workload

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions


@dataclass(frozen=True)
class Schedule(Workload):
    """A finished schedule: one row per operation (numpy columns) and the dependency lists in
    CSR form (``deps[dep_ptr[i]:dep_ptr[i + 1]]`` are the operations ``i`` waits for)."""

    kind: str
    ranks: int
    pieces: int
    """The data is cut into this many pieces; buffers of the layout hold one piece each."""
    piece_bytes: npt.NDArray[np.int64]
    root: int
    op: npt.NDArray[np.uint8]
    rank: npt.NDArray[np.int32]
    peer: npt.NDArray[np.int32]
    a: npt.NDArray[np.int32]
    """The buffer read (send, reduce, copy) or written (recv)."""
    b: npt.NDArray[np.int32]
    """The second buffer a reduce reads (-1 otherwise)."""
    out: npt.NDArray[np.int32]
    """The buffer written (reduce, copy; recv: same as ``a``; -1 for send)."""
    tag: npt.NDArray[np.int64]
    bytes: npt.NDArray[np.int64]
    dep_ptr: npt.NDArray[np.int64]
    deps: npt.NDArray[np.int32]
    algorithm: str = ""
    helpers: int = 0
    """Ranks ``ranks .. ranks + helpers - 1`` are helpers, not participants: switch reduction
    units (the ``nvls`` all-reduce). They hold nothing at the start and need nothing at the
    end; the collective's contributions are the ``ranks`` participants'."""
    execution: Execution = field(default_factory=Execution)
    """How it executes on a fabric (:class:`~fabricsim.collectives.execution.Execution`)."""

    def with_execution(self, **settings: Any) -> Schedule:
        """This schedule with execution settings changed (``memory=True``, ...)."""
        return replace(self, execution=self.execution.replace(**settings))

    def run_on(self, fabric: Fabric, options: RunOptions) -> CollectiveResult:
        return execute_schedule(fabric, self, None, options)

    def __len__(self) -> int:
        return len(self.op)

    def count(self, name: str) -> int:
        """Operations of one kind (``"send"``, ``"recv"``, ``"reduce"``, ``"copy"``)."""
        return int((self.op == OP_NAMES.index(name)).sum())

    def bytes_sent(self) -> int:
        return int(self.bytes[self.op == SEND].sum())

    def describe(self, i: int) -> str:
        """One operation in words, for error messages."""
        name = OP_NAMES[int(self.op[i])]
        r, p = int(self.rank[i]), int(self.peer[i])
        if name == "send":
            what = f"rank {r} sends buffer {int(self.a[i])} to rank {p}"
        elif name == "recv":
            what = f"rank {r} receives from rank {p} into buffer {int(self.a[i])}"
        elif name == "reduce":
            what = f"rank {r} reduces buffers {int(self.a[i])} + {int(self.b[i])} into {int(self.out[i])}"
        else:
            what = f"rank {r} copies buffer {int(self.a[i])} to {int(self.out[i])}"
        return f"op {i} ({what}, tag {int(self.tag[i])}, {int(self.bytes[i])} B)"


@dataclass
class ScheduleBuilder:
    """Builds a :class:`Schedule` operation by operation; each method returns the new
    operation's index, to pass in later ``after`` lists."""

    kind: str
    ranks: int
    pieces: int
    total_bytes: int
    root: int = 0
    algorithm: str = ""
    helpers: int = 0
    _cols: dict[str, list[int]] = field(
        default_factory=lambda: {k: [] for k in ("op", "rank", "peer", "a", "b", "out", "tag", "bytes")}
    )
    _deps: list[Sequence[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.ranks < 1 or self.pieces < 1:
            raise ValueError(f"ranks and pieces must be >= 1, got {self.ranks} and {self.pieces}")

    def piece_bytes(self, k: int) -> int:
        """Bytes of piece ``k``: the data split as evenly as bytes allow (earlier pieces get
        the remainder)."""
        base, extra = divmod(self.total_bytes, self.pieces)
        return base + (1 if k < extra else 0)

    def _add(
        self,
        op: int,
        rank: int,
        peer: int,
        a: int,
        b: int,
        out: int,
        tag: int,
        nbytes: int,
        after: Iterable[int],
    ) -> int:
        c = self._cols
        for key, v in (
            ("op", op),
            ("rank", rank),
            ("peer", peer),
            ("a", a),
            ("b", b),
            ("out", out),
            ("tag", tag),
            ("bytes", nbytes),
        ):
            c[key].append(v)
        deps = [int(d) for d in after if d is not None and d >= 0]
        self._deps.append(deps)
        return len(c["op"]) - 1

    def send(
        self, rank: int, peer: int, buf: int, nbytes: int, *, tag: int = 0, after: Iterable[int] = ()
    ) -> int:
        return self._add(SEND, rank, peer, buf, -1, -1, tag, nbytes, after)

    def recv(
        self, rank: int, peer: int, buf: int, nbytes: int, *, tag: int = 0, after: Iterable[int] = ()
    ) -> int:
        return self._add(RECV, rank, peer, buf, -1, buf, tag, nbytes, after)

    def reduce(self, rank: int, a: int, b: int, out: int, nbytes: int, *, after: Iterable[int] = ()) -> int:
        return self._add(REDUCE, rank, -1, a, b, out, 0, nbytes, after)

    def copy(self, rank: int, a: int, out: int, nbytes: int, *, after: Iterable[int] = ()) -> int:
        return self._add(COPY, rank, -1, a, -1, out, 0, nbytes, after)

    def build(self) -> Schedule:
        c = self._cols
        ptr = np.zeros(len(self._deps) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(d) for d in self._deps])
        flat = [d for ds in self._deps for d in ds]

        def col(key: str, dtype: Any) -> npt.NDArray[Any]:
            return np.asarray(c[key], dtype=dtype)

        return Schedule(
            kind=self.kind,
            ranks=self.ranks,
            pieces=self.pieces,
            piece_bytes=np.array([self.piece_bytes(k) for k in range(self.pieces)], dtype=np.int64),
            root=self.root,
            op=col("op", np.uint8),
            rank=col("rank", np.int32),
            peer=col("peer", np.int32),
            a=col("a", np.int32),
            b=col("b", np.int32),
            out=col("out", np.int32),
            tag=col("tag", np.int64),
            bytes=col("bytes", np.int64),
            dep_ptr=ptr,
            deps=np.asarray(flat, dtype=np.int32),
            algorithm=self.algorithm,
            helpers=self.helpers,
        )


__all__ = ["COPY", "KINDS", "OP_NAMES", "RECV", "REDUCE", "SEND", "Schedule", "ScheduleBuilder"]
