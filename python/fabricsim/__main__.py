"""Command line: ``python -m fabricsim demo`` (or the ``fabricsim`` script)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fabricsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="credit and message-size sweep on a built-in link preset")
    demo.add_argument("--preset", default="pcie6_x16")
    sub.add_parser("presets", help="list the built-in presets")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fabricsim.demo import link_demo

        print(link_demo(args.preset))
    elif args.command == "presets":
        from fabricsim.specs import LinkSpec

        for name in LinkSpec.presets():
            print(f"{name:12} {LinkSpec.preset(name).description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
