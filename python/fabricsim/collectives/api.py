"""The collective operations users build: ``fs.collectives.all_reduce(bytes=..., algorithm=...)``
and friends. A :class:`Collective` is a description; :meth:`Collective.schedule` builds its
schedule for a number of ranks and :func:`verify` checks it symbolically."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from fabricsim.checks import whole_number
from fabricsim.collectives import fast
from fabricsim.collectives.algorithms import (
    BUILDERS,
    Planner,
    _all_reduce_hierarchical,
    _all_reduce_nvls,
    _all_reduce_torus,
    chain_collective,
    ring_collective,
)
from fabricsim.collectives.execution import Execution
from fabricsim.collectives.library import PROTOCOLS
from fabricsim.collectives.ops import CHAIN_KINDS, KINDS, MAX_OPERATIONS, RING_KINDS
from fabricsim.collectives.run import CollectiveResult, execute_schedule, torus_shape
from fabricsim.collectives.schedule import Schedule
from fabricsim.collectives.verify import verify_schedule
from fabricsim.errors import SpecError
from fabricsim.run_contract import Workload

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric
    from fabricsim.run_options import RunOptions

MAX_BYTES = 1 << 50
"""The largest collective a user can ask for (1 PiB per rank): beyond it no run ends."""


ALGORITHMS: dict[str, tuple[str, ...]] = {
    kind: tuple(a for (k, a) in BUILDERS if k == kind)
    + (("hierarchical", "hierarchical_tree", "torus", "nvls") if kind == "all_reduce" else ())
    for kind in KINDS
}
"""Algorithm names per collective kind (and ``"auto"``: the tuner picks one for the fabric)."""

# Data split among ranks (pieces = ranks x chunks) or pipelined whole (pieces = chunks).
_SPLIT = {"all_reduce", "reduce_scatter", "all_gather", "all_to_all"}

Build = Callable[[Planner], None]


@dataclass(frozen=True)
class Collective(Workload):
    """A collective operation: ``kind``, total ``bytes`` (per rank: the buffer each rank
    holds, as nccl-tests counts size), ``algorithm`` (a name from :data:`ALGORITHMS`, a
    function that issues the schedule on a :class:`~fabricsim.collectives.algorithms.Planner`,
    or ``"auto"``: the least modelled time on the fabric, as NCCL's tuner picks), ``protocol``
    (``"simple"``, ``"ll128"``, ``"ll"`` or ``"auto"``: whose costs the library adds, see
    :class:`~fabricsim.collectives.library.Library`), ``chunks`` (pieces per segment, for
    pipelining; None: enough for every switch plane, :func:`~fabricsim.collectives.tuner.auto_chunks`),
    ``root`` (broadcast, reduce),
    ``local`` (ranks per node: hierarchical all-reduce's nodes; a ring over several such
    nodes runs one ring per chunk, each leaving every node through a different rank, as
    NCCL's channels spread a ring over a node's NICs; :meth:`Fabric.run` takes a cluster's
    GPUs per node), ``dims`` (the torus's shape, torus
    all-reduce; when None, :meth:`Fabric.run` takes the fabric's torus or mesh dimensions) and
    ``switch`` (``(planes, reduction_ports)``, nvls all-reduce; when None, the fabric's)."""

    kind: str
    bytes: int
    algorithm: str | Build = "auto"
    chunks: int | None = None
    root: int = 0
    local: int | None = None
    dims: tuple[int, ...] | None = None
    switch: tuple[int, int] | None = None
    execution: Execution = field(default_factory=Execution)
    """How it executes on a fabric: reduce and copy costs, through memory or not, verified
    first or not, the library's costs (:class:`~fabricsim.collectives.execution.Execution`)."""
    protocol: str = "auto"

    def concrete(self) -> Collective:
        """This collective with its automatic choices made without a fabric: ``ring`` (or
        ``direct`` for all-to-all), one chunk, ``simple`` (:meth:`Fabric.run` chooses for
        the fabric instead, :func:`~fabricsim.collectives.tuner.resolve`)."""
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "direct" if self.kind == "all_to_all" else "ring"
        protocol = "simple" if self.protocol == "auto" else self.protocol
        return replace(self, algorithm=algorithm, chunks=self.chunks or 1, protocol=protocol)

    def with_execution(self, **settings: Any) -> Collective:
        """This collective with execution settings changed (``memory=True``, ...)."""
        return replace(self, execution=self.execution.replace(**settings))

    def run_on(self, fabric: Fabric, options: RunOptions) -> CollectiveResult:
        """Makes the automatic choices for ``fabric`` (algorithm, protocol, chunks), builds the
        schedule (its ranks, its torus's shape, its switches' reduction units) and executes it
        there."""
        from fabricsim.collectives.tuner import resolve

        units = fabric.topology.reduction_units
        if self.algorithm == "nvls" and not units:
            raise SpecError(
                "algorithm: nvls needs switches that reduce; build the fabric with "
                "fs.topology.switch_star(..., reduction_ports=k) (or the dgx8_nvls preset)",
                path="algorithm",
            )
        planes = int(fabric.topology.params.get("planes", 1))
        switch = (planes, len(units) // planes) if units else None
        op = resolve(self, fabric)
        schedule = op.schedule(fabric.num_ranks, torus_shape(fabric), switch)
        return execute_schedule(fabric, schedule, op, options, op.execution)

    def operations_estimate(self, ranks: int, switch: tuple[int, int] | None = None) -> int:
        """About how many operations the schedule over ``ranks`` ranks has (an upper bound
        for the named algorithms: up to 2 (n - 1) steps of send, receive and reduce per
        piece and rank), to refuse schedules that would not fit in memory before building."""
        return 6 * max(ranks, 1) * self.pieces(ranks, switch)

    def pieces(self, ranks: int, switch: tuple[int, int] | None = None) -> int:
        chunks = self.chunks or 1
        if self.algorithm == "nvls":
            planes, units = self.switch or switch or (1, ranks)
            return planes * units * chunks
        if self.algorithm == "hierarchical_tree":
            # a segment per rank of a node, each in `chunks` pieces up and down the rail's trees
            return (self.local or ranks) * chunks
        split = self.kind in _SPLIT and not (self.kind == "all_reduce" and self.algorithm == "tree")
        return ranks * chunks if split else chunks

    def schedule(
        self, ranks: int, dims: tuple[int, ...] | None = None, switch: tuple[int, int] | None = None
    ) -> Schedule:
        """The schedule over ``ranks`` ranks (validated arguments; not yet verified); ``dims``
        is the torus shape a torus all-reduce uses when the collective names none, ``switch``
        the ``(planes, reduction_ports)`` of the fabric's reduction units for nvls (default:
        one switch with one unit per rank). Automatic choices are made without a fabric
        (:meth:`concrete`)."""
        if self.algorithm == "auto" or self.chunks is None or self.protocol == "auto":
            return self.concrete().schedule(ranks, dims, switch)
        if not isinstance(ranks, int) or ranks < 2:
            raise SpecError(f"ranks: must be an int >= 2, got {ranks!r}", path="ranks")
        estimate = self.operations_estimate(ranks, switch)
        if estimate > MAX_OPERATIONS:
            raise SpecError(
                f"chunks: {self.kind} ({self.algorithm if isinstance(self.algorithm, str) else 'custom'}) over "
                f"{ranks} ranks in {self.chunks} chunks makes about {estimate:,} operations (about "
                f"{estimate * 100 / 2**30:.1f} GiB to build and verify); at most {MAX_OPERATIONS:,}: "
                + (
                    "use fewer chunks"
                    if self.chunks > 1
                    else "its pieces grow with the ranks, so no chunk count fits (docs/fidelity.md, 'Scale')"
                ),
                path="chunks",
            )
        if self.algorithm in ("hierarchical", "hierarchical_tree") and (
            self.local is None or self.local < 1 or ranks % self.local
        ):
            raise SpecError(
                f"local: {self.algorithm} all-reduce needs ranks per node dividing {ranks}, got {self.local!r}",
                path="local",
            )
        if self.kind in ("broadcast", "reduce") and not 0 <= self.root < ranks:
            raise SpecError(f"root: must be in 0..{ranks - 1}, got {self.root}", path="root")
        name = (
            self.algorithm
            if isinstance(self.algorithm, str)
            else getattr(self.algorithm, "__name__", "custom")
        )
        if self.algorithm == "nvls":
            switch = self.switch or switch or (1, ranks)
            planes, units = switch
            if planes < 1 or units < 1:
                raise SpecError(
                    f"switch: nvls needs switches with reduction units (planes, reduction_ports >= 1), got {switch!r}",
                    path="switch",
                )
        helpers = switch[0] * switch[1] if self.algorithm == "nvls" and switch else 0
        pieces = self.pieces(ranks, switch)
        if self.algorithm in ("ring", "hierarchical", "hierarchical_tree", "direct"):
            # at scale: the same schedule, its movements in numpy and planned in the engine
            base, extra = divmod(self.bytes, pieces)
            sizes = np.full(pieces, base, dtype=np.int64)
            sizes[:extra] += 1
            planned = fast.build(self.kind, self.algorithm, ranks, pieces, sizes, self.local, self.root)
            if planned is not None:
                return planned
        p = Planner(
            self.kind,
            ranks,
            pieces,
            self.bytes,
            root=self.root,
            algorithm=name,
            helpers=helpers,
        )
        if callable(self.algorithm):
            self.algorithm(p)
        elif self.algorithm in ("hierarchical", "hierarchical_tree"):
            assert self.local is not None  # checked above
            across = "tree" if self.algorithm == "hierarchical_tree" else "ring"
            _all_reduce_hierarchical(p, ranks, self.chunks, self.local, across)
        elif self.algorithm == "torus":
            shape = self.dims if self.dims is not None else dims
            if shape is None or math.prod(shape) != ranks or min(shape, default=0) < 1:
                raise SpecError(
                    f"dims: torus all-reduce needs the torus's dimensions (their product = {ranks} ranks), got {shape!r}",
                    path="dims",
                )
            _all_reduce_torus(p, ranks, self.chunks, shape)
        elif self.algorithm == "nvls":
            assert switch is not None
            _all_reduce_nvls(p, ranks, self.chunks, *switch)
        elif self.algorithm == "ring" and self.kind in RING_KINDS:
            ring_collective(p, self.kind, ranks, self.local)
        elif self.algorithm == "ring" and self.kind in CHAIN_KINDS:
            chain_collective(p, self.kind, ranks, self.local)
        else:
            BUILDERS[(self.kind, self.algorithm)](p, ranks, self.chunks)
        return p.build()


def _make(
    kind: str,
    nbytes: int,
    algorithm: str | Build,
    chunks: int | None,
    root: int = 0,
    local: int | None = None,
    dims: tuple[int, ...] | None = None,
    switch: tuple[int, int] | None = None,
    execution: dict[str, Any] | None = None,
    protocol: str = "auto",
) -> Collective:
    nbytes = whole_number("bytes", nbytes, 0, MAX_BYTES)
    if chunks is not None:
        chunks = whole_number("chunks", chunks, 1, 1 << 20)
    if local is not None:
        local = whole_number("local", local, 1, 1 << 20)
    if isinstance(algorithm, str) and algorithm != "auto" and algorithm not in ALGORITHMS[kind]:
        raise SpecError(
            f"algorithm: {kind} knows auto, {', '.join(ALGORITHMS[kind])}, got {algorithm!r}",
            path="algorithm",
        )
    if protocol != "auto" and protocol not in PROTOCOLS:
        raise SpecError(f"protocol: must be auto, {', '.join(PROTOCOLS)}, got {protocol!r}", path="protocol")
    if algorithm == "nvls" and protocol not in ("auto", "simple"):
        raise SpecError(
            f"protocol: nvls runs the simple protocol only (as NCCL's NVLS), got {protocol!r}",
            path="protocol",
        )
    how = Execution().replace(**execution) if execution else Execution()
    return Collective(kind, nbytes, algorithm, chunks, root, local, dims, switch, how, protocol)


def all_reduce(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    local: int | None = None,
    dims: Sequence[int] | None = None,
    switch: tuple[int, int] | None = None,
    protocol: str = "auto",
    **execution: Any,
) -> Collective:
    """Every rank ends with the sum of every rank's buffer. Algorithms: ``ring``
    (reduce-scatter then all-gather around a ring), ``direct`` (every rank exchanges with
    every other), ``halving_doubling`` (Rabenseifner: recursive halving then doubling; extra
    ranks beyond a power of two fold in first), ``tree`` (two binary trees, mirrored, each
    reducing then broadcasting half the data, like NCCL's double binary tree) and
    ``hierarchical`` (``local`` ranks per node: ring inside nodes, ring across them),
    ``hierarchical_tree`` (ring inside nodes, a double binary tree across them per rail, its
    pieces ``local x chunks`` whatever the node count: how NCCL reaches thousands of nodes) and
    ``torus`` (ring reduce-scatter along each dimension of a torus of ``dims`` in turn, then
    all-gather back, half the data each way round: every torus link carries data; ``dims``
    defaults to the fabric's) and ``nvls`` (in-network reduction, like NCCL's NVLS on
    NVSwitch: every rank sends each piece once to a reduction unit of a switch, which sums the
    copies and multicasts the result; needs a fabric with
    ``switch_star(..., reduction_ports=k)``; ``switch = (planes, reduction_ports)`` defaults to
    the fabric's, and to ``(1, ranks)`` when verifying without a fabric). ``"auto"`` (the
    default): the tuner's choice for the fabric (ring, tree, nvls where the switches reduce,
    hierarchical or hierarchical_tree on a cluster), said in the result.

    ``protocol``: ``"simple"``, ``"ll128"``, ``"ll"`` or ``"auto"`` (the tuner's choice);
    ``chunks``: None chooses enough for every plane (``fabricsim.collectives.tuner``).

    ``execution`` settings (``memory=True``, ``reduce_ns_per_byte=...``, ``verify=False``,
    ``piece_bytes=...``, ``library="ideal"``; the same for every collective) say how it executes on a fabric:
    :class:`~fabricsim.collectives.execution.Execution`."""
    shape = tuple(int(d) for d in dims) if dims is not None else None
    unit = (int(switch[0]), int(switch[1])) if switch is not None else None
    return _make(
        "all_reduce",
        bytes,
        algorithm,
        chunks,
        local=local,
        dims=shape,
        switch=unit,
        execution=execution,
        protocol=protocol,
    )


def reduce_scatter(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    protocol: str = "auto",
    local: int | None = None,
    **execution: Any,
) -> Collective:
    """Rank ``r`` ends with the ``r``-th ``1/n`` of the sum. ``ring``, ``direct``,
    ``halving_doubling``. ``local``: ranks per node, whose ring runs a channel per node rank
    (None: a cluster's GPUs per node; 1: one ring in rank order)."""
    return _make(
        "reduce_scatter", bytes, algorithm, chunks, local=local, execution=execution, protocol=protocol
    )


def all_gather(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    protocol: str = "auto",
    local: int | None = None,
    **execution: Any,
) -> Collective:
    """Every rank ends with every rank's ``1/n`` (``bytes`` is the gathered total).
    ``ring``, ``direct``, ``halving_doubling``. ``local`` as for :func:`reduce_scatter`."""
    return _make("all_gather", bytes, algorithm, chunks, local=local, execution=execution, protocol=protocol)


def all_to_all(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    protocol: str = "auto",
    **execution: Any,
) -> Collective:
    """Rank ``i``'s block ``j`` (``bytes / n``) ends at rank ``j``. ``direct`` (all at once)
    or ``pairwise`` (step ``s``: exchange with ranks ``i +- s``)."""
    return _make("all_to_all", bytes, algorithm, chunks, execution=execution, protocol=protocol)


def broadcast(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    root: int = 0,
    protocol: str = "auto",
    local: int | None = None,
    **execution: Any,
) -> Collective:
    """``root``'s buffer reaches every rank: ``ring`` (a pipeline along the ranks, a chain per
    channel across nodes of ``local`` ranks as for :func:`reduce_scatter`; ``chunks`` pieces,
    by default NCCL's 512 KiB steps) or ``tree`` (binary tree)."""
    return _make(
        "broadcast", bytes, algorithm, chunks, root=root, local=local, execution=execution, protocol=protocol
    )


def reduce(
    bytes: int,
    algorithm: str | Build = "auto",
    chunks: int | None = None,
    root: int = 0,
    protocol: str = "auto",
    local: int | None = None,
    **execution: Any,
) -> Collective:
    """The sum of every rank's buffer reaches ``root``: ``ring`` (pipeline, a chain per
    channel across nodes as :func:`broadcast`) or ``tree``."""
    return _make(
        "reduce", bytes, algorithm, chunks, root=root, local=local, execution=execution, protocol=protocol
    )


def verify(op: Collective | Schedule, ranks: int | None = None) -> Schedule:
    """Checks symbolically (no fabric) that ``op`` computes its collective on ``ranks``
    ranks: every rank ends with what the collective promises, each contribution exactly
    once. Returns the schedule; raises
    :class:`~fabricsim.collectives.verify.VerificationError` naming the first wrong
    operation otherwise."""
    if isinstance(op, Schedule):
        schedule = op
    else:
        if ranks is None:
            raise SpecError("ranks: give the number of ranks to verify a collective on", path="ranks")
        schedule = op.schedule(ranks)
    verify_schedule(schedule)
    return schedule


__all__ = [
    "ALGORITHMS",
    "Collective",
    "all_gather",
    "all_reduce",
    "all_to_all",
    "broadcast",
    "reduce",
    "reduce_scatter",
    "verify",
]
