"""Hypothesis strategies for fabricsim inputs. Every value they draw is valid, and they
shrink toward small fabrics and short traffic, so a failing case is easy to read.

Any field of :func:`link_specs` can be pinned or given its own strategy:

>>> link_specs(vcs=1, credits_per_vc=st.integers(1, 4))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from fabricsim import faults
from fabricsim.faults import Fault
from fabricsim.specs import LinkSpec
from fabricsim.testing.case import Case
from fabricsim.traffic import MessageTraffic, messages


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


__all__ = ["cases", "fault_plans", "link_specs", "message_traffic", "traffic"]
