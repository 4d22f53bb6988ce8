"""One cycle-level run's engine seconds, for interleaved A/B of two builds (BENCHMARKS.md's
notes): ``python benches/ab_collective.py ring|hier|p2p|stream`` with each build's Python."""

import sys

import fabricsim as fs


def main(name: str) -> float:
    if name == "ring":
        fab = fs.Fabric.preset("dgx8_nvswitch")
        op: fs.Workload = fs.collectives.all_reduce(bytes=64 << 20, algorithm="ring", chunks=8)
    elif name == "hier":
        fab = fs.Fabric.preset("dgx8_cluster4")
        op = fs.collectives.all_reduce(bytes=16 << 20, algorithm="hierarchical", local=8, chunks=8)
    else:
        fab = fs.Fabric(topology=fs.topology.point_to_point(), link=fs.LinkSpec.preset("pcie6_x16"))
        count, size = (3000, 262144) if name == "stream" else (2000, 65536)
        op = fs.traffic.messages(src=[0] * count, dst=1, bytes=size)
    res = fab.run(op)
    run = getattr(res, "run", res)
    return float(run.wall_seconds)


if __name__ == "__main__":
    print(f"{main(sys.argv[1]):.3f}")
