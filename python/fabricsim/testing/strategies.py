"""Hypothesis strategies for fabricsim inputs. Every value they draw is valid, and they
shrink toward small fabrics and short traffic, so a failing case is easy to read.

Any field of :func:`link_specs` can be pinned or given its own strategy:

>>> link_specs(vcs=1, credits_per_vc=st.integers(1, 4))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from fabricsim import faults, topology
from fabricsim.collectives.api import (
    Collective,
    all_gather,
    all_reduce,
    all_to_all,
    broadcast,
    reduce,
    reduce_scatter,
)
from fabricsim.fabric import Fabric
from fabricsim.faults import Fault
from fabricsim.memory.load import MemoryLoad, loads
from fabricsim.specs import HbmSpec, LinkSpec, RouterSpec
from fabricsim.testing.case import Case
from fabricsim.topology import Topology
from fabricsim.traffic.messages import MessageTraffic, messages


def _field(overrides: dict[str, Any], name: str, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    if name not in overrides:
        return default
    value = overrides[name]
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


@st.composite
def link_specs(draw: st.DrawFn, /, **overrides: Any) -> LinkSpec:
    """Valid :class:`LinkSpec` values over a wide but fast-to-simulate range."""
    unknown = set(overrides) - set(LinkSpec.fields())
    if unknown:
        raise TypeError(f"link_specs: unknown field(s) {sorted(unknown)}; fields: {LinkSpec.fields()}")

    def f(name: str, default: st.SearchStrategy[Any]) -> Any:
        return draw(_field(overrides, name, default))

    flit_bytes = f("flit_bytes", st.integers(8, 512))
    fields = {
        "name": f("name", st.just("fuzz")),
        "lanes": f("lanes", st.integers(1, 32)),
        "gbps_per_lane": f(
            "gbps_per_lane", st.sampled_from([8.0, 16.0, 25.0, 32.0, 53.125, 64.0, 100.0, 112.5])
        ),
        "flit_bytes": flit_bytes,
        "flit_overhead_bytes": f("flit_overhead_bytes", st.integers(0, flit_bytes // 2)),
        "packet_overhead_bytes": f("packet_overhead_bytes", st.integers(0, 32)),
        "mtu_bytes": f("mtu_bytes", st.integers(1, 2048)),
        "packing": f("packing", st.sampled_from(["padded", "packed"])),
        "latency_ns": f("latency_ns", st.integers(0, 400).map(lambda x: x / 8)),
        "vcs": f("vcs", st.integers(1, 4)),
        "credits_per_vc": f("credits_per_vc", st.integers(1, 48)),
        "credit_return_ns": f("credit_return_ns", st.integers(0, 400).map(lambda x: x / 8)),
        # Link layer: error rates that a short run sees, and retry settings. Only safe
        # values by default (sequence space sized by the engine); pin fields to fuzz
        # unsafe ones.
        "ber": f("ber", st.sampled_from([0.0, 0.0, 1e-6, 1e-4, 1e-3])),
        "fec_correctable_symbols": f("fec_correctable_symbols", st.integers(0, 2)),
        "retry": f("retry", st.sampled_from(["go_back_n", "selective_repeat"])),
        "replay_buffer_flits": f("replay_buffer_flits", st.one_of(st.none(), st.integers(1, 64))),
        "ack_coalesce_flits": f("ack_coalesce_flits", st.integers(1, 8)),
    }
    for optional in (
        "seq_bits",
        "ack_timer_ns",
        "replay_timeout_ns",
        "burst",
        "credit_coalesce_flits",
        "crc_bits",
    ):
        if optional in overrides:
            fields[optional] = f(optional, st.nothing())
    return LinkSpec(**fields)


@st.composite
def message_traffic(
    draw: st.DrawFn,
    num_endpoints: int = 2,
    vcs: int = 1,
    max_messages: int = 24,
    max_bytes: int = 4096,
    max_time_ns: float = 200.0,
) -> MessageTraffic:
    """Valid message traffic among ``num_endpoints`` endpoints on ``vcs`` VCs."""
    n = draw(st.integers(0, max_messages))
    src = draw(st.lists(st.integers(0, num_endpoints - 1), min_size=n, max_size=n))
    hop = draw(st.lists(st.integers(1, num_endpoints - 1), min_size=n, max_size=n))
    dst = [(s + h) % num_endpoints for s, h in zip(src, hop, strict=True)]
    nbytes = draw(st.lists(st.integers(1, max_bytes), min_size=n, max_size=n))
    at_ps = draw(st.lists(st.integers(0, int(max_time_ns * 1000)), min_size=n, max_size=n))
    vc = draw(st.lists(st.integers(0, vcs - 1), min_size=n, max_size=n))
    cols = [np.asarray(c, dtype=np.int64) for c in (src, dst, nbytes, at_ps, vc)]
    return messages(cols[0], cols[1], cols[2], at_ps=cols[3], vc=cols[4])


traffic = message_traffic
"""Alias of :func:`message_traffic` (the name the docs use for traffic strategies)."""


@st.composite
def fault_plans(
    draw: st.DrawFn,
    links: int = 2,
    max_faults: int = 3,
    max_flit: int = 64,
    max_time_ns: float = 500.0,
    kinds: tuple[str, ...] = ("corrupt_flit", "drop_ack", "link_down"),
) -> tuple[Fault, ...]:
    """Scripted fault plans over ``links`` link directions. ``drop_credit`` (a permanent credit
    leak) is left out by default: include it in ``kinds`` to fuzz leak handling."""
    n = draw(st.integers(0, max_faults))
    plan = []
    for _ in range(n):
        kind = draw(st.sampled_from(kinds))
        link = draw(st.integers(0, links - 1))
        at = draw(st.integers(0, int(max_time_ns)).map(float))
        if kind == "corrupt_flit":
            plan.append(faults.corrupt_flit(link, draw(st.integers(0, max_flit))))
        elif kind == "drop_ack":
            plan.append(faults.drop_ack(link, at))
        elif kind == "drop_credit":
            plan.append(faults.drop_credit(link, at))
        else:
            plan.append(faults.link_down(link, at, draw(st.integers(1, 50).map(float))))
    return tuple(plan)


@st.composite
def cases(
    draw: st.DrawFn,
    links: st.SearchStrategy[LinkSpec] | None = None,
    plans: st.SearchStrategy[tuple[Fault, ...]] | None = None,
    max_messages: int = 12,
    max_bytes: int = 2048,
) -> Case:
    """Whole runs: a link (default :func:`link_specs`), traffic on its VCs, a fault plan
    (default :func:`fault_plans`) and a seed. Shrinks to short traffic and few faults."""
    link = draw(links if links is not None else link_specs())
    traffic = draw(message_traffic(vcs=link.vcs, max_messages=max_messages, max_bytes=max_bytes))
    plan = draw(plans if plans is not None else fault_plans())
    seed = draw(st.integers(0, 2**32 - 1))
    return Case(link=link, traffic=traffic, faults=plan, seed=seed)


NOC = LinkSpec.preset("noc")
"""The on-chip link routed fabrics are drawn with (1 ns cycles, 16 B flits)."""

_GRIDS: tuple[tuple[Topology, int], ...] = (
    (topology.mesh((2, 2)), 1),
    (topology.mesh((3, 3)), 1),
    (topology.mesh((4, 2, 2)), 1),
    (topology.torus((3, 4)), 2),
    (topology.torus((2, 2, 3)), 2),
    (topology.ring(5), 2),
    (topology.fat_tree(4), 1),
    (topology.switch_star(4, planes=2), 1),
)
"""Routed topologies and the VC classes their routing needs to be deadlock-free."""


@st.composite
def routed_fabrics(draw: st.DrawFn, /, retry: bool = False) -> Fabric:
    """Routed fabrics that the static check proves deadlock-free: meshes, dateline tori and
    rings, a two-level fat-tree and a two-plane switch star, with random VCs per routing
    class, router buffers, lumped or staged pipeline, switch and VC allocators (iSLIP rounds),
    switching and MTU. ``retry``: the
    links run go-back-N (so scripted faults on any link direction are recovered)."""
    topo, classes = draw(st.sampled_from(_GRIDS))
    vcs = classes * draw(st.integers(1, 2))
    mtu_flits = draw(st.integers(1, 4))
    switching = draw(st.sampled_from(["wormhole", "virtual_cut_through"]))
    low = mtu_flits if switching == "virtual_cut_through" else 1  # cut-through holds a packet
    staged = draw(st.booleans())  # per-stage delays (as BookSim's router) or the lumped pipeline
    router = RouterSpec(
        vcs=vcs,
        buffer_flits=draw(st.integers(max(low, 2 if retry else 1), 6)),
        pipeline_cycles=0 if staged else draw(st.integers(0, 3)),
        stages={} if staged else None,
        allocator=draw(st.sampled_from(["round_robin", "oldest_first", "islip"])),
        vc_allocator=draw(st.sampled_from(["in_turn", "islip"])),
        islip_iterations=draw(st.sampled_from([None, 1, 2])),
        switching=switching,
    )
    link = NOC.replace(mtu_bytes=16 * mtu_flits, credits_per_vc=draw(st.integers(mtu_flits, 8)))
    if retry:
        link = link.replace(retry="go_back_n", ber=draw(st.sampled_from([0.0, 1e-4])))
    return Fabric(topology=topo, link=link, router=router)


@st.composite
def routed_cases(draw: st.DrawFn, /, max_messages: int = 40, max_faults: int = 3) -> Case:
    """Whole routed runs: a :func:`routed_fabrics` fabric with link-level retry, traffic on its
    VCs, scripted faults on any of its link directions (router-to-router ones too) and a
    seed; prints as TOML and replays (:class:`~fabricsim.testing.Case`)."""
    fab = draw(routed_fabrics(retry=True))
    vcs = fab.router.vcs or fab.link.vcs
    traffic = draw(
        message_traffic(
            num_endpoints=fab.num_endpoints, vcs=vcs, max_messages=max_messages, max_bytes=200, max_time_ns=60
        )
    )
    plan = draw(fault_plans(links=fab.num_link_directions, max_faults=max_faults, max_time_ns=200.0))
    return Case(
        link=fab.link,
        traffic=traffic,
        faults=plan,
        seed=draw(st.integers(0, 2**32 - 1)),
        topology=fab.topology,
        router=fab.router,
    )


_ANY_RANKS = {
    "all_reduce": ("ring", "direct", "halving_doubling", "tree"),
    "reduce_scatter": ("ring", "direct", "halving_doubling"),
    "all_gather": ("ring", "direct", "halving_doubling"),
    "all_to_all": ("direct", "pairwise"),
    "broadcast": ("ring", "tree"),
    "reduce": ("ring", "tree"),
}
"""The algorithms that run on any number of ranks (hierarchical, torus and nvls need a
shape)."""

_BUILD: dict[str, Callable[..., Collective]] = {
    "all_reduce": all_reduce,
    "reduce_scatter": reduce_scatter,
    "all_gather": all_gather,
    "all_to_all": all_to_all,
    "broadcast": broadcast,
    "reduce": reduce,
}


@st.composite
def collectives(
    draw: st.DrawFn, /, ranks: int = 8, max_bytes: int = 64 << 10, max_chunks: int = 4
) -> Collective:
    """Collectives of every kind with an algorithm that runs on ``ranks`` ranks, a size of
    1 B to ``max_bytes`` and 1 to ``max_chunks`` chunks (a root in range where one is
    needed)."""
    kind = draw(st.sampled_from(sorted(_ANY_RANKS)))
    algorithm = draw(st.sampled_from(_ANY_RANKS[kind]))
    size = draw(st.integers(1, max_bytes))
    chunks = draw(st.integers(1, max_chunks))
    if kind in ("broadcast", "reduce"):
        op: Collective = _BUILD[kind](size, algorithm, chunks, root=draw(st.integers(0, ranks - 1)))
    else:
        op = _BUILD[kind](size, algorithm, chunks)
    return op


def memory_fabrics(expanders: int = 1) -> Fabric:
    """A small memory fabric: four accelerators and ``expanders`` expanders on a CXL-like
    switch, HBM3 behind each (the fabric :func:`memory_loads` draws for by default)."""
    return Fabric(
        topology=topology.switch_star(4, memory_expanders=expanders),
        link=LinkSpec.preset("cxl3_256b"),
        hbm=HbmSpec.preset("hbm3"),
        protocol="cxl_mem",
    )


@st.composite
def memory_loads(
    draw: st.DrawFn, /, fabric: Fabric | None = None, max_requesters: int = 3, max_requests: int = 200
) -> MemoryLoad:
    """Memory loads on ``fabric`` (default :func:`memory_fabrics`): 1 to ``max_requesters``
    load/store units on its accelerators, each to its own HBM, a peer's, an expander or the
    global space, random or streaming, reads and writes, requests of 32 B up to the protocol's
    ``max_request_bytes``, 1 to 64 in flight."""
    fab = fabric if fabric is not None else memory_fabrics()
    accelerators = [e for e in range(fab.num_endpoints) if e not in fab.memory_expanders]
    targets = ["local", "global"] + [f"peer:{e}" for e in accelerators]
    targets += [f"expander:{k}" for k in range(len(fab.memory_expanders))]
    sizes = [b for b in (32, 64, 128, 256) if b <= int(fab.protocol.max_request_bytes)]
    load = MemoryLoad()
    for _ in range(draw(st.integers(1, max_requesters))):
        who = draw(st.sampled_from(accelerators))
        target = draw(st.sampled_from([t for t in targets if t != f"peer:{who}"]))
        load = load + loads(
            requester=who,
            target=target,
            pattern=draw(st.sampled_from(["random", "stream"])),
            bytes=draw(st.sampled_from(sizes)),
            outstanding=draw(st.integers(1, 64)),
            requests=draw(st.integers(1, max_requests)),
            read_ratio=draw(st.sampled_from([1.0, 0.7, 0.0])),
        )
    return load


__all__ = [
    "NOC",
    "cases",
    "collectives",
    "fault_plans",
    "link_specs",
    "memory_fabrics",
    "memory_loads",
    "message_traffic",
    "routed_cases",
    "routed_fabrics",
    "traffic",
]
