"""Speed side by side: BookSim2 and DRAMsim3 builds against fabricsim on the same work, on
this machine, one right after the other. Not part of `make test` or `make bench`: it needs
the two reference simulators, built outside the project (docs/validation.md says how).

    .venv/bin/python benches/side_by_side.py --booksim /path/to/booksim2/src/booksim \\
        --dramsim3 /path/to/DRAMsim3/build/dramsim3main --dramsim3-configs /path/to/DRAMsim3/configs \\
        [--write BENCHMARKS.md] [--repeat 3]

Work (the configurations of shared/reference/noc_calibration.md and dram_calibration.md):
- NoC: k x k mesh, dimension-order routing, 2 VCs of 8 flits, 1-flit packets, uniform random
  Bernoulli traffic (the source included), 4-stage router (fabricsim: the `booksim_4stage`
  preset, BookSim's router, and the lumped `RouterSpec(pipeline_cycles=3)`); BookSim's
  run length (warm-up and sample periods until its statistics settle) is read from its
  output, and fabricsim simulates the same number of cycles. Ratio: simulated cycles per
  second, fabricsim over BookSim.
- HBM: DRAMsim3's own random and stream generators on HBM2_8Gb_x128 for a fixed number of
  cycles; fabricsim runs the hbm2 preset on as many 64 B reads of the same pattern as
  DRAMsim3 completed. Ratio: requests per second.

Each timing is the median of ``--repeat`` whole-process runs (BookSim, DRAMsim3) or runs in
this process (fabricsim, after one warm-up run); both sides run in the same minute.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import fabricsim as fs

BOOKSIM_CONFIG = """
topology = mesh;
k = {k};
n = 2;
routing_function = dim_order;
num_vcs = 2;
vc_buf_size = 8;
wait_for_tail_credit = 0;
vc_allocator = islip;
sw_allocator = islip;
alloc_iters = 1;
credit_delay = 0;
routing_delay = 1;
vc_alloc_delay = 1;
sw_alloc_delay = 1;
st_final_delay = 1;
input_speedup = 1;
output_speedup = 1;
internal_speedup = 1.0;
traffic = uniform;
packet_size = 1;
sim_type = latency;
injection_rate = {rate};
seed = 0;
"""

NOC_WORK = [(8, 0.1), (8, 0.3), (16, 0.1), (32, 0.05)]
# fabricsim's side: BookSim's router (the same model), and the lumped pipeline (same zero-load
# latency, saturates later; the faster model)
ROUTERS = [
    ("booksim_4stage", fs.RouterSpec.preset("booksim_4stage")),
    ("lumped", fs.RouterSpec(pipeline_cycles=3)),
]
DRAM_CYCLES = 400_000


def median_wall(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def booksim_cycles(output: str) -> int:
    """The cycles BookSim simulated (its last 'Time taken is N cycles')."""
    found = re.findall(r"Time taken is (\d+) cycles", output)
    if not found:
        raise SystemExit("booksim: no 'Time taken is N cycles' in its output; is it BookSim2?")
    return int(found[-1])


def noc_rows(booksim: Path, repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, rate in NOC_WORK:
            cfg = Path(tmp) / f"mesh{k}_{rate}.cfg"
            cfg.write_text(BOOKSIM_CONFIG.format(k=k, rate=rate))
            # (BookSim2 exits with status 255 after a complete run: its output says whether it ran)
            out = subprocess.run([str(booksim), str(cfg)], capture_output=True, text=True).stdout
            cycles = booksim_cycles(out)
            b_wall = median_wall(
                lambda cfg=cfg: subprocess.run([str(booksim), str(cfg)], capture_output=True),
                repeat,
            )
            warm = min(3000, cycles // 2)
            load = fs.traffic.synthetic(
                "uniform",
                rate=rate,
                warmup_cycles=warm,
                measure_cycles=cycles - warm,
                seed=0,
                include_self=True,
            )
            for label, router in ROUTERS:
                fab = fs.Fabric(
                    topology=fs.topology.mesh((k, k)),
                    link=fs.LinkSpec.preset("noc").replace(vcs=2, credits_per_vc=8),
                    router=router,
                )
                fab.run(load)  # warm-up (imports, allocation)
                f_wall = median_wall(lambda fab=fab, load=load: fab.run(load), repeat)
                rows.append(
                    (
                        f"{k}x{k} mesh, offered {rate}, {cycles:,} cycles, {label}",
                        cycles / b_wall,
                        cycles / f_wall,
                    )
                )
                print(
                    f"# {rows[-1][0]}: BookSim {rows[-1][1]:,.0f} cycles/s, fabricsim {rows[-1][2]:,.0f}",
                    file=sys.stderr,
                )
    return rows


def dram_rows(dramsim3: Path, configs: Path, repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    config = configs / "HBM2_8Gb_x128.ini"
    for pattern in ("random", "stream"):
        with tempfile.TemporaryDirectory() as out_dir:
            cmd = [str(dramsim3), str(config), "-s", pattern, "-c", str(DRAM_CYCLES), "-o", out_dir]
            subprocess.run(cmd, capture_output=True, check=True)
            stats = json.loads((Path(out_dir) / "dramsim3.json").read_text())
            done = sum(
                int(ch.get("num_reads_done", 0)) + int(ch.get("num_writes_done", 0)) for ch in stats.values()
            )
            d_wall = median_wall(lambda cmd=cmd: subprocess.run(cmd, capture_output=True, check=True), repeat)
        hbm = fs.HbmSpec.preset("hbm2")
        work = fs.traffic.memory(pattern, done, bytes=64)
        fs.run_memory(hbm, work)
        f_wall = median_wall(lambda hbm=hbm, work=work: fs.run_memory(hbm, work), repeat)
        rows.append((f"HBM2 8 channels, {pattern} 64 B, {done:,} requests", done / d_wall, done / f_wall))
        print(
            f"# {rows[-1][0]}: DRAMsim3 {rows[-1][1]:,.0f} req/s, fabricsim {rows[-1][2]:,.0f}",
            file=sys.stderr,
        )
    return rows


def report(noc: list[tuple[str, float, float]], dram: list[tuple[str, float, float]], command: str) -> str:
    lines = [
        MARK + " (same machine, same minute)",
        "",
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d')}.",
        "",
        "| work | reference | fabricsim | ratio |",
        "|---|---|---|---|",
    ]
    for name, ref, ours in noc:
        lines.append(f"| {name} | BookSim2 {ref:,.0f} cycles/s | {ours:,.0f} cycles/s | {ours / ref:.1f}x |")
    for name, ref, ours in dram:
        lines.append(
            f"| {name} | DRAMsim3 {ref:,.0f} requests/s | {ours:,.0f} requests/s | {ours / ref:.1f}x |"
        )
    return "\n".join(lines) + "\n"


MARK = "### Side by side with BookSim2 and DRAMsim3"
NOTES_END = "<!-- end of notes -->"


def write_into(path: Path, section: str) -> None:
    """Puts the side-by-side section into ``path`` (BENCHMARKS.md) inside its hand-written
    notes, which `make bench` keeps: replacing the previous one (up to the next heading or
    the end of the notes), or before the end of the notes, or at the end of the file."""
    text = path.read_text() if path.exists() else ""
    if MARK in text:
        start = text.index(MARK)
        ends = [i for i in (text.find("\n#", start + len(MARK)), text.find(NOTES_END, start)) if i >= 0]
        end = min(ends) if ends else len(text)
        text = text[:start] + section.rstrip("\n") + "\n\n" + text[end:].lstrip("\n")
    elif NOTES_END in text:
        at = text.index(NOTES_END)
        text = text[:at] + section.rstrip("\n") + "\n\n" + text[at:]
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--booksim", type=Path, required=True, help="the booksim binary (booksim2/src/booksim)")
    ap.add_argument("--dramsim3", type=Path, required=True, help="the dramsim3main binary")
    ap.add_argument("--dramsim3-configs", type=Path, required=True, help="DRAMsim3's configs/ directory")
    ap.add_argument("--write", type=Path, help="write the table into this Markdown file (BENCHMARKS.md)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for name in ("booksim", "dramsim3"):
        if not getattr(args, name).is_file():
            raise SystemExit(f"--{name}: {getattr(args, name)} is not a file")
    noc = noc_rows(args.booksim, args.repeat)
    dram = dram_rows(args.dramsim3, args.dramsim3_configs, args.repeat)
    section = report(noc, dram, "python benches/side_by_side.py " + " ".join(sys.argv[1:]))
    print(section)
    if args.write:
        write_into(args.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
