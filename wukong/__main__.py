"""The `wukong` command line: `wukong demo` (or `python -m wukong demo`)."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wukong", description=__doc__)
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="tree reduction and GEMM on the local runtime, vs Dask")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    if args.command == "demo":
        from wukong.demo import run_demo

        return 0 if run_demo() else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
