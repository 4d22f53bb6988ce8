"""Command line: ``python -m fabricsim demo`` (or the ``fabricsim`` script)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fabricsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="credit and message-size sweep on a built-in link preset")
    demo.add_argument("--preset", default="pcie6_x16")
    demo.add_argument("--largest", type=int, default=64 << 20, help="largest all-reduce size, bytes")
    demo.add_argument("--plot", default="fabricsim_allreduce_busbw.png", help="busbw plot file")
    demo.add_argument(
        "--memory-plot", default="fabricsim_loaded_latency.png", help="loaded-latency plot file"
    )
    sub.add_parser("presets", help="list the built-in presets")
    ber = sub.add_parser("plot-ber", help="goodput vs bit-error rate for the link presets (PNG)")
    ber.add_argument("--out", default="goodput_vs_ber.png")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fabricsim.cli.demo import (
            collective_demo,
            fabric_demo,
            link_demo,
            memory_demo,
            memory_fabric_demo,
            retry_demo,
        )

        print(link_demo(args.preset))
        print()
        print(retry_demo(args.preset))
        print()
        print(fabric_demo())
        print()
        print(memory_demo())
        print()
        print(memory_fabric_demo(plot=args.memory_plot))
        print()
        print(collective_demo(largest=args.largest, plot=args.plot))
    elif args.command == "plot-ber":
        from fabricsim.analysis.plots import goodput_vs_ber, plot_goodput_vs_ber

        points = goodput_vs_ber()
        print(f"{'preset':18} {'BER':>8} {'goodput Gb/s':>13} {'analytic':>9}")
        for p in points:
            print(f"{p.preset:18} {p.ber:8.0e} {p.goodput_gbps:13.1f} {p.analytic_gbps:9.1f}")
        print(f"wrote {plot_goodput_vs_ber(args.out, points)}")
    elif args.command == "presets":
        from fabricsim.specs import HbmSpec, LinkSpec, ProtocolSpec

        for name in LinkSpec.presets():
            print(f"{name:12} {LinkSpec.preset(name).description}")
        for name in HbmSpec.presets():
            print(f"{name:12} {HbmSpec.preset(name).description}")
        for name in ProtocolSpec.presets():
            print(f"{name:12} {ProtocolSpec.preset(name).description}")
        from fabricsim.fabric import Fabric

        for name in Fabric.presets():
            print(f"{name:12} {Fabric.preset(name).description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
