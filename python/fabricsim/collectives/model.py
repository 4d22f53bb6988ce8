"""The alpha-beta estimate of a collective (the textbook cost model, Thakur, Rabenseifner and
Gropp 2005; Chan et al. 2007), to put beside each simulated result: ``alpha`` is the time of
one small message between neighbouring ranks, ``beta`` the time per byte of one rank's
injection bandwidth (its ports' goodput)."""

from __future__ import annotations

import math

from fabricsim.collectives.ops import runs_channels


def alpha_beta_ns(
    kind: str,
    algorithm: str,
    n: int,
    size: int,
    alpha_ns: float,
    gbyte_per_s: float,
    chunks: int = 1,
    dims: tuple[int, ...] | None = None,
    local: int | None = None,
    out_gbyte_per_s: float | None = None,
) -> float:
    """Estimated time (ns) of a collective of ``size`` bytes over ``n`` ranks.

    Steps x alpha plus the bytes each rank must inject over its bandwidth (``gbyte_per_s``, GB/s =
    bytes/ns): ``2(n-1)/n S`` for all-reduce, ``(n-1)/n S`` for reduce-scatter, all-gather and
    all-to-all, ``S`` for broadcast and reduce (pipelined over ``chunks``). ``dims``: the
    torus shape of a ``torus`` all-reduce (``2 sum(k - 1)`` steps). ``nvls`` (in-network
    reduction): two steps and ``S`` per rank, sent and received at once, in ``chunks`` rounds
    and one more (the pipeline's fill). ``hierarchical`` with
    ``local`` ranks per node and ``out_gbyte_per_s``, each rank's bandwidth between nodes (a
    cluster's NIC): ring reduce-scatter and all-gather inside nodes at ``gbyte_per_s``, ring
    all-reduce of a ``1/local`` segment across nodes at ``out_gbyte_per_s``, one after the other
    (``hierarchical_tree``: the segment's ``chunks`` on a double binary tree across nodes); a
    ``ring`` over nodes of ``local`` ranks crosses them at ``out_gbyte_per_s`` times the NICs its
    chunks' rings leave a node by (``min(chunks, local)``); any other algorithm at
    ``out_gbyte_per_s``."""
    log = math.ceil(math.log2(n)) if n > 1 else 0
    frac = (n - 1) / n
    steps: float
    data: float
    hierarchical = algorithm in ("hierarchical", "hierarchical_tree")
    if kind == "all_reduce" and hierarchical and local and out_gbyte_per_s and n % local == 0:
        nodes = n // local
        inside = 2 * (local - 1) / local * size / gbyte_per_s + 2 * (local - 1) * alpha_ns
        if algorithm == "hierarchical_tree":
            # each rail's 1/local segment on a double binary tree over the nodes, its chunks pipelined
            across = 0.0
            if nodes > 1:
                across = alpha_beta_ns(kind, "tree", nodes, size // local, alpha_ns, out_gbyte_per_s, chunks)
            return inside + across
        across = 2 * (nodes - 1) / nodes * size / local / out_gbyte_per_s + 2 * (nodes - 1) * alpha_ns
        return inside + across
    # a ring's channels across nodes, each leaving a node by another NIC
    channels = min(chunks, local or 1) if runs_channels(kind, algorithm, n, local) else 1
    if out_gbyte_per_s and algorithm != "nvls":
        nics = channels
        # otherwise blind to nodes: bound by the slowest hop it crosses
        gbyte_per_s = min(gbyte_per_s, out_gbyte_per_s * nics)
    bw = size / gbyte_per_s if gbyte_per_s > 0 else math.inf
    if kind == "all_reduce" and algorithm == "nvls":
        # each rank injects its data once (to the switches) and takes the sum once (multicast),
        # in `chunks` rounds: a round's multicast overlaps the next round's copies, so the first
        # round's copies and the last round's multicast do not overlap (one round more)
        return 2 * alpha_ns + bw * (chunks + 1) / chunks
    if kind == "all_reduce":
        data = 2 * frac * bw
        steps = {"ring": 2 * (n - 1), "direct": 2, "halving_doubling": 2 * log + 2}.get(
            algorithm, 2 * (n - 1)
        )
        if algorithm == "torus" and dims:
            steps = 2 * sum(k - 1 for k in dims)
        if algorithm == "tree":
            # Two trees of depth d share the pieces; per tree a pipeline of its pieces up and
            # down, each step an inner node taking a piece from (or giving it to) 2 children.
            depth = max(1, int(math.log2(n)))
            per_tree = max(1, math.ceil(chunks / 2))
            stages = 2 * (depth + per_tree - 1)
            return stages * (alpha_ns + 2 * bw / chunks)
    elif kind in ("reduce_scatter", "all_gather"):
        data = frac * bw
        steps = {"ring": n - 1, "direct": 1, "halving_doubling": log + 2}.get(algorithm, n - 1)
    elif kind == "all_to_all":
        data = frac * bw
        steps = n - 1 if algorithm == "pairwise" else 1
    else:  # broadcast, reduce: a pipeline of `chunks` pieces through the chain or the tree
        # (a ring's channels each a chain of their share of the pieces, side by side)
        depth = n - 1 if algorithm == "ring" else log
        fan = 1 if algorithm == "ring" else 2
        # (a latency per hop on the first piece's way, the others' hops overlapping it, as
        # each send waits its hop latency side by side; the pipeline's fill in bytes)
        per_chain = max(1, chunks // channels)
        data = fan * bw * (depth + per_chain - 1) / per_chain
        return depth * alpha_ns + data
    return steps * alpha_ns + data


__all__ = ["alpha_beta_ns"]
