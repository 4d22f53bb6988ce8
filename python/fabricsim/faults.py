"""Scripted faults: things that go wrong at given times, for ``Fabric.run(faults=[...])``.

``link`` is a link direction: the row of ``Result.links`` (on a point-to-point fabric, 0 is
endpoint 0 -> 1 and 1 is 1 -> 0). Faults add to the random errors of the link's ``ber``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One scripted fault; build it with the functions of this module."""

    type: str
    link: int
    flit: int | None = None
    at_ns: float | None = None
    duration_ns: float | None = None
    rate: float | None = None
    ber: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def corrupt_flit(link: int, flit: int) -> Fault:
    """The ``flit``-th transmission on ``link`` (0-based, replays included) arrives with
    errors the CRC detects: the receiver drops it and the link layer recovers."""
    return Fault("corrupt_flit", link, flit=flit)


def drop_ack(link: int, at_ns: float) -> Fault:
    """The first ACK or NAK sent back to ``link``'s sender at or after ``at_ns`` is lost."""
    return Fault("drop_ack", link, at_ns=at_ns)


def drop_credit(link: int, at_ns: float) -> Fault:
    """The first credit return to ``link``'s sender at or after ``at_ns`` is lost: those
    credits never come back (a credit leak)."""
    return Fault("drop_credit", link, at_ns=at_ns)


def link_down(link: int, at_ns: float, duration_ns: float) -> Fault:
    """Flits sent on ``link`` from ``at_ns`` for ``duration_ns`` vanish."""
    return Fault("link_down", link, at_ns=at_ns, duration_ns=duration_ns)


def link_slow(link: int, rate: float, at_ns: float = 0.0, duration_ns: float = 1e15) -> Fault:
    """From ``at_ns`` for ``duration_ns`` (default: the whole run) ``link`` carries ``rate``
    (in (0, 1]) of its capacity: a degraded link (lanes down, a lower speed). Flow fidelity
    only (``fidelity="flow"``); at cycle level give the fabric a slower link spec."""
    return Fault("link_slow", link, at_ns=at_ns, duration_ns=duration_ns, rate=rate)


def link_ber(link: int, ber: float, at_ns: float = 0.0, duration_ns: float = 1e15) -> Fault:
    """From ``at_ns`` for ``duration_ns`` (default: the whole run) ``link``'s bit-error rate is
    ``ber`` instead of its spec's: a marginal link (a bad cable, a dirty connector) that
    replays more. Flow fidelity only, as the flow model takes any link's bit-error rate: a
    capacity, the link's retry efficiency at ``ber`` over the one at its spec's rate (a link
    without retry is refused: it would lose flits); at cycle level give the fabric a lossier
    link spec."""
    return Fault("link_ber", link, at_ns=at_ns, duration_ns=duration_ns, ber=ber)


def link_failed(link: int) -> Fault:
    """``link`` is down for the whole run, and the fabric knows it, as a library knows once a
    link has failed: messages leave on other ports (another switch plane) and take other
    paths (other spines and uplinks, other intermediate groups, the other way round a torus or
    the other dimension first on a mesh); a run whose traffic has no way around it is refused,
    naming the endpoints and the link. Flow fidelity only. Compare :func:`link_down`, a window
    during which the traffic that crosses the link waits."""
    return Fault("link_failed", link)


__all__ = [
    "Fault",
    "corrupt_flit",
    "drop_ack",
    "drop_credit",
    "link_ber",
    "link_down",
    "link_failed",
    "link_slow",
]
