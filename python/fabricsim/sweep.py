"""Parameter sweeps over a fabric: latency against offered load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fabricsim.errors import SimulationLimitError
from fabricsim.fabric import Fabric
from fabricsim.traffic import synthetic


@dataclass(frozen=True)
class LoadPoint:
    offered: float
    """Offered load, flits per endpoint per cycle."""
    accepted: float
    """Flits delivered during the measurement window, per endpoint per cycle (throughput)."""
    latency_mean: float
    """Cycles from creation to delivery of packets created in the measurement window (source
    queueing included); ``inf`` when saturated."""
    latency_p99: float
    saturated: bool


@dataclass
class Curve:
    pattern: str
    points: list[LoadPoint] = field(default_factory=list)

    @property
    def saturation(self) -> float:
        """Highest accepted load reached (the saturation throughput if the sweep got there)."""
        return max((p.accepted for p in self.points), default=0.0)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns, for a DataFrame."""
        names = ("offered", "accepted", "latency_mean", "latency_p99", "saturated")
        return {n: [getattr(p, n) for p in self.points] for n in names}

    def plot(self, path: str | Path) -> Path:
        """Latency against offered load, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ok = [p for p in self.points if not p.saturated]
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        ax.plot([p.offered for p in ok], [p.latency_mean for p in ok], "o-")
        ax.set_xlabel("offered load (flits/endpoint/cycle)")
        ax.set_ylabel("mean packet latency (cycles)")
        ax.set_title(f"{self.pattern} traffic; saturation at about {self.saturation:.3f}")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
        plt.close(fig)
        return out


def latency_throughput(
    fab: Fabric,
    pattern: str,
    rates: Any,
    packet_flits: int = 1,
    warmup_cycles: int = 2000,
    measure_cycles: int = 4000,
    drain_factor: int = 4,
    seed: int = 0,
    stop_after_saturation: bool = True,
    **pattern_options: Any,
) -> Curve:
    """Runs ``pattern`` at each offered rate (flits/endpoint/cycle): Bernoulli injection for
    ``warmup_cycles + measure_cycles``, statistics over packets created in the measurement
    window, then drain. A point is saturated when those packets are not all delivered within
    ``drain_factor`` times the injection time, or their mean latency exceeds ten times the
    lowest-load mean; the sweep stops after the first saturated point unless told not to."""
    r = fab.link.resolved()
    cycle_ps = float(r["cycle_ps"])
    packet_bytes = packet_flits * int(r["flit_payload_bytes"]) - fab.link.packet_overhead_bytes
    if packet_bytes < 1:
        raise ValueError(f"packet_flits={packet_flits} leaves no payload after the packet overhead")
    total = warmup_cycles + measure_cycles
    curve = Curve(pattern)
    base: float | None = None
    for rate in np.asarray(rates, dtype=float):
        traffic = synthetic(
            pattern,
            fab.num_endpoints,
            float(rate),
            total,
            cycle_ps,
            packet_bytes,
            packet_flits,
            seed,
            **pattern_options,
        )
        try:
            res = fab.run(traffic, seed=seed, max_cycles=total * drain_factor)
            m = res.messages
            saturated = False
        except SimulationLimitError as e:
            assert e.partial is not None
            m = e.partial.messages
            saturated = True
        start, end = warmup_cycles * cycle_ps, total * cycle_ps
        window = (m["inject_ps"] >= start) & (m["inject_ps"] < end)
        done = window & (m["deliver_ps"] >= 0)
        lat = m["latency_ps"][done] / cycle_ps
        arrived = (m["deliver_ps"] >= start) & (m["deliver_ps"] < end)
        accepted = arrived.sum() * packet_flits / fab.num_endpoints / measure_cycles
        mean = float(lat.mean()) if lat.size else float("inf")
        if base is None and lat.size:
            base = mean
        saturated = saturated or (base is not None and mean > 10 * base) or done.sum() < window.sum()
        p99 = float(np.percentile(lat, 99)) if lat.size else float("inf")
        curve.points.append(LoadPoint(float(rate), float(accepted), mean, p99, bool(saturated)))
        if saturated and stop_after_saturation:
            break
    return curve


__all__ = ["Curve", "LoadPoint", "latency_throughput"]
