"""Dask's own test modules, from the installed `dask` package, run in one pytest subprocess
with Wukong as the default scheduler on one cluster (or with Dask's default scheduler, for a
baseline), and their failures compared with the documented divergences.

    python tests/dask_suites/dask_suite_runner.py [--scheduler wukong|default] [MODULE ...]

logs passed/failed/skipped per module, the failures not on the list and the list's entries
that no longer fail, and exits non-zero if there are any. A failure not on the list is run
again with Dask's default scheduler: if it fails there too, it is Dask's (or a library's, in
the release installed), not Wukong's, and is only logged. `--render-docs` writes the list
(dask_suite_divergences) into docs/dask-compatibility.md instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dask
from dask_suite_divergences import (
    DIVERGENCES,
    DOCS,
    HERE,
    Divergence,
    docs_with_divergences,
    load_divergences,
)

logger = logging.getLogger("dask_suite_runner")

SITE = Path(dask.__file__).resolve().parent.parent
"""Where the installed dask package lives: node ids are relative to it."""

MODULES = (
    "dask/array/tests/test_array_core.py",
    "dask/array/tests/test_reductions.py",
    "dask/array/tests/test_linalg.py",
    "dask/bag/tests/test_bag.py",
    "dask/tests/test_delayed.py",
    "dask/dataframe/tests/test_shuffle.py",
    "dask/dataframe/tests/test_groupby.py",
)
FAILED = ("failed", "error")
COLUMNS = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass
class Comparison:
    """Failures no divergence explains, divergences that explain no failure, and failures
    that Dask's default scheduler has too (which do not count)."""

    unexpected: dict[str, str]
    stale: list[Divergence]
    upstream: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.stale


def run_suites(tests: list[str], scheduler: str, workdir: Path, tag: str = "suites"
               ) -> dict[str, dict]:
    """Each test's outcome, failure message and seconds, by node id, from one pytest
    subprocess over `tests` (module paths or node ids, relative to the dask package's parent);
    its output goes to `workdir`/pytest-`tag`-`scheduler`.log."""
    outcomes = workdir / f"outcomes-{tag}-{scheduler}.json"
    plugins = ["-p", "dask_suite_harness"]
    if scheduler == "wukong":
        plugins += ["-p", "wukong_scheduler_plugin"]
    command = [sys.executable, "-m", "pytest", "-c", str(HERE / "pytest.ini"),
               "--rootdir", str(SITE), "-p", "no:cacheprovider", *plugins,
               "--outcomes", str(outcomes), "--continue-on-collection-errors",
               "-q", "-rfE", "--tb=short",
               *(str(SITE / t) for t in tests)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    logger.info("running %s", " ".join(command))
    log = workdir / f"pytest-{tag}-{scheduler}.log"
    with log.open("w") as out:
        subprocess.run(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                       check=False)
    if not outcomes.exists():
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise RuntimeError(f"the pytest session over Dask's modules did not finish:\n{tail}")
    return json.loads(outcomes.read_text())


def module_counts(outcomes: dict[str, dict]) -> dict[str, Counter]:
    """Per module: how many tests had each outcome, and "seconds", the time its tests took."""
    counts: dict[str, Counter] = {}
    for node_id, result in outcomes.items():
        count = counts.setdefault(node_id.split("::")[0], Counter())
        count[result["outcome"]] += 1
        count["seconds"] += result["seconds"]
    return dict(sorted(counts.items()))


def counts_table(counts: dict[str, Counter]) -> str:
    """Per-module outcome counts and seconds as a Markdown table."""
    header = [*COLUMNS, "seconds"]
    rows = ["| module | " + " | ".join(header) + " |", "|---" + "|---:" * len(header) + "|"]
    for module, count in counts.items():
        cells = [str(count[c]) for c in COLUMNS] + [f"{count['seconds']:.0f}"]
        rows.append(f"| {module} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def compare(outcomes: dict[str, dict], divergences: list[Divergence], modules: list[str],
            default: dict[str, dict] | None = None) -> Comparison:
    """Divergences of modules that did not run are neither used nor stale; failures that
    also fail in `default` (outcomes under Dask's default scheduler) are upstream."""
    failures = {n: r["message"] for n, r in outcomes.items() if r["outcome"] in FAILED}
    unexpected = {n: m for n, m in failures.items()
                  if not any(d.explains(n, m) for d in divergences)}
    upstream = {n: m for n, m in unexpected.items()
                if (default or {}).get(n, {}).get("outcome") in FAILED}
    relevant = [d for d in divergences if d.test.split("::")[0] in modules]
    stale = [d for d in relevant if not any(d.explains(n, m) for n, m in failures.items())]
    return Comparison({n: m for n, m in unexpected.items() if n not in upstream}, stale,
                      upstream)


def check_under_wukong(modules: list[str], workdir: Path
                       ) -> tuple[dict[str, dict], Comparison]:
    """Run `modules` under Wukong, then the failures not on the list under Dask's default
    scheduler; every test's outcome under Wukong, and how they compare with the list."""
    divergences = load_divergences()
    outcomes = run_suites(modules, "wukong", workdir)
    comparison = compare(outcomes, divergences, modules)
    if comparison.unexpected:
        default = run_suites(list(comparison.unexpected), "default", workdir, tag="again")
        comparison = compare(outcomes, divergences, modules, default)
    return outcomes, comparison


def report(comparison: Comparison) -> str:
    lines = [f"{len(comparison.upstream)} failures fail under Dask's default scheduler too "
             "(not Wukong's):", *(f"  {n}: {m}" for n, m in comparison.upstream.items())]
    lines.append(f"{len(comparison.unexpected)} failures not on {DIVERGENCES.name}:")
    lines += [f"  {n}: {m}" for n, m in comparison.unexpected.items()]
    if comparison.stale:
        lines.append(f"{len(comparison.stale)} entries of {DIVERGENCES.name} match no failure "
                     "(the test passes now, or no longer exists): remove them")
        lines += [f"  {d.test}" for d in comparison.stale]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--scheduler", choices=("wukong", "default"), default="wukong")
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--render-docs", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.render_docs:
        DOCS.write_text(docs_with_divergences(DOCS.read_text(), load_divergences()))
        return 0
    if args.scheduler == "default":
        outcomes = run_suites(args.modules, "default", args.workdir)
        logger.info("%s", counts_table(module_counts(outcomes)))
        return 0
    outcomes, comparison = check_under_wukong(args.modules, args.workdir)
    logger.info("%s\n\n%s", counts_table(module_counts(outcomes)), report(comparison))
    return 0 if comparison.ok else 1


if __name__ == "__main__":
    sys.exit(main())
