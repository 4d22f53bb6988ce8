"""Choosing how a collective runs on a fabric, as NCCL's tuner chooses: ``algorithm="auto"``,
``protocol="auto"`` and ``chunks=None`` are resolved from the fabric and the library's costs.

- chunks: enough pieces that every switch plane carries data (a piece per plane and more to
  pipeline large sizes, NCCL's channels), never pieces under 1 KiB; NVLS in NCCL's loops,
  broadcast and reduce in NCCL's 512 KiB steps;
- algorithm and protocol: the pair whose modelled time (the library's base latency, steps x
  its hop latency, the bytes on the wire over the ranks' bandwidth: NCCL's alpha-beta model,
  ``fabricsim.collectives.model``) is least; NVLS only with Simple, as NCCL runs it.

The protocol's costs reach the run as per-operation latencies and wire bytes
(:func:`protocol_costs`)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fabricsim.collectives.fabric_facts import bandwidths, torus_shape
from fabricsim.collectives.library import Library
from fabricsim.collectives.model import alpha_beta_ns
from fabricsim.collectives.ops import CHAIN_KINDS, MAX_OPERATIONS, SEND, runs_channels

if TYPE_CHECKING:
    from fabricsim.collectives.api import Collective
    from fabricsim.collectives.schedule import Schedule
    from fabricsim.fabric import Fabric

MIN_PIECE_BYTES = 1024
"""The smallest piece auto chunking makes (below it a piece is mostly header)."""

PIPELINE_PIECE_BYTES = 4 << 20
"""Auto chunking adds a round of pieces per plane for every 4 MiB a rank's share holds (up to
8 rounds): NCCL's channels each move a slice of the buffer, pipelined."""

NVLS_CHANNELS = 16
"""NCCL's NVLS channels on Hopper (NVIDIA/nccl src/transport/nvls.cc, NVLS_NCHANNELS_SM90)."""

NVLS_CHUNK_BYTES = 128 << 10
"""NCCL's NVLS chunk (NCCL_NVLS_CHUNKSIZE's default), which it halves for smaller sizes
(src/enqueue.cc): :func:`nvls_rounds`."""

MAX_NVLS_ROUNDS = 256
"""At most this many NVLS rounds (NCCL's loops at 4 GiB on 8 GPUs, 2 GiB on 4): past it the
pipeline's fill (a round) is under 0.4%."""

MAX_ROUNDS = 8

TREE_STEP_BYTES = 512 << 10
"""NCCL's step with the Simple protocol: its 4 MiB buffer (NCCL_BUFFSIZE) in 8 steps."""

TREE_PIECES_PER_LEVEL = 4
"""Auto chunking gives each tree of a ``hierarchical_tree`` all-reduce at most this many pieces
per level of depth (NCCL's pieces where fewer): past it the pipeline is full and more pieces
change the time by under 2% (1,024 GPUs, 1 GiB: 64 chunks 238.7 GB/s busbw, 256 chunks 243.3;
``benches/bench.py``) while the operations grow with them."""


def planes_of(fabric: Fabric) -> int:
    return int(fabric.topology.params.get("planes", 1))


def node_of(fabric: Fabric) -> npt.NDArray[np.int64] | None:
    """Per endpoint its node (cluster fabrics), or None: every hop is inside one node."""
    if fabric.topology.type != "cluster":
        return None
    gpus = int(fabric.topology.params["gpus"])
    return np.arange(fabric.num_endpoints, dtype=np.int64) // gpus


def tree_piece_bytes(nbytes: float, depth: int) -> int:
    """The piece NCCL's tree (Simple protocol) moves up and down a tree of ``depth`` levels
    for ``nbytes`` per channel: a 512 KiB step (its 4 MiB buffer in 8 steps), halved while
    there are fewer than ``8 x depth`` pieces (down to 128 KiB), ``4 x depth`` (64 KiB) or
    ``depth`` (32 KiB): enough pieces to fill the tree's pipeline (NCCL src/enqueue.cc, the
    tree's chunk size)."""
    piece = TREE_STEP_BYTES
    for pieces_per_level, smallest in ((8, 128 << 10), (4, 64 << 10), (1, 32 << 10)):
        while nbytes / piece < depth * pieces_per_level and piece > smallest:
            piece //= 2
    return piece


def nvls_rounds(nbytes: float, heads: int) -> int:
    """The loops NCCL's NVLS all-reduce makes over ``nbytes`` with ``heads`` ranks (each of its
    :data:`NVLS_CHANNELS` channels gives each head a chunk a loop; src/enqueue.cc): a 128 KiB
    chunk, 64 KiB below 64 loops' worth of 128 KiB, 32 KiB below 8 loops' worth of 64 KiB,
    16 KiB below 2 loops' worth of 32 KiB. They set how finely the schedule pipelines: its
    rounds."""
    concurrent = NVLS_CHANNELS * max(heads, 1)
    chunk = NVLS_CHUNK_BYTES
    for loops, smaller in ((64, 64 << 10), (8, 32 << 10), (2, 16 << 10)):
        if nbytes < loops * concurrent * chunk and chunk > smaller:
            chunk = smaller
    return max(1, math.ceil(nbytes / (concurrent * chunk)))


def auto_chunks(op: Collective, ranks: int, planes: int, algorithm: str, units: int = 0) -> int:
    """Pieces per segment: a multiple of the planes (one round of pieces per plane, more for
    large sizes), none smaller than :data:`MIN_PIECE_BYTES`; NVLS already spreads its pieces
    over the ``units`` reduction units, so it takes only rounds: NCCL's loops
    (:func:`nvls_rounds`); a broadcast or reduce takes pieces of NCCL's step
    (:data:`TREE_STEP_BYTES`), so its chain or tree pipelines as NCCL's does."""
    if algorithm == "nvls":
        rounds = min(MAX_NVLS_ROUNDS, nvls_rounds(op.bytes, ranks))
        return max(1, min(rounds, int(op.bytes / max(units, 1) // MIN_PIECE_BYTES)))
    if runs_channels(op.kind, algorithm, ranks, op.local):
        planes = math.lcm(planes, op.local or 1)  # a channel leaving each node by each NIC
    if algorithm == "hierarchical_tree" and op.local:
        segment = op.bytes / op.local  # what each rail's trees carry
        depth = max(1, math.ceil(math.log2(max(ranks // op.local, 2))))
        # NCCL's pieces, but no more than TREE_PIECES_PER_LEVEL x depth on each of the two trees
        nccl = math.ceil(segment / tree_piece_bytes(segment, depth))
        chunks = max(planes, min(nccl, 2 * TREE_PIECES_PER_LEVEL * depth))
        chunks = max(1, min(chunks, int(segment // MIN_PIECE_BYTES)))
    elif op.kind in CHAIN_KINDS:
        # pieces of NCCL's step (Simple: its 4 MiB buffer in 8), so the chain or tree pipelines
        # as NCCL's does, a multiple of the planes (or channels)
        steps = math.ceil(op.bytes / TREE_STEP_BYTES)
        chunks = planes * max(1, math.ceil(steps / planes))
        chunks = max(1, min(chunks, int(op.bytes // MIN_PIECE_BYTES)))
    else:
        share = op.bytes / ranks
        rounds = min(MAX_ROUNDS, max(1, math.ceil(share / planes / PIPELINE_PIECE_BYTES)))
        chunks = max(1, min(planes * rounds, int(share // MIN_PIECE_BYTES)))
    # at scale, no more than a schedule may hold (its operations grow with ranks x chunks)
    per_chunk = replace(op, algorithm=algorithm, chunks=1).operations_estimate(ranks)
    return max(1, min(chunks, MAX_OPERATIONS // max(per_chunk, 1)))


def candidates(op: Collective, fabric: Fabric) -> list[str]:
    """Algorithms the tuner weighs for ``op`` on ``fabric``."""
    if op.algorithm != "auto":
        return [str(op.algorithm)]
    topo = fabric.topology
    if op.kind == "all_reduce":
        names = ["ring", "tree"]
        if topo.reduction_units:
            names.append("nvls")
        if topo.type == "cluster":
            names += ["hierarchical", "hierarchical_tree"]
        return names
    if op.kind == "all_to_all":
        return ["direct"]
    if op.kind in ("broadcast", "reduce"):
        return ["ring", "tree"]
    return ["ring"]


def estimate_us(
    op: Collective, fabric: Fabric, algorithm: str, protocol: str, library: Library, chunks: int
) -> float:
    """The library's modelled time of ``op`` run with ``algorithm`` and ``protocol``: launch,
    steps x the protocol's hop latency, and the wire bytes over the ranks' bandwidth."""
    n = fabric.num_ranks
    gbyte_per_s, out_gbyte_per_s = bandwidths(fabric)
    costs = library.costs(protocol)
    across = fabric.topology.type == "cluster"
    local = int(fabric.topology.params["gpus"]) if across else None
    wire = costs.wire_bytes_per_byte
    if algorithm == "nvls":
        wire = library.nvls_wire_bytes_per_byte(n)
    dims = torus_shape(fabric)
    data_ns = alpha_beta_ns(
        op.kind, algorithm, n, round(op.bytes * wire), 0.0, gbyte_per_s, chunks, dims, local, out_gbyte_per_s
    )
    if algorithm == "nvls":
        return library.nvls_latency_us + data_ns / 1000
    if algorithm in ("hierarchical", "hierarchical_tree") and local:
        nodes = n // local
        across_steps = 2 * (nodes - 1)
        if algorithm == "hierarchical_tree":
            across_steps = (
                round(alpha_beta_ns(op.kind, "tree", nodes, 0, 1.0, 1.0, chunks)) if nodes > 1 else 0
            )
        steps_us = 2 * (local - 1) * costs.hop_latency_us + across_steps * costs.net_hop_latency_us
    else:
        hop = costs.net_hop_latency_us if across else costs.hop_latency_us
        if algorithm == "tree" and not across:
            hop = costs.tree_hop_latency_us
        steps = alpha_beta_ns(
            op.kind, algorithm, n, 0, 1.0, gbyte_per_s, chunks, dims, local, out_gbyte_per_s
        )
        steps_us = steps * hop
    return costs.base_latency_us + steps_us + data_ns / 1000


def resolve(op: Collective, fabric: Fabric) -> Collective:
    """``op`` with its automatic choices made for ``fabric`` (what it names, it keeps)."""
    library = op.execution.library
    n = fabric.num_ranks
    planes = planes_of(fabric)
    units = len(fabric.topology.reduction_units)
    protocols = list(library.protocols) if op.protocol == "auto" else [op.protocol]
    if op.local is None and fabric.topology.type == "cluster":
        op = replace(op, local=int(fabric.topology.params["gpus"]))  # hierarchical's node
    best: tuple[float, str, str, int] | None = None
    names = candidates(op, fabric)
    for algorithm in names:
        chunks = op.chunks if op.chunks is not None else auto_chunks(op, n, planes, algorithm, units)
        too_big = replace(op, algorithm=algorithm, chunks=chunks).operations_estimate(n) > MAX_OPERATIONS
        if too_big and len(names) > 1:
            continue  # a schedule that could not be built (a ring across thousands of nodes)
        for protocol in protocols:
            if algorithm == "nvls" and protocol != "simple":
                continue  # NVLS runs Simple only, as in NCCL
            t = estimate_us(op, fabric, algorithm, protocol, library, chunks)
            if best is None or t < best[0]:
                best = (t, algorithm, protocol, chunks)
    if best is None:  # nvls forced with a protocol it does not run
        algorithm = candidates(op, fabric)[0]
        chunks = op.chunks if op.chunks is not None else auto_chunks(op, n, planes, algorithm, units)
        return replace(op, algorithm=algorithm, protocol=protocols[0], chunks=chunks)
    _, algorithm, protocol, chunks = best
    local = op.local
    if algorithm in ("hierarchical", "hierarchical_tree") and local is None:
        local = int(fabric.topology.params["gpus"])
    return replace(op, algorithm=algorithm, protocol=protocol, chunks=chunks, local=local)


def protocol_costs(
    schedule: Schedule, fabric: Fabric, library: Library, protocol: str
) -> tuple[npt.NDArray[np.int64], float]:
    """Per operation the latency (ps) it waits before it starts, and the wire bytes per byte of
    data: the call's launch latency on the operations that wait for nothing, a hop latency on
    every send (the network's between nodes, the tree's for tree), and the protocol's framing;
    NVLS: its own call latency, no hop latency, and its heads' traffic over its efficiency as
    wire bytes (:meth:`Library.nvls_wire_bytes_per_byte`)."""
    costs = library.costs(protocol)
    n_ops = len(schedule.op)
    delay = np.zeros(n_ops, dtype=np.int64)
    nvls = schedule.algorithm == "nvls"
    base_us = library.nvls_latency_us if nvls else costs.base_latency_us
    roots = np.diff(schedule.dep_ptr) == 0
    delay[roots] = round(base_us * 1e6)
    sends = schedule.op == SEND
    if not nvls:
        hop_us = costs.tree_hop_latency_us if schedule.algorithm == "tree" else costs.hop_latency_us
        hop = np.full(n_ops, round(hop_us * 1e6), dtype=np.int64)
        nodes = node_of(fabric)
        if nodes is not None:
            src = np.clip(schedule.rank, 0, len(nodes) - 1)
            dst = np.clip(schedule.peer, 0, len(nodes) - 1)
            crosses = nodes[src] != nodes[dst]
            hop[crosses] = round(costs.net_hop_latency_us * 1e6)
        delay[sends] += hop[sends]
    wire = library.nvls_wire_bytes_per_byte(schedule.ranks) if nvls else costs.wire_bytes_per_byte
    return delay, wire


__all__ = ["auto_chunks", "candidates", "estimate_us", "protocol_costs", "resolve", "tree_piece_bytes"]
