"""Hypothesis strategies for fabricsim inputs. Every value they draw is valid, and they
shrink toward small fabrics and short traffic, so a failing case is easy to read.

Any field of :func:`link_specs` can be pinned or given its own strategy:

>>> link_specs(vcs=1, credits_per_vc=st.integers(1, 4))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from fabricsim.specs import LinkSpec
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
    }
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


__all__ = ["link_specs", "message_traffic"]
