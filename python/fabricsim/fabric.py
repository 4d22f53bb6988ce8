"""A fabric: a topology built of one link type, with endpoints; runs traffic."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.checks import whole_number
from fabricsim.collectives.execution import Execution
from fabricsim.errors import DeadlockError, SimulationLimitError, SpecError, UnsafeSpecWarning
from fabricsim.result import Result, Window
from fabricsim.run_contract import RunResultBase, Workload, check_link_samples, execute
from fabricsim.run_options import EngineMode, RunOptions, resolve
from fabricsim.simulation import Simulation
from fabricsim.specs import (
    ControllerSpec,
    EndpointSpec,
    HbmSpec,
    LinkSpec,
    ProtocolSpec,
    RouterSpec,
    le_bytes,
)
from fabricsim.topology import Topology
from fabricsim.topology import cluster as topology_cluster
from fabricsim.traffic.messages import MessageTraffic, messages
from fabricsim.traffic.synthetic import SyntheticLoad

if TYPE_CHECKING:
    from fabricsim.collectives import Collective, CollectiveResult, Schedule
    from fabricsim.memory.fabric_result import MemoryFabricResult
    from fabricsim.memory.load import MemoryLoad
    from fabricsim.workload.step import TrainingStep
    from fabricsim.workload.step_result import TrainingStepResult


@dataclass(frozen=True)
class DeadlockFreedom:
    """The static deadlock check of a fabric (:meth:`Fabric.check_deadlock_freedom`)."""

    ok: bool
    """The channel dependency graph is acyclic: the routing cannot deadlock."""
    cycle: list[tuple[int, ...]]
    """One cycle of ``(router, port, vc)`` channels, each waiting for the next (empty if ok)."""
    channels: int
    dependencies: int
    routing: str

    def __str__(self) -> str:
        if self.ok:
            return f"deadlock-free: {self.routing}; {self.channels} channels, {self.dependencies} dependencies, no cycle"
        hops = " -> ".join(f"(router {r}, port {p}, VC {v})" for r, p, v in self.cycle)
        return f"NOT deadlock-free ({self.routing}): {hops} -> back to the first"


def _columns(traffic: MessageTraffic) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    if not isinstance(traffic, MessageTraffic):
        raise SpecError(f"traffic: expected fabricsim.traffic messages, got {type(traffic).__name__}")
    cols = (traffic.src, traffic.dst, traffic.bytes, traffic.inject_ps, traffic.vc)
    return tuple(le_bytes(c) for c in cols)  # type: ignore[return-value]


class Fabric:
    """Endpoints joined by links of one type over a topology.

    >>> fab = Fabric(topology=topology.point_to_point(), link=LinkSpec.preset("pcie6_x16"))
    >>> res = fab.run(traffic.messages(src=0, dst=1, bytes=4096))

    With ``hbm``, every endpoint holds memory (an accelerator's HBM stack; the topology's
    ``memory_expanders``, or the ones given here, hold ``expander_memory``, default ``hbm``),
    and the fabric runs memory loads (:func:`fabricsim.traffic.loads`, :func:`~fabricsim.traffic.dma`)
    over ``protocol`` (default :class:`ProtocolSpec` defaults; presets ``"cxl_mem"``,
    ``"nvlink_peer"``) with ``controller`` scheduling each stack.

    ``network_link``: a second kind of link (same flits and VCs as ``link``; its own rate,
    latency, credits and packet format, its payload rate at most ``link``'s: it moves ``link``'s
    flits at its own payload rate) on the links between routers of every routed
    topology (a mesh's, torus's, ring's, fat-tree's, dragonfly's, user graph's; on a
    ``cluster`` its scale-out network: NICs, leaves, spines); injection and ejection links keep
    ``link``. BookSim's folded torus, for one, has 2-cycle channels between routers and 1-cycle
    injection and ejection channels. Refused where no link joins two routers.
    """

    def __init__(
        self,
        topology: Topology,
        link: LinkSpec,
        endpoint: EndpointSpec | None = None,
        router: RouterSpec | None = None,
        hbm: HbmSpec | None = None,
        controller: ControllerSpec | None = None,
        protocol: ProtocolSpec | str | None = None,
        expander_memory: HbmSpec | None = None,
        memory_expanders: Sequence[int] | None = None,
        network_link: LinkSpec | None = None,
    ) -> None:
        if not isinstance(topology, Topology):
            raise SpecError(f"topology: expected a fabricsim.topology builder result, got {topology!r}")
        if not isinstance(link, LinkSpec):
            raise SpecError(f"link: expected a LinkSpec, got {type(link).__name__}", path="link")
        if network_link is not None and not isinstance(network_link, LinkSpec):
            raise SpecError(
                f"network_link: expected a LinkSpec, got {type(network_link).__name__}", path="network_link"
            )
        self.topology = topology
        self.link = link
        self.network_link = network_link
        """The scale-out network's link (a ``cluster``'s NICs, leaves and spines), or None."""
        self.endpoint = endpoint if endpoint is not None else EndpointSpec()
        self.router = router if router is not None else RouterSpec()
        self._deadlock_report: DeadlockFreedom | None = None
        self._class_report: DeadlockFreedom | None = None
        self.hbm = hbm
        self.controller = controller if controller is not None else ControllerSpec()
        if isinstance(protocol, str):
            protocol = ProtocolSpec.preset(protocol)
        self.protocol = protocol if protocol is not None else ProtocolSpec()
        self.expander_memory = expander_memory
        self.memory_expanders: tuple[int, ...] = tuple(
            int(e) for e in (memory_expanders if memory_expanders is not None else topology.memory_expanders)
        )
        self._links: npt.NDArray[Any] | None = None
        self.name = ""
        """A preset's name (empty for fabrics built by hand)."""
        self.description = ""
        self.sources: list[str] = []
        self._json = _core.spec_normalize("fabric", json.dumps(self.to_dict()))
        for message in _core.spec_warnings("fabric", self._json):
            warnings.warn(message, UnsafeSpecWarning, stacklevel=2)

    @property
    def num_endpoints(self) -> int:
        return self.topology.num_endpoints

    @property
    def num_link_directions(self) -> int:
        """Link directions (the rows of a result's ``links``; what a fault's ``link`` names):
        two per link, endpoint links first, then router-to-router channels."""
        return _core.fabric_link_directions(self._json)

    def link_directions(self) -> npt.NDArray[Any]:
        """The link directions as a table (the rows of a result's ``links``, what a fault's
        ``link`` names): ``link`` (the index), ``src`` and ``dst`` (nodes: endpoints, then
        routers) and ``flit_rate`` (flits per cycle of the fabric's clock: below 1 on a
        slower ``network_link``). ``fab.link_index(src, dst)`` finds one."""
        if self._links is None:
            # a one-byte message at flow fidelity: the layout without building routers
            probe = self.run(messages(0, 1 % self.num_endpoints, 1), check_deadlock=False, fidelity="flow")
            links = probe.links
            table = np.zeros(
                len(links),
                dtype=[("link", np.int64), ("src", np.int64), ("dst", np.int64), ("flit_rate", np.float64)],
            )
            table["link"] = np.arange(len(links))
            table["src"], table["dst"], table["flit_rate"] = links["src"], links["dst"], links["flit_rate"]
            self._links = table
        return self._links

    def link_index(self, src: int, dst: int) -> int:
        """The link direction from node ``src`` to node ``dst`` (endpoints, then routers), for
        faults: ``fs.faults.link_slow(fab.link_index(0, 16), rate=0.5)``."""
        t = self.link_directions()
        rows = np.flatnonzero((t["src"] == src) & (t["dst"] == dst))
        if not len(rows):
            touching = sorted({int(d) for d in t["dst"][t["src"] == src]})
            raise SpecError(
                f"link: no link direction from node {src} to node {dst}; node {src} links to {touching[:16]}",
                path="link",
            )
        return int(rows[0])

    @property
    def num_ranks(self) -> int:
        """Endpoints that take part in collectives: all but switch reduction units
        (``topology.reduction_units``, which come last)."""
        return self.topology.num_endpoints - len(self.topology.reduction_units)

    @classmethod
    def preset(cls, name: str, *, nodes: int | None = None, spines: int | None = None) -> Fabric:
        """A built-in fabric (see :meth:`presets`; specs/fabric/*.toml cite their sources). A
        preset that names its memory (``memory = "hbm3"``) comes with ``hbm`` set, so
        ``fab.run(op.with_execution(memory=True))`` runs collectives through every GPU's stack.

        Cluster presets (``dgx_a100_cluster``, ``dgx_h100_cluster``, ``dgx8_cluster4``) take
        ``nodes`` (their node count) and ``spines`` (default: as many as nodes, full
        bisection): ``Fabric.preset("dgx_h100_cluster", nodes=128)`` is 1,024 GPUs."""
        fab = cls._from_toml_text(_core.fabric_preset_toml(name), name)
        if nodes is None and spines is None:
            return fab
        if fab.topology.type != "cluster":
            raise SpecError(
                f"nodes: only cluster presets take a node count; {name} is a {fab.topology.type}",
                path="nodes",
            )
        params = fab.topology.params
        count = whole_number("nodes", nodes if nodes is not None else params["nodes"], 2, 1 << 16)
        top = topology_cluster(
            count,
            int(params["gpus"]),
            int(params["planes"]),
            whole_number("spines", spines, 1, 1 << 16) if spines is not None else count,
        )
        out = fab.replace(topology=top)
        out.name = f"{name}(nodes={count})"
        return out

    _FIELDS = (
        "topology",
        "link",
        "endpoint",
        "router",
        "hbm",
        "controller",
        "protocol",
        "expander_memory",
        "memory_expanders",
        "network_link",
    )
    """The constructor's fields, which :meth:`replace` carries over."""

    def replace(self, **changes: Any) -> Fabric:
        """This fabric with constructor fields changed (checked again), its name, description
        and sources kept: ``fab.replace(network_link=fab.network_link.replace(gbps_per_lane=12.5))``.
        A new ``topology`` brings its own memory expanders unless ``memory_expanders`` is given."""
        unknown = sorted(set(changes) - set(self._FIELDS))
        if unknown:
            raise SpecError(
                f"fabric.replace: unknown field {unknown[0]!r}; fields: {', '.join(self._FIELDS)}",
                path=unknown[0],
            )
        fields = {f: getattr(self, f) for f in self._FIELDS}
        if "topology" in changes and "memory_expanders" not in changes:
            fields["memory_expanders"] = None
        fields.update(changes)
        out = Fabric(**fields)
        out.name, out.description, out.sources = self.name, self.description, list(self.sources)
        return out

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> Fabric:
        """A fabric from a TOML file shaped like specs/fabric/*.toml (``[topology]``,
        ``[link]``, optional ``[network_link]``, ``[endpoint]``, ``[router]``, and ``memory``
        naming an HBM preset); errors name the file and the field."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"fabric: cannot read {p}: {e.strerror}", path="fabric") from None
        return cls._from_toml_text(text, str(p))

    @classmethod
    def _from_toml_text(cls, text: str, origin: str) -> Fabric:
        fields = json.loads(_core.spec_from_toml("fabric", text, origin))
        topo = fields["topology"]
        n = _core.fabric_endpoints(json.dumps(fields))
        fab = cls(
            topology=Topology(
                type=topo["type"], num_endpoints=n, params={k: v for k, v in topo.items() if k != "type"}
            ),
            link=LinkSpec(**fields["link"]),
            network_link=LinkSpec(**fields["network_link"]) if "network_link" in fields else None,
            hbm=HbmSpec.preset(fields["memory"]) if fields.get("memory") else None,
            endpoint=EndpointSpec(**fields.get("endpoint", {})),
            router=RouterSpec(**fields.get("router", {})),
        )
        fab.name = fields.get("name", "")
        fab.description = fields.get("description", "")
        fab.sources = list(fields.get("sources", []))
        return fab

    def to_toml(self) -> str:
        """The fabric as TOML that :meth:`from_toml` reads back to an equal fabric. Its memory
        is written as the name of an HBM preset, so ``hbm`` must be one (or None); the memory
        fabric's protocol, controller and expanders are not part of a fabric file."""
        d: dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        if self.sources:
            d["sources"] = list(self.sources)
        d.update(self.to_dict())
        if self.hbm is not None:
            if (
                not self.hbm.name
                or self.hbm.name not in HbmSpec.presets()
                or HbmSpec.preset(self.hbm.name) != self.hbm
            ):
                raise SpecError(
                    "hbm: a fabric file names its memory by HBM preset; this fabric's hbm is not one",
                    path="hbm",
                )
            d["memory"] = self.hbm.name
        return _core.spec_to_toml("fabric", json.dumps(d))

    @staticmethod
    def presets() -> list[str]:
        """Names of the built-in fabrics."""
        return _core.fabric_preset_names()

    def to_dict(self) -> dict[str, Any]:
        d = {
            "topology": self.topology.to_dict(),
            "link": self.link.to_dict(),
            "endpoint": self.endpoint.to_dict(),
            "router": self.router.to_dict(),
        }
        if self.network_link is not None:
            d["network_link"] = self.network_link.to_dict()
        return d

    def memory_dict(self) -> dict[str, Any]:
        """The memory fabric's spec (the fabric, its memory and protocol) as the engine takes it."""
        if self.hbm is None:
            raise SpecError("hbm: the fabric has no memory", path="hbm")
        return {
            "fabric": self.to_dict(),
            "hbm": self.hbm.to_dict(),
            "controller": self.controller.to_dict(),
            "expanders": list(self.memory_expanders),
            "expander_memory": self.expander_memory.to_dict() if self.expander_memory is not None else None,
            "protocol": self.protocol.to_dict(),
        }

    @overload
    def run(
        self, workload: MessageTraffic | SyntheticLoad, options: RunOptions | None = None, **overrides: Any
    ) -> Result: ...

    @overload
    def run(
        self, workload: Collective | Schedule, options: RunOptions | None = None, **overrides: Any
    ) -> CollectiveResult: ...

    @overload
    def run(
        self, workload: MemoryLoad, options: RunOptions | None = None, **overrides: Any
    ) -> MemoryFabricResult: ...

    @overload
    def run(
        self, workload: TrainingStep, options: RunOptions | None = None, **overrides: Any
    ) -> TrainingStepResult: ...

    @overload
    def run(
        self, workload: Workload, options: RunOptions | None = None, **overrides: Any
    ) -> RunResultBase: ...

    def run(self, workload: Workload, options: RunOptions | None = None, **overrides: Any) -> RunResultBase:
        """Runs ``workload`` on this fabric with ``options`` (a :class:`~fabricsim.RunOptions`;
        ``overrides`` name its fields: ``fab.run(op, seed=1, max_time_ns=500)``) and returns its
        result; every kind of workload runs the same way (:mod:`fabricsim.run_contract`):

        - messages (:mod:`fabricsim.traffic`): a :class:`Result`;
        - a synthetic load (``fs.traffic.synthetic(pattern, rate=...)``), sized for this fabric,
          measured over its window and stopped at its ``drain_factor`` times its injection
          time when it cannot drain: a :class:`Result` with ``packet_latency_cycles``,
          ``offered_rate``, ``accepted_rate`` and ``saturated``;
        - a memory load (:func:`fabricsim.traffic.loads`): a
          :class:`~fabricsim.memory.MemoryFabricResult` (the routing is checked with each
          message class's share of the VCs);
        - a collective (``fs.collectives.all_reduce(...)``) or a schedule: a
          :class:`~fabricsim.collectives.CollectiveResult` (how it executes, e.g. through
          memory, is set on the collective: ``all_reduce(..., memory=True)``).

        Every run: a limit (``max_cycles``, ``max_time_ns``) raises
        :class:`SimulationLimitError` with the result so far as ``partial``; a run that can make
        no progress raises :class:`DeadlockError` naming who waits on what; Ctrl-C raises
        ``KeyboardInterrupt`` within about 0.1 s; the GIL is released while the engine runs.
        """
        moved = sorted(set(overrides) & set(Execution.names()))
        if moved:
            raise SpecError(
                f"{moved[0]}: how a collective executes is a setting of the collective, not of the run: "
                f"all_reduce(..., {moved[0]}=...) or op.with_execution({moved[0]}=...)",
                path=moved[0],
            )
        opts = resolve(options, overrides)
        if not isinstance(workload, Workload):
            raise SpecError(
                "workload: expected messages, a synthetic load, a collective, a schedule or a memory load "
                f"(fabricsim.traffic, fabricsim.collectives), got {type(workload).__name__}",
                path="workload",
            )
        return execute(self, workload, opts)

    def synthetic_messages(self, load: SyntheticLoad) -> MessageTraffic:
        """The messages ``load`` makes on this fabric: its endpoints, its link's cycle, packets
        of whole flits of its link, grid patterns on its grid (a mesh's, torus's or ring's)."""
        t = self.topology
        grid: list[int] | None = None
        if t.type in ("mesh", "torus"):
            grid = list(t.params["dims"])
        elif t.type == "ring":
            grid = [t.num_endpoints]
        payload, overhead = self._flit_payload_and_overhead()
        cycle_ps = float(self.link.resolved()["cycle_ps"])
        vcs = int(_core.fabric_injection_vcs(self._json))
        return load.traffic(self.num_ranks, cycle_ps, payload, overhead, self.link.mtu_bytes, grid, vcs)

    def _flit_payload_and_overhead(self) -> tuple[int, int]:
        """Payload bytes of a flit and overhead bytes of a packet on the fabric's link (a
        packet of ``k`` whole flits carries ``k * payload - overhead`` bytes)."""
        return int(self.link.resolved()["flit_payload_bytes"]), self.link.packet_overhead_bytes

    def _finish(self, traffic: MessageTraffic, options: RunOptions) -> Result:
        """Runs ``traffic`` to its end at ``options.fidelity`` (a stepped :class:`Simulation`
        at ``"cycle"``, the flow model at ``"flow"``)."""
        if options.fidelity == "cycle":
            return self.simulation(traffic, options).finish()
        try:
            raw = _core.run_messages(self._json, options.engine_json(), *_columns(traffic))
        except (DeadlockError, SimulationLimitError) as e:
            if e.partial_raw is not None:
                e.partial = Result(e.partial_raw, traffic)
            raise
        return Result(raw, traffic)

    def _run_window(self, load: SyntheticLoad, options: RunOptions) -> Result:
        """Runs a synthetic load sized for this fabric; a run the drain limit stops (past
        saturation) returns its partial result instead of raising (a user's own limit still
        raises)."""
        traffic = self.synthetic_messages(load)
        own_limit = options.max_cycles is not None
        drain_limit = load.cycles * load.drain_factor
        limit = options.max_cycles if options.max_cycles is not None else drain_limit
        try:
            res = self._finish(traffic, options.replace(max_cycles=limit))
            stopped = False
        except SimulationLimitError as e:
            # only the drain limit is the load's own; a user's max_cycles or max_time_ns raises
            if own_limit or not isinstance(e.partial, Result) or e.partial.cycles < drain_limit:
                raise
            res, stopped = e.partial, True
        payload, overhead = self._flit_payload_and_overhead()
        res.window = Window(load.warmup_cycles, load.cycles, payload, overhead, self.num_ranks, stopped)
        res.limit_expected = stopped
        return res

    def check_deadlock_freedom(self) -> DeadlockFreedom:
        """Proves the topology's routing deadlock-free with the link's VCs (the channel
        dependency graph is acyclic), or returns one cycle of waiting channels."""
        if self._deadlock_report is not None:
            return self._deadlock_report
        raw = _core.check_deadlock_freedom(self._json)
        if raw is None:
            return DeadlockFreedom(ok=True, cycle=[], channels=0, dependencies=0, routing="none (no routers)")
        self._deadlock_report = DeadlockFreedom(
            ok=bool(raw["ok"]),
            cycle=[tuple(c) for c in raw["cycle"]],
            channels=int(raw["channels"]),
            dependencies=int(raw["dependencies"]),
            routing=str(raw["routing"]),
        )
        return self._deadlock_report

    def _memory_class_report(self) -> DeadlockFreedom:
        """The static check with the VCs one message class gets (each class is routed in its
        own share of the VCs, so each share must be deadlock-free on its own)."""
        classes = 2 if self.protocol.message_classes == "separate" else 1
        if classes == 1:
            return self.check_deadlock_freedom()
        if self._class_report is None:
            vcs = max(1, (self.router.vcs or self.link.vcs) // classes)
            share = Fabric(
                topology=self.topology,
                link=self.link.replace(vcs=vcs),
                endpoint=self.endpoint,
                router=self.router.replace(vcs=None if self.router.vcs is None else vcs),
                network_link=self.network_link.replace(vcs=vcs) if self.network_link is not None else None,
            )
            self._class_report = share.check_deadlock_freedom()
        return self._class_report

    def simulation(
        self,
        traffic: MessageTraffic | SyntheticLoad | None = None,
        options: RunOptions | None = None,
        **overrides: Any,
    ) -> Simulation:
        """A run you step through (same options as :meth:`run`): see :class:`Simulation`. A
        synthetic load runs as its messages on this fabric (:meth:`synthetic_messages`)."""
        opts = resolve(options, overrides)
        if opts.link_samples:
            check_link_samples(self, opts.link_samples)
        if isinstance(traffic, SyntheticLoad):
            traffic = self.synthetic_messages(traffic)
        traffic = traffic if traffic is not None else messages([], [], [])
        return Simulation(
            _core.CoreSimulation(self._json, opts.engine_json(), *_columns(traffic)), traffic, opts
        )

    def __repr__(self) -> str:
        return f"Fabric(topology={self.topology!r}, link={self.link.name or self.link!r})"


__all__ = ["DeadlockFreedom", "EngineMode", "Fabric"]
