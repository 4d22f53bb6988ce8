"""Memory loads: the requesters of the memory fabric (see :mod:`fabricsim.memory`).

:func:`loads` builds a load/store unit, :func:`dma` a DMA engine; ``a + b`` runs both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.errors import SpecError
from fabricsim.memory.fabric_result import MemoryFabricResult
from fabricsim.run_contract import Workload

if TYPE_CHECKING:
    from fabricsim.fabric import DeadlockFreedom, Fabric
    from fabricsim.run_options import RunOptions

Pattern = Literal["random", "stream"]


@dataclass(frozen=True)
class Requester:
    """One requester's settings (see :func:`loads`)."""

    endpoint: int
    target: str
    pattern: Pattern = "random"
    read_ratio: float = 1.0
    bytes: int = 64
    outstanding: int = 16
    requests: int = 0
    base: int = 0
    start_ns: float = 0.0
    issue_interval_ns: float = 0.0
    addresses: tuple[int, ...] = ()
    writes: tuple[bool, ...] = ()
    kind: str = "loads"
    """``"loads"`` (a load/store unit) or ``"dma"`` (for reports only)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "target": self.target,
            "pattern": self.pattern,
            "read_ratio": self.read_ratio,
            "bytes": self.bytes,
            "outstanding": self.outstanding,
            "requests": self.requests,
            "base": self.base,
            "start_ns": self.start_ns,
            "issue_interval_ns": self.issue_interval_ns,
            "addresses": list(self.addresses),
            "writes": list(self.writes),
        }


@dataclass(frozen=True)
class MemoryLoad(Workload):
    """Requesters to run together on a memory fabric; ``a + b`` runs both."""

    requesters: tuple[Requester, ...] = field(default_factory=tuple)

    def __add__(self, other: MemoryLoad) -> MemoryLoad:
        if not isinstance(other, MemoryLoad):
            return NotImplemented
        return MemoryLoad(self.requesters + other.requesters)

    def to_json(self) -> str:
        return json.dumps({"requesters": [r.to_dict() for r in self.requesters]})

    def deadlock_report(self, fabric: Fabric) -> DeadlockFreedom:
        """Requests and responses are routed each in its own share of the VCs: each share
        must be deadlock-free on its own."""
        return fabric._memory_class_report()

    def run_on(self, fabric: Fabric, options: RunOptions) -> MemoryFabricResult:
        """Runs the load on ``fabric``, which must have memory (``Fabric(..., hbm=...)``)."""
        if fabric.hbm is None:
            raise SpecError(
                "hbm: the fabric has no memory; build it with Fabric(..., hbm=fs.HbmSpec.preset(...))",
                path="hbm",
            )
        options.require_messages("a memory load's request rows name the messages that carried them")
        raw = _core.run_memory_fabric(json.dumps(fabric.memory_dict()), self.to_json(), options.engine_json())
        access = int(fabric.hbm.resolved()["access_bytes"])
        exp_access = int((fabric.expander_memory or fabric.hbm).resolved()["access_bytes"])
        sizes = {
            e: (exp_access if e in fabric.memory_expanders else access) for e in range(fabric.num_endpoints)
        }
        return MemoryFabricResult(raw, self, sizes)


def _target(target: str | int) -> str:
    return f"peer:{target}" if isinstance(target, int) else str(target)


def loads(
    requester: int,
    target: str | int,
    pattern: Pattern = "random",
    bytes: int = 64,
    outstanding: int = 16,
    requests: int = 1000,
    read_ratio: float = 1.0,
    base: int = 0,
    start_ns: float = 0.0,
    issue_interval_ns: float = 0.0,
    addresses: npt.ArrayLike | None = None,
    writes: npt.ArrayLike | None = None,
) -> MemoryLoad:
    """A load/store unit at endpoint ``requester`` issuing ``requests`` requests of ``bytes``
    to ``target``, at most ``outstanding`` in flight: whenever a tag is free (several in one
    cycle if several are), or no sooner than ``issue_interval_ns`` after the previous issue (an
    offered rate, up to the tags). It starts at ``start_ns``. Targets:

    - ``"local"``: its own HBM, without the fabric;
    - ``"peer:N"`` (or the int ``N``): accelerator ``N``'s HBM;
    - ``"expander:K"``: the ``K``-th memory expander;
    - ``"global"``: the global address space, interleaved over every device in blocks of the
      protocol's ``interleave_bytes``.

    Addresses are uniformly random (aligned to ``bytes``) or a stream from ``base``; a fraction
    ``read_ratio`` of requests read, the rest write. A trace replaces the pattern:
    ``addresses`` (bytes within the target) and optionally ``writes`` (booleans).
    """
    addr: tuple[int, ...] = ()
    wr: tuple[bool, ...] = ()
    if addresses is not None:
        a = np.asarray(addresses)
        if a.ndim != 1 or (a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0)):
            raise SpecError(
                "traffic.addresses: must be a 1-D array of byte addresses >= 0", path="traffic.addresses"
            )
        addr = tuple(int(x) for x in a)
        requests = len(addr)
    if writes is not None:
        wr = tuple(bool(x) for x in np.asarray(writes).ravel())
    return MemoryLoad(
        (
            Requester(
                endpoint=int(requester),
                target=_target(target),
                pattern=pattern,
                read_ratio=float(read_ratio),
                bytes=int(bytes),
                outstanding=int(outstanding),
                requests=int(requests),
                base=int(base),
                start_ns=float(start_ns),
                issue_interval_ns=float(issue_interval_ns),
                addresses=addr,
                writes=wr,
            ),
        )
    )


def dma(
    requester: int,
    target: str | int,
    bytes: int,
    chunk: int = 256,
    window: int = 8,
    write: bool = False,
    base: int = 0,
    start_ns: float = 0.0,
) -> MemoryLoad:
    """A DMA engine at ``requester`` moving a buffer of ``bytes`` from (``write=False``: reads)
    or to (``write=True``: writes) ``target`` in ``chunk``-byte requests (the protocol's MTU,
    at most its ``max_request_bytes``) with at most ``window`` in flight: a stream of requests
    from ``base``."""
    if chunk < 1 or bytes < 1:
        raise SpecError(f"traffic.chunk and traffic.bytes: must be >= 1, got {chunk} and {bytes}")
    n = -(-int(bytes) // int(chunk))
    load = loads(
        requester,
        target,
        pattern="stream",
        bytes=chunk,
        outstanding=window,
        requests=n,
        read_ratio=0.0 if write else 1.0,
        base=base,
        start_ns=start_ns,
    )
    return MemoryLoad((Requester(**{**load.requesters[0].__dict__, "kind": "dma"}),))


__all__ = ["MemoryLoad", "Pattern", "Requester", "dma", "loads"]
