"""What a communication library adds between an application's call and the links: a launch
latency per call, a protocol's latency per hop and its bytes on the wire per byte of data, and
the throughput of in-network reduction. :class:`Library` holds those constants; the preset
``"nccl"`` takes them from NCCL's public cost model, ``"ideal"`` sets them all to nothing (a
schedule's messages alone, as fabricsim ran collectives before the library model).

Sources (../shared/reference/collective_calibration.md):
  [tuning] NVIDIA/nccl src/graph/tuning.cc (the tuner's alpha-beta model, 2.2x): base latency
           per algorithm and protocol, hardware latency per hop (NVLink, network), NVLS
           efficiency on Hopper.
  [channels] NVIDIA/nccl#689 (each channel is a thread block on its own SM, 2 at the least),
           #1453 (NCCL's log on H100 nodes with a NIC per GPU: 16 channels), #1432 (an NCCL
           kernel alone keeps 15% of an H100's 132 SMs busy, about 20).
  [format] the protocols' line formats: LL sends 8 B of data with an 8 B flag in every 16 B
           store; LL128 carries 8 B of flags in every 128 B line (120 B of data); Simple sends
           data and its flags separately (arXiv 2507.04786, "Demystifying NCCL", section on
           protocols).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from fabricsim.errors import SpecError

PROTOCOLS = ("simple", "ll128", "ll")
"""NCCL's protocols, by name."""


@dataclass(frozen=True)
class ProtocolCosts:
    """One protocol's costs.

    - ``wire_bytes_per_byte``: bytes the protocol puts on the wire per byte of data (its flags
      and framing), >= 1;
    - ``base_latency_us``: latency of one call (kernel launch and set-up), once;
    - ``hop_latency_us``: latency each step adds on a hop inside a node (NVLink), pipelined
      (steps of different pieces overlap);
    - ``net_hop_latency_us``: the same on a hop between nodes (a NIC and the network);
    - ``tree_hop_latency_us``: a tree algorithm's step inside a node (NCCL's tree differs)."""

    wire_bytes_per_byte: float
    base_latency_us: float
    hop_latency_us: float
    net_hop_latency_us: float
    tree_hop_latency_us: float

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise SpecError(f"{f.name}: must be a finite number >= 0, got {v!r}", path=f.name)
            object.__setattr__(self, f.name, float(v))
        if not 1.0 <= self.wire_bytes_per_byte <= 64.0:
            raise SpecError(
                f"wire_bytes_per_byte: must be in 1..64 (bytes on the wire per byte of data), got "
                f"{self.wire_bytes_per_byte!r}",
                path="wire_bytes_per_byte",
            )


@dataclass(frozen=True)
class Library:
    """A communication library's costs, per protocol (:data:`PROTOCOLS`), and of in-network
    reduction (NVLS):

    - ``protocols``: name -> :class:`ProtocolCosts`;
    - ``nvls_latency_us``: latency of one NVLS call (the switch's multicast set-up), once;
    - ``nvls_efficiency``: the fraction of the links' rate an NVLS reduction sustains (the
      switch's reduction and multicast throughput), in (0, 1]; applied as wire bytes per byte,
      with the heads' traffic (:meth:`nvls_wire_bytes_per_byte`);
    - ``kernel_sms``: SMs a collective's kernel holds while it runs (NCCL: one thread block,
      on an SM of its own, per channel), which compute overlapped with it cannot use: a
      training step's overlapped kernels run on the rest (0: none).

    ``Library.preset("nccl")`` (the default of every collective) or ``"ideal"``; build one to
    model another library or GPU generation."""

    name: str
    protocols: dict[str, ProtocolCosts]
    nvls_latency_us: float = 0.0
    nvls_efficiency: float = 1.0
    sources: tuple[str, ...] = ()
    kernel_sms: int = 0

    PRESETS: ClassVar[tuple[str, ...]] = ("nccl", "ideal")

    def nvls_wire_bytes_per_byte(self, ranks: int) -> float:
        """Bytes an NVLS all-reduce over ``ranks`` ranks moves on each link direction per byte
        a rank sends the switches, over :attr:`nvls_efficiency`. NCCL's NVLS kernel (NVIDIA/nccl
        src/device/all_reduce.h) gives each rank, as head, ``1/n`` of the data: its
        ``multimem`` load-reduce makes the switch read that part from every rank (its own
        included) and return the sum to the head, and its ``multimem`` store sends the sum back
        through the switch, which writes it to every rank. Each rank so sends ``S (1 + 1/n)``
        (every part read, and the parts it stores) and receives as much (the sums it heads, and
        every part written): ``1 + 1/n`` per byte, 1.125 on 8 GPUs, 1.5 on 2."""
        return (1 + 1 / max(ranks, 1)) / self.nvls_efficiency

    def __post_init__(self) -> None:
        if not isinstance(self.protocols, dict) or not self.protocols:
            raise SpecError("protocols: must map protocol names to ProtocolCosts", path="protocols")
        unknown = sorted(set(self.protocols) - set(PROTOCOLS))
        if unknown:
            raise SpecError(
                f"protocols: unknown protocol(s) {unknown}; allowed: {', '.join(PROTOCOLS)}", path="protocols"
            )
        for name, costs in self.protocols.items():
            if not isinstance(costs, ProtocolCosts):
                raise SpecError(
                    f"protocols.{name}: must be a ProtocolCosts, got {costs!r}", path=f"protocols.{name}"
                )
        v = self.nvls_latency_us
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise SpecError(
                f"nvls_latency_us: must be a finite number >= 0, got {v!r}", path="nvls_latency_us"
            )
        e = self.nvls_efficiency
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e <= 1:
            raise SpecError(f"nvls_efficiency: must be in (0, 1], got {e!r}", path="nvls_efficiency")
        k = self.kernel_sms
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 1024:
            raise SpecError(f"kernel_sms: must be an integer in 0..1024, got {k!r}", path="kernel_sms")

    def costs(self, protocol: str) -> ProtocolCosts:
        """The costs of ``protocol``; a clear error naming the library's protocols otherwise."""
        if protocol not in self.protocols:
            raise SpecError(
                f"protocol: library {self.name!r} knows {', '.join(self.protocols)}, got {protocol!r}",
                path="protocol",
            )
        return self.protocols[protocol]

    @classmethod
    def preset(cls, name: str) -> Library:
        """``"nccl"``: NCCL's cost model on NVLink-4-generation GPUs (sources in the module's
        docstring); ``"ideal"``: no launch, hop or protocol cost."""
        if name == "nccl":
            return _NCCL
        if name == "ideal":
            return _IDEAL
        raise SpecError(
            f"library: unknown preset {name!r}; presets: {', '.join(cls.PRESETS)}", path="library"
        )

    @staticmethod
    def presets() -> list[str]:
        return list(Library.PRESETS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocols": {
                k: {f.name: getattr(v, f.name) for f in fields(v)} for k, v in self.protocols.items()
            },
            "nvls_latency_us": self.nvls_latency_us,
            "nvls_efficiency": self.nvls_efficiency,
            "sources": list(self.sources),
            "kernel_sms": self.kernel_sms,
        }


_NCCL = Library(
    name="nccl",
    protocols={
        # [tuning] ring base latency Simple 8.4 us; NVLink hop 3.4 us, network hop 14 us; tree
        # NVLink hop 4.0 us (the reference's newer table). [format] Simple: flags apart, 1 B/B.
        "simple": ProtocolCosts(1.0, 8.4, 3.4, 14.0, 4.0),
        # [tuning] LL128 base 14.0 us; hops 1.9 (NVLink), 4.0 (network), tree 1.25.
        # [format] 120 B of data per 128 B line: 128/120 B on the wire per byte.
        "ll128": ProtocolCosts(128 / 120, 14.0, 1.9, 4.0, 1.25),
        # [tuning] LL base 6.6 us; hops 0.6 (NVLink), 2.7 (network), tree 0.6.
        # [format] 8 B of flag per 8 B of data: 2 B on the wire per byte.
        "ll": ProtocolCosts(2.0, 6.6, 0.6, 2.7, 0.6),
    },
    # [tuning] NVLS: no base latency, 25 us of NVLink latency (Simple), and a bandwidth of
    # 0.85 of the links' on Hopper (0.74 on Blackwell).
    nvls_latency_us=25.0,
    nvls_efficiency=0.85,
    sources=(
        "NVIDIA/nccl src/graph/tuning.cc (base and hop latencies, NVLS efficiency)",
        "arXiv 2507.04786 'Demystifying NCCL' (LL / LL128 / Simple line formats)",
        "NVIDIA/nccl#689 (a channel is one SM; 2 at the least), #1453 (16 channels on H100 nodes "
        "with a NIC per GPU), #1432 (an NCCL kernel alone keeps 15% of an H100's SMs busy)",
    ),
    # [channels] 16 channels, one SM each, while a collective runs (its log on 8-H100 nodes)
    kernel_sms=16,
)

_IDEAL = Library(
    name="ideal",
    protocols={p: ProtocolCosts(1.0, 0.0, 0.0, 0.0, 0.0) for p in PROTOCOLS},
    nvls_latency_us=0.0,
    nvls_efficiency=1.0,
)


__all__ = ["PROTOCOLS", "Library", "ProtocolCosts"]
