"""Topology builders: the shape of a fabric (which endpoints, routers and links exist).

Today only :func:`point_to_point` runs cycle by cycle; the routed topologies build, validate
and pass :meth:`Fabric.check_deadlock_freedom`, and will run once the router model lands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Topology:
    """A topology as the engine's tagged spec (``{"type": ..., **params}``)."""

    type: str
    num_endpoints: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


def point_to_point() -> Topology:
    """Two endpoints (0 and 1) joined by one bidirectional link."""
    return Topology(type="point_to_point", num_endpoints=2)


def ring(n: int) -> Topology:
    """``n`` routers in a ring, one endpoint each (dimension-order routing with dateline VC
    classes: deadlock-free with 2 or more VCs)."""
    return Topology(type="ring", num_endpoints=n, params={"n": n})


def mesh(dims: Sequence[int]) -> Topology:
    """A mesh of ``dims`` routers (any number of dimensions), one endpoint each, endpoint ``e``
    at coordinates ``e`` in mixed radix (dimension 0 fastest); dimension-order routing."""
    dims = [int(k) for k in dims]
    return Topology(type="mesh", num_endpoints=math.prod(dims), params={"dims": dims})


def torus(dims: Sequence[int]) -> Topology:
    """A torus of ``dims`` routers, one endpoint each; dimension-order routing with dateline
    VC classes (deadlock-free with 2 or more VCs)."""
    dims = [int(k) for k in dims]
    return Topology(type="torus", num_endpoints=math.prod(dims), params={"dims": dims})


def fully_connected(n: int) -> Topology:
    """``n`` routers each linked to every other, one endpoint each; direct routing."""
    return Topology(type="fully_connected", num_endpoints=n, params={"n": n})


def switch_star(n: int) -> Topology:
    """One switch with ``n`` endpoints (NVSwitch-like); direct routing."""
    return Topology(type="switch_star", num_endpoints=n, params={"n": n})


__all__ = ["Topology", "fully_connected", "mesh", "point_to_point", "ring", "switch_star", "torus"]
