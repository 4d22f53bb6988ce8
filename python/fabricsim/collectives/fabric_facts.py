"""What the collective layer reads off a fabric: its ranks' bandwidths and its torus's shape
(used by the runner, the tuner and the alpha-beta attribution alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fabricsim.fabric import Fabric


def bandwidths(fab: Fabric) -> tuple[float, float | None]:
    """One rank's injection goodput over all its ports (GB/s), and over its NIC on a cluster
    (None elsewhere)."""
    planes = int(fab.topology.params.get("planes", 1))
    gbyte_per_s = float(fab.link.resolved()["max_goodput_gbps"]) / 8 * planes
    out = (
        float(fab.network_link.resolved()["max_goodput_gbps"]) / 8
        if fab.network_link is not None and fab.topology.type == "cluster"
        else None
    )
    return gbyte_per_s, out


def torus_shape(fab: Fabric) -> tuple[int, ...] | None:
    """The dimensions a torus all-reduce takes from the fabric: a torus's or mesh's, a ring's."""
    if fab.topology.type in ("torus", "mesh"):
        return tuple(int(d) for d in fab.topology.params["dims"])
    if fab.topology.type == "ring":
        return (fab.num_endpoints,)
    return None


__all__ = ["bandwidths", "torus_shape"]
