"""Specs: everything a user can set, validated by the Rust core.

A spec is one Rust struct with two spellings: a TOML file (``specs/`` and the
presets) and keyword arguments. Both go through the same Rust validation, so
an error always names the field, the value and what is allowed.
"""

from __future__ import annotations

import copy
import json
import math
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from fabricsim import _core
from fabricsim.errors import SpecError

S = TypeVar("S", bound="Spec")


def to_json(kind: str, fields: dict[str, Any]) -> str:
    """``fields`` as JSON for the engine. JSON has no NaN or infinity: such a value is a
    SpecError naming the field (``kind.name``), not a parse error."""
    for name, value in fields.items():
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            path = f"{kind}.{name}"
            raise SpecError(f"{path}: must be a finite number, got {value}", path=path)

    def plain(value: Any) -> Any:
        # numpy scalars and arrays are what a sweep over np.arange hands in
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        bad = next((k for k, v in fields.items() if v is value), "?")
        raise SpecError(
            f"{kind}.{bad}: must be a number, a string, a bool or a list of them, got {type(value).__name__} {value!r}",
            path=f"{kind}.{bad}",
        )

    return json.dumps(fields, default=plain)


def le_bytes(column: Any) -> bytes:
    """A column as little-endian int64 bytes, the engine's input format."""
    import numpy as np

    return np.ascontiguousarray(column, dtype="<i8").tobytes()


class Spec:
    """Base of the spec classes: an immutable, validated set of fields."""

    _kind: ClassVar[str]
    _fields: dict[str, Any]

    def __init__(self, **fields: Any) -> None:
        canonical = _core.spec_normalize(self._kind, to_json(self._kind, fields))
        object.__setattr__(self, "_fields", json.loads(canonical))

    @classmethod
    def _from_canonical(cls: type[S], canonical: str) -> S:
        spec = cls.__new__(cls)
        object.__setattr__(spec, "_fields", json.loads(canonical))
        return spec

    @classmethod
    def from_dict(cls: type[S], fields: dict[str, Any]) -> S:
        """The spec with these fields (same as ``cls(**fields)``)."""
        return cls(**fields)

    @classmethod
    def from_toml(cls: type[S], path: str | PathLike[str]) -> S:
        """Loads a spec from a TOML file; errors name the file and the field."""
        p = Path(path)
        return cls._from_canonical(_core.spec_from_toml(cls._kind, p.read_text(encoding="utf-8"), str(p)))

    @classmethod
    def from_toml_str(cls: type[S], text: str, origin: str = "<string>") -> S:
        """Loads a spec from TOML text."""
        return cls._from_canonical(_core.spec_from_toml(cls._kind, text, origin))

    def replace(self: S, **changes: Any) -> S:
        """A copy with some fields changed (validated again)."""
        return type(self)(**{**self._fields, **changes})

    def to_dict(self) -> dict[str, Any]:
        """All fields, defaults included, as plain Python values."""
        return copy.deepcopy(self._fields)

    def to_json(self) -> str:
        return json.dumps(self._fields)

    def to_toml(self) -> str:
        """The spec as TOML that ``from_toml`` reads back to an equal spec."""
        return _core.spec_to_toml(self._kind, self.to_json())

    @classmethod
    def fields(cls) -> list[str]:
        """The names of the spec's fields."""
        return [k for k in cls.__annotations__ if not k.startswith("_")]

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return copy.deepcopy(fields[name])
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._fields == self._fields

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self._fields, sort_keys=True)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self._fields.items() if k not in ("description", "sources")
        )
        return f"{type(self).__name__}({shown})"


class LinkSpec(Spec):
    """One link type: lanes and rate, flits, MTU, latency, virtual channels and credits.

    One cycle of a link is the time to serialize one flit
    (``flit_bytes * 8 / (lanes * gbps_per_lane)``); latencies are rounded up to whole
    cycles (see :meth:`resolved`).
    """

    _kind: ClassVar[str] = "link"

    name: str
    description: str
    sources: list[str]
    lanes: int
    gbps_per_lane: float
    flit_bytes: int
    flit_overhead_bytes: int
    packet_overhead_bytes: int
    mtu_bytes: int
    packing: Literal["padded", "packed"]
    latency_ns: float
    vcs: int
    credits_per_vc: int
    credit_return_ns: float
    credit_coalesce_flits: int
    ber: float
    burst: dict[str, float] | None
    fec_symbol_bits: int
    fec_correctable_symbols: int
    crc_bits: int
    retry: Literal["go_back_n", "selective_repeat", "none"]
    replay_buffer_flits: int | None
    seq_bits: int | None
    ack_coalesce_flits: int
    ack_timer_ns: float | None
    replay_timeout_ns: float | None

    @classmethod
    def preset(cls, name: str) -> LinkSpec:
        """A built-in preset (see :meth:`presets`); its ``sources`` cite the public figures."""
        return cls.from_toml_str(_core.link_preset_toml(name), origin=name)

    @staticmethod
    def presets() -> list[str]:
        """Names of the built-in link presets."""
        return _core.link_preset_names()

    def warnings(self) -> list[str]:
        """Legal but unsafe settings, explained (empty when the spec is safe). A
        :class:`~fabricsim.Fabric` built with this link warns with each of them."""
        return _core.spec_warnings(self._kind, self.to_json())

    def resolved(self) -> dict[str, Any]:
        """The engine's view: ``cycle_ps`` (flit time), ``latency_cycles``,
        ``credit_return_cycles``, ``credit_round_trip_cycles``, ``raw_gbps``,
        ``flit_payload_bytes``, ``packet_flits_at_mtu``, ``max_goodput_gbps``; and for the link
        layer ``flit_error_prob`` (a flit fails FEC, CRC catches it or not),
        ``flit_undetected_prob``, ``flit_fec_corrected_prob``, ``seq_bits``,
        ``replay_buffer_flits``, ``ack_timer_cycles``, ``ack_round_trip_cycles`` and
        ``replay_timeout_cycles``."""
        return _core.link_resolve(self.to_json())

    def message_flits(self, nbytes: int) -> int:
        """Flits a message of ``nbytes`` takes (packets of ``mtu_bytes``, each padded to whole flits)."""
        return _core.link_message_flits(self.to_json(), nbytes)


class EndpointSpec(Spec):
    """What an endpoint's network interface does with arriving flits.

    ``drain_gbps``: rate at which the receiver consumes flits (Gb/s of wire bytes); ``None``
    drains as fast as flits arrive; ``0`` is a stuck consumer (runs end in a DeadlockError).
    """

    _kind: ClassVar[str] = "endpoint"

    drain_gbps: float | None


class RouterSpec(Spec):
    """The routers of a routed topology.

    - ``vcs``: VCs per port. When given, every link of the fabric carries this many in place
      of the link's ``vcs`` (a packet keeps its VC class end to end, so all links have the
      same VCs). Default: the link's.
    - ``buffer_flits``: flits of buffer per VC at each router input, i.e. the credits of
      every link into a router. Default: the link's ``credits_per_vc``, which endpoints'
      receive buffers keep either way.

    - Pipeline, lumped: ``pipeline_cycles``, the cycles a forwarded flit spends in the
      pipeline beyond the one in which it is routed, allocated and switched (3 gives
      BookSim's 4-stage router at zero load: 5H + 2 on 1-cycle links).
    - Pipeline, per stage: ``stages={"routing": 1, "vc_allocation": 1, "switch_allocation": 1,
      "traversal": 1}`` (each defaults to 1). A head flit is routed when it reaches the front
      of its buffer, may win an output VC ``routing`` cycles later, the switch
      ``vc_allocation`` cycles after that, and reaches its output link ``switch_allocation +
      traversal`` cycles after winning the switch; body flits only pass switch allocation and
      traversal. A router then costs the sum per hop at zero load; VC and switch allocation no
      longer happen in the same cycle. ``lookahead_routing=True`` computes routes one hop
      ahead and drops the routing stage's delay.
    - ``allocator`` (switch allocation): ``"round_robin"`` (default, separable input-first),
      ``"oldest_first"`` (the flit whose message was offered at its source earliest wins, in VC
      and switch allocation) or ``"islip"`` (iSLIP rounds over every ready VC).
    - ``vc_allocator``: ``"in_turn"`` (default: one pass over the waiting input VCs, each taking
      the next free VC of its class on its output) or ``"islip"`` (BookSim's: each waiting input
      VC requests every free output VC it may take; output VCs grant, input VCs accept,
      round-robin).
    - ``islip_iterations``: rounds of each iSLIP allocator (default 3; BookSim's preset: 1).
    - ``switching``: ``"wormhole"`` (default) or ``"virtual_cut_through"``: a head flit wins
      an output VC only when the buffer behind it has room for its whole packet (needs padded
      packets and ``credits_per_vc`` at least one MTU packet's flits).

    - ``routing``: ``"topology"`` (default: the topology's own routing function) or
      ``"shortest_path"`` (shortest-path tables on the router graph, on any topology whose
      routers form one connected graph; the static check proves or refutes deadlock freedom
      with the VCs given).

    Presets (:meth:`preset`, specs/router/): ``"booksim_4stage"`` (BookSim2's input-queued
    router: four stages, iSLIP VC and switch allocation) and ``"nvswitch_like"`` (the switch of the NVSwitch-shaped fabric presets).
    """

    @classmethod
    def preset(cls, name: str) -> RouterSpec:
        """A built-in router (see :meth:`presets`; specs/router/*.toml cite their sources and
        name their assumptions)."""
        return cls.from_toml_str(_core.router_preset_toml(name), origin=name)

    @staticmethod
    def presets() -> list[str]:
        return _core.router_preset_names()

    _kind: ClassVar[str] = "router"

    name: str
    description: str
    sources: list[str]
    pipeline_cycles: int
    stages: dict[str, int] | None
    lookahead_routing: bool
    allocator: str
    vc_allocator: Literal["in_turn", "islip"]
    islip_iterations: int | None
    switching: Literal["wormhole", "virtual_cut_through"]
    vcs: int | None
    buffer_flits: int | None
    routing: Literal["topology", "shortest_path"]


class HbmSpec(Spec):
    """One HBM stack: organization (channels, pseudo-channels, stack IDs, bank groups, banks,
    rows, columns, pins, burst) and its JEDEC timing table in command-clock (CK) cycles
    (``timing``: ``bl``, ``cl``, ``cwl``, ``rcd_rd``, ``rcd_wr``, ``rp``, ``ras``, ``rc``,
    ``wr``, ``rtp``, ``ccd_s``/``ccd_l``, ``rrd_s``/``rrd_l``, ``wtr_s``/``wtr_l``, ``rtw``,
    ``faw``, ``rfc``, ``rfc_sb``, ``refi``, ``refi_sb``).

    Run requests on it with :func:`fabricsim.run_memory`; check a command trace with
    :func:`fabricsim.testing.check_dram_timing`.
    """

    _kind: ClassVar[str] = "hbm"

    name: str
    description: str
    sources: list[str]
    standard: str
    channels: int
    pseudo_channels: int
    sids: int
    bank_groups: int
    banks_per_group: int
    rows: int
    columns: int
    dq_bits: int
    burst_length: int
    data_rate_mbps: float
    tck_ns: float
    timing: dict[str, int]

    @classmethod
    def preset(cls, name: str) -> HbmSpec:
        """A built-in preset (see :meth:`presets`); its ``sources`` cite the public figures."""
        return cls.from_toml_str(_core.hbm_preset_toml(name), origin=name)

    @staticmethod
    def presets() -> list[str]:
        return _core.hbm_preset_names()

    @property
    def peak_gbyte_per_s(self) -> float:
        """Peak bandwidth of the stack, GB/s (every pseudo-channel streaming)."""
        return float(_core.hbm_resolve(self.to_json())["peak_gbyte_per_s"])

    def resolved(self) -> dict[str, Any]:
        """``peak_gbyte_per_s``, ``access_bytes`` (one RD/WR), ``capacity_bytes``,
        ``banks_per_pseudo_channel``."""
        return _core.hbm_resolve(self.to_json())


class ControllerSpec(Spec):
    """How each pseudo-channel's memory controller schedules (docs/hbm.md).

    - ``scheduler``: ``"frfcfs"`` (row hits first, then oldest; a row with queued hits is not
      closed until ``starvation_cap`` hits were served from it while another row waits) or
      ``"fcfs"`` (each bank serves its requests in arrival order).
    - ``page_policy``: ``"open"``, ``"closed"`` (close a row no queued request hits) or
      ``"open_timeout"`` (close it after ``page_timeout_cycles`` idle).
    - ``read_queue``, ``write_queue``: entries per pseudo-channel (one per access);
      writes drain from ``write_high`` queued down to ``write_low``.
    - ``refresh``: ``"all_bank"`` (REFab every tREFI), ``"per_bank"`` (REFsb every tREFIsb,
      banks in turn) or ``"off"``.
    - ``mapping``: address bits, most significant field first (``Ro`` row, ``Sd`` stack ID,
      ``Ba`` bank, ``Bg`` bank group, ``Co`` column, ``Pc`` pseudo-channel, ``Ch`` channel);
      ``xor_bank_hash`` XORs the bank bits with low row bits.
    """

    _kind: ClassVar[str] = "controller"

    scheduler: Literal["frfcfs", "fcfs"]
    starvation_cap: int
    page_policy: Literal["open", "closed", "open_timeout"]
    page_timeout_cycles: int
    read_queue: int
    write_queue: int
    write_high: int
    write_low: int
    refresh: Literal["all_bank", "per_bank", "off"]
    mapping: str
    xor_bank_hash: bool


class ProtocolSpec(Spec):
    """The request / response protocol of the memory fabric (docs/memory_fabric.md).

    - ``request_header_bytes``: a read request's size; a write request adds its data.
    - ``response_header_bytes``: a write completion's size; a read response adds its data.
    - ``message_classes``: ``"separate"`` (requests on the first half of the VCs, responses on
      the second: protocol deadlock cannot happen) or ``"shared"`` (one class; can deadlock).
    - ``interleave_bytes``: block size of the global address space's interleaving over devices.
    - ``device_queue``: requests a device holds, from taking a request's first flit until its
      response's last flit leaves; when full it takes no more and requests back up.
    - ``max_request_bytes``: the largest request a requester may issue.
    """

    _kind: ClassVar[str] = "protocol"

    name: str
    description: str
    sources: list[str]
    request_header_bytes: int
    response_header_bytes: int
    message_classes: Literal["separate", "shared"]
    interleave_bytes: int
    device_queue: int
    max_request_bytes: int

    @classmethod
    def preset(cls, name: str) -> ProtocolSpec:
        """A built-in protocol (``"cxl_mem"``, ``"nvlink_peer"``; see :meth:`presets`)."""
        return cls.from_toml_str(_core.protocol_preset_toml(name), origin=name)

    @staticmethod
    def presets() -> list[str]:
        return _core.protocol_preset_names()


__all__ = ["ControllerSpec", "EndpointSpec", "HbmSpec", "LinkSpec", "ProtocolSpec", "RouterSpec", "Spec"]
