"""Latency-load curves of the `booksim_4stage` router preset beside a BookSim2 build, on the
calibration configuration (shared/reference/noc_calibration.md) and on configurations around
it (VC counts, buffer depths, packet sizes, mesh sizes, a folded torus, other traffic). Not
part of `make test` or `make bench`: it needs BookSim2, built outside the project
(docs/validation.md says how).

    .venv/bin/python benches/booksim_curves.py --booksim /path/to/booksim2/src/booksim [--only torus]

For each configuration both simulators find their saturation rate the same way (offered load
raised in steps of 0.02 flits/node/cycle, then 0.005 in the last step, until the mean packet
latency passes 3x its value at the lowest load); then fabricsim's mean packet latency is
compared with BookSim's at 10, 30, 50, 70 and 80% of BookSim's saturation. Prints a Markdown
table: the worst latency error up to 80% of saturation and the saturation error.

Both sides run BookSim's uniform convention (1/N of the packets go to their own source and
loop back through its router: fabricsim's ``include_self=True``). BookSim measures over its
own sample periods (until its statistics settle), fabricsim over 3,000 warm-up and 5,000
measured cycles, seed 0.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import fabricsim as fs

BASE = {
    "topology": "mesh",
    "k": 8,
    "n": 2,
    "routing_function": "dim_order",
    "num_vcs": 2,
    "vc_buf_size": 8,
    "wait_for_tail_credit": 0,
    "vc_allocator": "islip",
    "sw_allocator": "islip",
    "alloc_iters": 1,
    "credit_delay": 0,
    "routing_delay": 1,
    "vc_alloc_delay": 1,
    "sw_alloc_delay": 1,
    "st_final_delay": 1,
    "input_speedup": 1,
    "output_speedup": 1,
    "internal_speedup": 1.0,
    "traffic": "uniform",
    "packet_size": 1,
    "injection_rate_uses_flits": 1,
    "sim_type": "latency",
    "seed": 0,
}

# BookSim's traffic names beside fabricsim's patterns
PATTERNS = {"uniform": "uniform", "transpose": "transpose", "bitcomp": "bit_complement"}


@dataclass
class Config:
    name: str
    k: int = 8
    vcs: int = 2
    buffer_flits: int = 8
    packet_flits: int = 1
    torus: bool = False
    traffic: str = "uniform"
    booksim: dict[str, object] = field(default_factory=dict)

    def booksim_config(self, rate: float) -> str:
        cfg = dict(BASE)
        cfg.update(
            k=self.k,
            num_vcs=self.vcs,
            vc_buf_size=self.buffer_flits,
            packet_size=self.packet_flits,
            topology="torus" if self.torus else "mesh",
            traffic=self.traffic,
            injection_rate=rate,
        )
        return "".join(f"{key} = {value};\n" for key, value in cfg.items())

    def fabric(self) -> fs.Fabric:
        link = fs.LinkSpec.preset("noc").replace(
            vcs=self.vcs, credits_per_vc=self.buffer_flits, mtu_bytes=16 * self.packet_flits
        )
        dims = (self.k, self.k)
        topology = fs.topology.torus(dims) if self.torus else fs.topology.mesh(dims)
        # BookSim's torus is folded: 2-cycle channels between routers, 1-cycle injection and ejection
        network_link = link.replace(latency_ns=2.0) if self.torus else None
        return fs.Fabric(
            topology=topology,
            link=link,
            network_link=network_link,
            router=fs.RouterSpec.preset("booksim_4stage"),
        )


CONFIGS = [
    Config("mesh 8x8, 2 VCs x 8, 1 flit (the calibration point)"),
    Config("mesh 8x8, 4 VCs x 8, 1 flit", vcs=4),
    Config("mesh 8x8, 2 VCs x 4, 1 flit", buffer_flits=4),
    Config("mesh 8x8, 2 VCs x 8, 4 flits", packet_flits=4),
    Config("mesh 8x8, 3 VCs x 6, 2 flits", vcs=3, buffer_flits=6, packet_flits=2),
    Config("mesh 8x8, 4 VCs x 16, 8 flits", vcs=4, buffer_flits=16, packet_flits=8),
    Config("mesh 4x4, 2 VCs x 8, 1 flit", k=4),
    Config("mesh 16x16, 2 VCs x 8, 1 flit", k=16),
    Config("mesh 8x8, 2 VCs x 8, 1 flit, transpose", traffic="transpose"),
    Config("mesh 8x8, 2 VCs x 8, 1 flit, bit complement", traffic="bitcomp"),
    Config("torus 8x8 (folded), 2 VCs x 8, 1 flit", torus=True),
    Config("torus 8x8 (folded), 4 VCs x 8, 1 flit", vcs=4, torus=True),
]


def booksim_latency(booksim: str, config: Config, rate: float) -> float | None:
    """BookSim's mean packet latency at `rate` flits/node/cycle (None: unstable)."""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as f:
        f.write(config.booksim_config(rate))
        f.flush()
        out = subprocess.run([booksim, f.name], capture_output=True, text=True, check=False).stdout
    if "Overall Traffic Statistics" not in out:
        return None
    tail = out.split("Overall Traffic Statistics")[1]
    found = re.search(r"Packet latency average = ([\d.]+)", tail)
    return float(found.group(1)) if found else None


def fabricsim_latency(config: Config, rate: float) -> float | None:
    load = fs.traffic.synthetic(
        PATTERNS[config.traffic],
        rate=rate,
        warmup_cycles=3000,
        measure_cycles=5000,
        seed=0,
        packet_flits=config.packet_flits,
        include_self=True,
    )
    res = config.fabric().run(load)
    return None if res.saturated else float(res.packet_latency_cycles.mean())


def saturation(latency, low: float) -> float:  # type: ignore[no-untyped-def]
    """The highest offered load (to 0.005) whose latency stays under 3x that at `low`."""
    limit = 3 * latency(low)

    def ok(rate: float) -> bool:
        lat = latency(rate)
        return lat is not None and lat < limit

    rate = low
    while rate + 0.02 <= 1.0 and ok(round(rate + 0.02, 4)):
        rate = round(rate + 0.02, 4)
    while rate + 0.005 <= 1.0 and ok(round(rate + 0.005, 4)):
        rate = round(rate + 0.005, 4)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--booksim", required=True, help="path of a BookSim2 binary")
    ap.add_argument("--only", default="", help="run the configurations whose name contains this")
    args = ap.parse_args()
    if not Path(args.booksim).is_file():
        sys.exit(f"--booksim: no such file: {args.booksim}")
    print(
        "| configuration | BookSim saturation | fabricsim saturation | error | worst latency error to 80% | latency at 10/30/50/70/80%: BookSim / fabricsim (cycles) |"
    )
    print("|---|---|---|---|---|---|")
    for config in CONFIGS:
        if args.only not in config.name:
            continue
        bs_sat = saturation(lambda r, c=config: booksim_latency(args.booksim, c, r), 0.01)
        fs_sat = saturation(lambda r, c=config: fabricsim_latency(c, r), 0.01)
        pairs = []
        for share in (0.1, 0.3, 0.5, 0.7, 0.8):
            rate = round(share * bs_sat, 4)
            pairs.append((booksim_latency(args.booksim, config, rate), fabricsim_latency(config, rate)))
        errors = [abs(f / b - 1) for b, f in pairs if b and f]
        worst = f"{100 * max(errors):.1f}%" if len(errors) == len(pairs) else "n/a"
        curve = ", ".join(f"{b:.1f} / {f:.1f}" if b and f else "-" for b, f in pairs)
        print(
            f"| {config.name} | {bs_sat:.3f} | {fs_sat:.3f} | {100 * (fs_sat / bs_sat - 1):+.1f}% | {worst} | {curve} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
