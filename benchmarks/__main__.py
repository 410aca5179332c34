"""`python -m benchmarks`: the paper's workloads and other graph shapes on Wukong and on
Dask's own schedulers, warm (systems started once, warmed up) and cold (started afresh for
every run).

    python -m benchmarks --suite quick                      # the paper's workloads, small
    python -m benchmarks --suite shapes --modes cold        # other shapes, first runs only
    python -m benchmarks --systems wukong,sync --workloads TR --repeat 1

Writes one JSON record per run to `--out`, prints the markdown tables and writes them to
`--markdown` (default benchmarks/RESULTS.md), keeping that file's `## History` section.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import shlex
import sys

from benchmarks import runner, suites, tables
from benchmarks.history import kept_history
from benchmarks.systems import NAMES as SYSTEMS

HERE = pathlib.Path(__file__).parent
BUDGETS = {"quick": 2.0, "paper": 60.0, "shapes": 30.0, "all": 60.0}


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=list(suites.SUITES), default="quick",
                        help="quick, paper, shapes (graphs beyond the paper's and the "
                             "per-task overhead), or all of them (default quick)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per cell (default 5)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timed runs per cell: it stops before a run that "
                             "would go past them (at least one run); 0 for none; "
                             "default 2 for quick, 30 for shapes, 60 for paper and all")
    parser.add_argument("--systems", type=_names, default=list(SYSTEMS),
                        help=f"comma-separated, from {','.join(SYSTEMS)}")
    parser.add_argument("--workloads", type=_names, default=list(suites.NAMES),
                        help=f"comma-separated, from {','.join(suites.NAMES)}")
    parser.add_argument("--modes", type=_names, default=list(runner.MODES),
                        help="comma-separated, from warm (each system started once and "
                             "warmed up per workload) and cold (started afresh for every "
                             "timed run); default both")
    parser.add_argument("--ablation", action="store_true",
                        help="also run Wukong (warm) on GEMM, SVDs and TR-delay with each "
                             "wukong.locality.* technique off in turn, and all off")
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "runs.jsonl",
                        help="JSON lines, one record per run (default benchmarks/runs.jsonl)")
    parser.add_argument("--markdown", type=pathlib.Path, default=HERE / "RESULTS.md")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    for name in args.systems:
        if name not in SYSTEMS:
            parser.error(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")
    for mode in args.modes:
        if mode not in runner.MODES:
            parser.error(f"unknown mode {mode!r}; choose from {', '.join(runner.MODES)}")
    if not args.modes:
        parser.error("--modes needs at least one of " + ", ".join(runner.MODES))
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("benchmarks").setLevel(args.log_level.upper())
    try:
        selected = suites.suite(args.suite, args.workloads)
    except ValueError as exc:
        logging.getLogger("benchmarks").error("%s", exc)
        return 2
    budget = BUDGETS[args.suite] if args.budget is None else args.budget
    plan = runner.Plan(args.suite, selected, args.systems, args.repeat, budget, args.ablation,
                       tuple(m for m in runner.MODES if m in args.modes))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        records = runner.run(plan, out)
    summary = runner.summarize(records)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    markdown = tables.results_markdown(summary, runner.machine(), command)
    markdown += kept_history(args.markdown)
    args.markdown.write_text(markdown)
    sys.stdout.write(markdown)
    failed = any("error" in r or r.get("verified") is False for r in records)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
