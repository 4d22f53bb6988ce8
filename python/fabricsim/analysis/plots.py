"""Plots (matplotlib, imported only when a plot is made)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fabricsim.fabric import Fabric
from fabricsim.specs import LinkSpec
from fabricsim.topology import point_to_point
from fabricsim.traffic.messages import stream

DEFAULT_BERS = (0.0, 1e-8, 1e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4)


@dataclass(frozen=True)
class BerPoint:
    preset: str
    ber: float
    goodput_gbps: float
    """Payload rate of messages delivered intact (no undetected errors)."""
    analytic_gbps: float
    """The error-free goodput times the link layer's efficiency at this BER: go-back-N
    ``(1 - p) / (1 + (W - 1) p)`` with ``p`` the flit error probability and ``W = 1 + latency
    + return`` cycles; selective repeat ``1 - p``; without retry, the chance that all ``F``
    flits of a message are intact, ``(1 - p)^F``."""


MESSAGE_BYTES = 64 * 1024
"""Message size of the BER sweep: a multiple of every preset's MTU, long enough that packed
framing reaches its steady efficiency."""


def goodput_vs_ber(
    presets: list[str] | None = None,
    bers: tuple[float, ...] = DEFAULT_BERS,
    flits_per_run: int = 100_000,
    seed: int = 0,
) -> list[BerPoint]:
    """Measured goodput of a saturating stream of 64 KiB messages on each preset at each BER."""
    points = []
    for name in presets or LinkSpec.presets():
        base = LinkSpec.preset(name)
        flits = base.message_flits(MESSAGE_BYTES)
        count = max(20, flits_per_run // flits)
        clean = 0.0
        for ber in bers:
            link = base.replace(ber=ber)
            r = link.resolved()
            res = Fabric(topology=point_to_point(), link=link).run(
                stream(0, 1, count, MESSAGE_BYTES), seed=seed
            )
            m = res.messages
            span_ps = float(m["deliver_ps"].max() - m["inject_ps"].min())
            goodput = float(m["bytes"][~m["corrupt"]].sum()) * 8 / span_ps * 1000.0
            if ber == 0.0:
                clean = goodput
            p = float(r["flit_error_prob"])
            w = int(r["credit_round_trip_cycles"])
            if link.retry == "none":
                eff = (1.0 - p) ** flits
            elif link.retry == "selective_repeat":
                eff = 1.0 - p
            else:
                eff = (1.0 - p) / (1.0 + (w - 1) * p)
            points.append(BerPoint(name, ber, goodput, clean * eff))
    return points


def plot_goodput_vs_ber(path: str | Path, points: list[BerPoint] | None = None) -> Path:
    """Writes a PNG of goodput (normalized to each preset's error-free goodput) against BER.
    The sweep must include BER 0 (the normalization)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = points if points is not None else goodput_vs_ber()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name in sorted({p.preset for p in points}):
        mine = [p for p in points if p.preset == name]
        clean = next(p.goodput_gbps for p in mine if p.ber == 0.0)
        xs = [max(p.ber, 1e-9) for p in mine]
        (line,) = ax.plot(xs, [p.goodput_gbps / clean for p in mine], "o-", label=name, markersize=4)
        ax.plot(xs, [p.analytic_gbps / clean for p in mine], ":", color=line.get_color(), linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("bit-error rate (0 plotted at 1e-9)")
    ax.set_ylabel("goodput / error-free goodput")
    ax.set_title("Goodput vs BER (points: fabricsim; dotted: analytic link-layer efficiency)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


__all__ = ["DEFAULT_BERS", "BerPoint", "goodput_vs_ber", "plot_goodput_vs_ber"]
