"""Topology builders: the shape of a fabric (which endpoints and links exist)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Topology:
    """A topology as the engine's tagged spec (``{"type": ..., ...}``)."""

    type: str
    num_endpoints: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}


def point_to_point() -> Topology:
    """Two endpoints (0 and 1) joined by one bidirectional link."""
    return Topology(type="point_to_point", num_endpoints=2)


__all__ = ["Topology", "point_to_point"]
