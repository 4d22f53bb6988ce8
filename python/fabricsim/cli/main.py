"""Command line: ``python -m fabricsim demo`` (or the ``fabricsim`` script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def main(argv: list[str] | None = None) -> int:
    from fabricsim._core import __version__

    parser = argparse.ArgumentParser(prog="fabricsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fabricsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment file (docs/experiments.md)")
    run.add_argument("file")
    sweep = sub.add_parser("sweep", help="run the sweep an experiment file declares in [sweep]")
    sweep.add_argument("file")
    demo = sub.add_parser("demo", help="credit and message-size sweep on a built-in link preset")
    demo.add_argument("--preset", default="pcie6_x16")
    demo.add_argument("--largest", type=int, default=64 << 20, help="largest all-reduce size, bytes")
    demo.add_argument("--plot", default="fabricsim_allreduce_busbw.png", help="busbw plot file")
    demo.add_argument(
        "--memory-plot", default="fabricsim_loaded_latency.png", help="loaded-latency plot file"
    )
    sub.add_parser("presets", help="list the built-in presets")
    validate = sub.add_parser("validate", help="reproduce docs/validation.md's tables")
    validate.add_argument(
        "--only",
        choices=[
            "noc",
            "hbm",
            "fidelity",
            "collectives",
            "gemm",
            "training",
            "fault_windows",
            "plans",
            "mlperf",
        ],
        action="append",
        help="a section (repeatable; default: all)",
    )
    ber = sub.add_parser("plot-ber", help="goodput vs bit-error rate for the link presets (PNG)")
    ber.add_argument("--out", default="goodput_vs_ber.png")
    args = parser.parse_args(argv)
    from fabricsim.errors import FabricsimError

    try:
        return _dispatch(args)
    except FabricsimError as e:  # one clear line, no traceback
        print(f"fabricsim: error: {e}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from fabricsim.cli.experiment import run

        result, written = run(args.file)
        print(result.summary())
        for path in written:
            print(f"wrote {path}")
    elif args.command == "sweep":
        from fabricsim.cli.experiment import sweep

        for value, result in sweep(args.file):
            print(f"{value!s:>12}  {result.summary()}")
    elif args.command == "validate":
        from fabricsim.analysis.validation import TABLES

        for name in args.only or list(TABLES):
            print(f"## {name} (fabricsim validate --only {name})\n")
            print(TABLES[name](lambda line: print(f"# {line}", file=sys.stderr, flush=True)))
            print()
    elif args.command == "demo":
        from fabricsim.cli.demo import (
            collective_demo,
            fabric_demo,
            link_demo,
            memory_demo,
            memory_fabric_demo,
            retry_demo,
            training_demo,
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
        print()
        print(training_demo())
    elif args.command == "plot-ber":
        from fabricsim.analysis.plots import goodput_vs_ber, plot_goodput_vs_ber

        points = goodput_vs_ber()
        print(f"{'preset':18} {'BER':>8} {'goodput Gb/s':>13} {'analytic':>9}")
        for p in points:
            print(f"{p.preset:18} {p.ber:8.0e} {p.goodput_gbps:13.1f} {p.analytic_gbps:9.1f}")
        print(f"wrote {plot_goodput_vs_ber(args.out, points)}")
    elif args.command == "presets":
        from fabricsim.collectives.library import Library
        from fabricsim.fabric import Fabric
        from fabricsim.specs import HbmSpec, LinkSpec, ProtocolSpec, RouterSpec
        from fabricsim.workload import GpuSpec, Transformer

        kinds: list[tuple[str, list[str], Callable[[str], str]]] = [
            ("fabric", Fabric.presets(), lambda n: Fabric.preset(n).description),
            ("link", LinkSpec.presets(), lambda n: LinkSpec.preset(n).description),
            ("router", RouterSpec.presets(), lambda n: RouterSpec.preset(n).description),
            ("hbm", HbmSpec.presets(), lambda n: HbmSpec.preset(n).description),
            ("protocol", ProtocolSpec.presets(), lambda n: ProtocolSpec.preset(n).description),
            ("library", Library.presets(), lambda n: ", ".join(Library.preset(n).sources) or "no costs"),
            ("gpu", GpuSpec.presets(), lambda n: GpuSpec.preset(n).description),
            ("model", Transformer.presets(), _describe_model),
        ]
        for kind, names, describe in kinds:
            for name in names:
                print(f"{kind:9} {name:20} {describe(name)}")
    return 0


def _describe_model(name: str) -> str:
    from fabricsim.workload import Transformer

    m = Transformer.preset(name)
    moe = f", {m.experts} experts top-{m.top_k}" if m.experts else ""
    return (
        f"{m.num_params() / 1e9:.1f} B parameters: {m.layers} layers, hidden {m.hidden}, {m.heads} heads "
        f"({m.kv_heads} kv), sequence {m.seq_len}{moe} ({m.sources[0] if m.sources else 'no source'})"
    )


if __name__ == "__main__":
    sys.exit(main())
