"""A 1 GiB hierarchical_tree all-reduce at flow fidelity on ``cluster(NODES, 8, 4)`` with
``dgx8_cluster4``'s links, with (1) or without (0) its per-message columns: wall time and
peak RSS (docs/run.md, "Results at scale").

    python benches/scale_keep_messages.py 2048 0
"""

from __future__ import annotations

import resource
import sys
import time

import fabricsim as fs


def main() -> None:
    nodes, keep = int(sys.argv[1]), sys.argv[2] == "1"
    base = fs.Fabric.preset("dgx8_cluster4")
    fab = fs.Fabric(topology=fs.topology.cluster(nodes, 8, 4), link=base.link, network_link=base.network_link)
    op = fs.collectives.all_reduce(bytes=1 << 30, algorithm="hierarchical_tree")
    t0 = time.perf_counter()
    res = fab.run(op, fidelity="flow", keep_messages=keep)
    wall = time.perf_counter() - t0
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"nodes {nodes} keep_messages {keep}: wall {wall:.2f} s, engine {res.run.wall_seconds:.2f} s, "
        f"{res.time_us:.1f} us simulated, peak {peak_gib:.2f} GiB"
    )


if __name__ == "__main__":
    main()
