"""Topology builders: the shape of a fabric (which endpoints, routers and links exist).

Every topology runs cycle by cycle; routed ones are checked for deadlock freedom first
(:meth:`Fabric.check_deadlock_freedom`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fabricsim.checks import whole_number
from fabricsim.errors import SpecError

MAX_ENDPOINTS = 1 << 20
"""The most endpoints a grid topology may have (a cycle-level fabric of a million routers)."""


def _count(name: str, value: Any, low: int = 1, high: int = MAX_ENDPOINTS) -> int:
    return whole_number(f"topology.{name}", value, low, high)


def _dims(dims: Any) -> list[int]:
    """A grid's sides: a sequence of integers >= 1 (a string is not one), at most
    MAX_ENDPOINTS routers in all."""
    if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence) or len(dims) == 0:
        raise SpecError(
            f"topology.dims: must be a non-empty sequence of integers, like (4, 4), got {dims!r}",
            path="topology.dims",
        )
    out = [_count(f"dims[{i}]", d) for i, d in enumerate(dims)]
    if math.prod(out) > MAX_ENDPOINTS:
        raise SpecError(
            f"topology.dims: {' x '.join(map(str, out))} = {math.prod(out)} routers; at most {MAX_ENDPOINTS}",
            path="topology.dims",
        )
    return out


@dataclass(frozen=True)
class Topology:
    """A topology as the engine's tagged spec (``{"type": ..., **params}``)."""

    type: str
    num_endpoints: int
    params: dict[str, Any] = field(default_factory=dict)
    memory_expanders: tuple[int, ...] = ()
    """Endpoints that are memory expanders (memory, no requester): see docs/memory_fabric.md."""

    @property
    def reduction_units(self) -> tuple[int, ...]:
        """Endpoints that are switch reduction units (``switch_star(..., reduction_ports=k)``):
        they reduce and multicast in the network; no memory, no requester, not a collective rank."""
        k = int(self.params.get("reduction_ports", 0)) if self.type == "switch_star" else 0
        first = self.num_endpoints - int(self.params.get("planes", 1)) * k
        return tuple(range(first, self.num_endpoints))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


def point_to_point() -> Topology:
    """Two endpoints (0 and 1) joined by one bidirectional link."""
    return Topology(type="point_to_point", num_endpoints=2)


def ring(n: int) -> Topology:
    """``n`` routers in a ring, one endpoint each (dimension-order routing with dateline VC
    classes: deadlock-free with 2 or more VCs)."""
    n = _count("n", n)
    return Topology(type="ring", num_endpoints=n, params={"n": n})


def mesh(dims: Sequence[int]) -> Topology:
    """A mesh of ``dims`` routers (any number of dimensions), one endpoint each, endpoint ``e``
    at coordinates ``e`` in mixed radix (dimension 0 fastest); dimension-order routing."""
    dims = _dims(dims)
    return Topology(type="mesh", num_endpoints=math.prod(dims), params={"dims": dims})


def torus(dims: Sequence[int]) -> Topology:
    """A torus of ``dims`` routers, one endpoint each; dimension-order routing with dateline
    VC classes (deadlock-free with 2 or more VCs)."""
    dims = _dims(dims)
    return Topology(type="torus", num_endpoints=math.prod(dims), params={"dims": dims})


def fully_connected(n: int) -> Topology:
    """``n`` routers each linked to every other, one endpoint each; direct routing."""
    n = _count("n", n, high=4096)
    return Topology(type="fully_connected", num_endpoints=n, params={"n": n})


def switch_star(n: int, planes: int = 1, memory_expanders: int = 0, reduction_ports: int = 0) -> Topology:
    """``n`` endpoints on one switch (NVSwitch-like), or on ``planes`` switches: each endpoint
    then has one port (link) to every switch, and its messages go round its ports in the order
    they are given (message ``k`` of a source on plane ``k mod planes``). Direct routing.
    Messages of one flow on different planes may arrive out of order.

    ``memory_expanders``: that many more endpoints (``n``, ``n + 1``, ...) on the switch are
    memory expanders (CXL-memory-like devices: memory, no requester).

    ``reduction_ports``: in-network reduction (NVLS-like). Every switch gets that many
    reduction units, each an endpoint on one more port of that switch only (after the ``n``
    endpoints and expanders: unit ``u`` of switch ``k`` is endpoint ``total + k *
    reduction_ports + u``). A unit receives, reduces and multicasts at its port's rate, so
    ``reduction_ports = n`` lets a switch reduce at its full port rate; fewer model a switch
    whose reduction throughput is lower. Messages to a unit leave on the sender's port to its
    switch. The ``nvls`` all-reduce uses them (:func:`fabricsim.collectives.all_reduce`)."""
    if memory_expanders < 0:
        raise SpecError(
            f"topology.memory_expanders: must be >= 0, got {memory_expanders}",
            path="topology.memory_expanders",
        )
    if reduction_ports < 0:
        raise SpecError(
            f"topology.reduction_ports: must be >= 0, got {reduction_ports}",
            path="topology.reduction_ports",
        )
    total = n + memory_expanders
    params: dict[str, Any] = {"n": total, "planes": planes}
    if reduction_ports:
        params["reduction_ports"] = reduction_ports
    return Topology(
        type="switch_star",
        num_endpoints=total + planes * reduction_ports,
        params=params,
        memory_expanders=tuple(range(n, total)),
    )


def fat_tree(radix: int, oversubscription: int = 1, spine: str = "d_mod_k", levels: int = 2) -> Topology:
    """A fat-tree (folded Clos) of switches with ``radix`` ports, minimal up/down routing,
    deadlock-free with one VC. The switches next to the endpoints have ``down`` endpoints and
    ``up`` uplinks with ``down : up = oversubscription : 1``.

    ``levels=2`` (leaf-spine): ``radix`` leaves and ``up`` spines. ``levels=3`` (k-ary fat-tree,
    even ``radix`` k): ``k`` pods of ``k/2`` edge and ``up`` aggregation switches, and
    ``up * k/2`` cores; ``oversubscription=1`` gives the full-bisection ``k^3/4`` endpoints.
    ``spine`` picks among the uplinks: ``"d_mod_k"`` (by destination, deterministic) or
    ``"ecmp"`` (a fixed hash of source and destination)."""
    if radix < 2:
        raise SpecError(f"topology.radix: must be >= 2, got {radix}", path="topology.radix")
    if oversubscription < 1:
        raise SpecError(
            f"topology.oversubscription: must be >= 1 (down : up = k : 1), got {oversubscription}",
            path="topology.oversubscription",
        )
    if spine not in ("d_mod_k", "ecmp"):
        raise SpecError(f"topology.spine: must be 'd_mod_k' or 'ecmp', got {spine!r}", path="topology.spine")
    if levels not in (2, 3):
        raise SpecError(f"topology.levels: must be 2 or 3, got {levels}", path="topology.levels")
    up = max(1, radix // (oversubscription + 1))
    down = radix - up
    if levels == 3:
        if radix % 2 or radix < 4:
            raise SpecError(
                f"topology.radix: a three-level fat-tree needs an even radix >= 4, got {radix}",
                path="topology.radix",
            )
        return Topology(
            type="fat_tree3",
            num_endpoints=radix * (radix // 2) * down,
            params={"k": radix, "down": down, "up": up, "spine": spine},
        )
    return Topology(
        type="fat_tree",
        num_endpoints=radix * down,
        params={"leaves": radix, "down": down, "up": up, "spine": spine},
    )


def cluster(nodes: int, gpus_per_node: int = 8, planes: int = 4, spines: int | None = None) -> Topology:
    """``nodes`` nodes of ``gpus_per_node`` endpoints, each node a switch star on ``planes``
    switches (endpoint ``a * gpus_per_node + i`` is GPU ``i`` of node ``a``), and every
    endpoint's NIC on a rail-optimized two-level fat-tree: leaf ``i`` takes GPU ``i`` of every
    node (one switch hop between same-rank GPUs of different nodes), ``spines`` spines (default
    ``nodes``: full bisection) join the leaves. Messages inside a node go round its planes,
    messages to other nodes leave through the NIC. The scale-out part (NICs, leaves, spines)
    uses the fabric's ``network_link`` (``Fabric(..., network_link=...)``, default the node
    link). Up/down routing: deadlock-free with one VC."""
    for name, value, lo in (("nodes", nodes, 2), ("gpus_per_node", gpus_per_node, 1), ("planes", planes, 1)):
        if value < lo:
            raise SpecError(f"topology.{name}: must be >= {lo}, got {value}", path=f"topology.{name}")
    k = nodes if spines is None else spines
    return Topology(
        type="cluster",
        num_endpoints=nodes * gpus_per_node,
        params={"nodes": nodes, "gpus": gpus_per_node, "planes": planes, "spines": k},
    )


def dragonfly(p: int, a: int | None = None, h: int | None = None, routing: str = "minimal") -> Topology:
    """A dragonfly (Kim et al., 2008): groups of ``a`` fully connected routers, each router with
    ``p`` endpoints and ``h`` global links; the ``a*h + 1`` groups are joined all-to-all by one
    global link per pair. Defaults to the balanced ``a = 2p = 2h``.

    ``routing="minimal"``: local, global, local hop, moving to VC class 1 on the global hop
    (deadlock-free with 2 VCs). ``routing="valiant"``: minimal to an intermediate group picked
    per message (a pinned hash of its id), then minimal to the destination; the VC class goes
    up at each global hop (deadlock-free with 3 VCs); messages of one flow may arrive out of
    order. ``routing="ugal"`` (UGAL-L): Valiant's routes and VC classes, but the source router
    keeps a message minimal unless the downstream queue of its minimal first hop exceeds twice
    that of its Valiant first hop plus one VC's buffer (the choice then travels with it)."""
    if routing not in ("minimal", "valiant", "ugal"):
        raise SpecError(
            f"topology.routing: must be 'minimal', 'valiant' or 'ugal', got {routing!r}",
            path="topology.routing",
        )
    a = 2 * p if a is None else a
    h = p if h is None else h
    return Topology(
        type="dragonfly",
        num_endpoints=p * a * (a * h + 1),
        params={"p": p, "a": a, "h": h, "routing": routing},
    )


def graph(
    edges: Sequence[tuple[int, int]], endpoints: Sequence[int] | None = None, routers: int | None = None
) -> Topology:
    """Any graph: routers ``0..routers`` joined by bidirectional ``edges``; ``endpoints[e]``
    is the router endpoint ``e`` attaches to (default: one endpoint per router). Routed by
    shortest-path tables; :meth:`Fabric.check_deadlock_freedom` says whether that can
    deadlock."""
    pairs = [(int(a), int(b)) for a, b in edges]
    n = int(routers) if routers is not None else 1 + max((max(a, b) for a, b in pairs), default=-1)
    ends = [int(r) for r in endpoints] if endpoints is not None else list(range(n))
    return Topology(
        type="graph", num_endpoints=len(ends), params={"routers": n, "edges": pairs, "endpoints": ends}
    )


def from_networkx(g: Any, endpoints: Sequence[Any] | None = None) -> Topology:
    """A :func:`graph` from a networkx graph (or anything with ``.nodes`` and ``.edges``):
    its nodes become routers 0..n-1 in iteration order; ``endpoints`` lists the nodes that get
    an endpoint each (default: every node)."""
    index = {node: i for i, node in enumerate(g.nodes)}
    edges = [(index[a], index[b]) for a, b in g.edges]
    ends = [index[x] for x in (endpoints if endpoints is not None else g.nodes)]
    return graph(edges, endpoints=ends, routers=len(index))


__all__ = [
    "Topology",
    "cluster",
    "dragonfly",
    "fat_tree",
    "from_networkx",
    "fully_connected",
    "graph",
    "mesh",
    "point_to_point",
    "ring",
    "switch_star",
    "torus",
]
