"""Chaos runs: random DAGs under random faults, and issue 16's targets.

    python -m benchmarks.chaos [--jobs 100] [--seed 0] [--leaves 200 --nap 0.02]

Part one: `--jobs` random DAGs (`random_dag`, 10-80 tasks, half of them sleeping), each
under one fault drawn at random (`chaos_faults.FAULTS`, and `duplicate`: the job runs on a
cluster whose runtime delivers every invocation twice), each followed by the same DAG
fault-free on the same cluster (the next job must be correct; its time is the job's
fault-free time). Counts: faults injected (a fault that found the job already done is not
counted), jobs recovered (correct although a fault struck), failed clearly, hung (must be
0), wrong or unclear (must be 0), next jobs wrong (must be 0), job keys left on the shards
(must be 0), and the median extra time of the recovered jobs per fault.

Part two, the targets: a tree reduction over `--leaves` leaves of tasks sleeping `--nap`
seconds each, fault-free and with one executor SIGKILLed per `--kill-every` tasks started
(median of `--repeat` runs each, the two kinds alternated; the target ratio is at most
1.5), and on the duplicating cluster, where each task's side effect must happen once
(repeats: must be 0). The victim is any busy worker: one executor may run most of a tree,
so a kill may strike the retry of one killed before, and three kills of one invocation
spend its retries (`ExecutorDied`, listed under the targets' errors; the run's time still
counts in the median).

Prints a table, appends one record to `--out` (JSON lines) and writes a dated section at the
top of `--markdown`'s `## History` (benchmarks/RESULTS.md). The machine may be shared: the
times are indicative.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import platform as host
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter

import wukong
from benchmarks import chaos_faults, history, random_dag
from benchmarks.chaos_faults import Outcome

HERE = pathlib.Path(__file__).parent
KINDS = (*chaos_faults.FAULTS, "duplicate")
BAD = ("hung", "wrong", "unclear")


def chaos_jobs(clusters: dict[str, wukong.LocalCluster], jobs: int, seed: int
               ) -> list[tuple[Outcome, Outcome]]:
    """Each job under its fault, with the fault-free run of the same DAG after it."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(jobs):
        fault = rng.choice(KINDS)
        nodes = random_dag.generate(rng.randint(10, 80), rng.randrange(2**31), naps=0.5)
        expected = chaos_faults.expected_value(nodes)
        cluster = clusters["duplicate" if fault == "duplicate" else "plain"]
        faulted = chaos_faults.run_job(cluster, nodes, "none" if fault == "duplicate" else fault,
                                       rng, expected=expected)
        if fault == "duplicate":  # every invocation of the job was delivered twice
            faulted = Outcome(fault, True, faulted.result, faulted.error, faulted.seconds,
                              faulted.keys_left)
        after = chaos_faults.run_job(cluster, nodes, "none", rng, expected=expected)
        pairs.append((faulted, after))
    return pairs


def summary(pairs: list[tuple[Outcome, Outcome]]) -> dict:
    """The counts of part one (see the module's docstring)."""
    struck = [(o, after) for o, after in pairs if o.injected]
    extra: dict[str, list[float]] = {}
    for o, after in struck:
        if o.result == "correct":
            extra.setdefault(o.fault, []).append(o.seconds - after.seconds)
    results = Counter(o.result for o, _ in pairs)
    return {
        "jobs": len(pairs),
        "faults injected": dict(Counter(o.fault for o, _ in struck)),
        "recovered": sum(1 for o, _ in struck if o.result == "correct"),
        "failed clearly": results["failed"],
        "hung": results["hung"],
        "wrong or unclear": results["wrong"] + results["unclear"],
        "next job wrong": sum(1 for _, after in pairs if after.result != "correct"),
        "keys left": sum(o.keys_left + after.keys_left for o, after in pairs),
        "median extra seconds": {fault: statistics.median(times)
                                 for fault, times in sorted(extra.items())},
        "errors": dict(Counter(o.error.partition(":")[0] for o, _ in pairs if o.error)),
    }


def killing(cluster: wukong.LocalCluster, directory: pathlib.Path, every: int,
            job: threading.Thread) -> int:
    """While `job` runs, SIGKILL a busy worker each time another `every` tasks have started
    (at the middle of each hundred, for `every` 100), and never before half of `every` new
    tasks started since the last kill; the kills made."""
    kills, rng, last = 0, random.Random(every), -every
    while job.is_alive():
        count = chaos_faults.started(directory)
        due = count >= max(every * kills, last) + every // 2
        if due and chaos_faults.kill_executor(cluster, rng, job.is_alive):
            kills, last = kills + 1, count
        time.sleep(chaos_faults.POLL_SECONDS)
    return kills


def sleeping_job(cluster: wukong.LocalCluster, args: argparse.Namespace, kill: bool
                 ) -> dict:
    """One run of the sleeping tree: its seconds, whether it was right, kills and repeats."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = pathlib.Path(scratch)
        dsk, root = chaos_faults.sleeping_tree(args.leaves, args.nap, directory)
        ended: dict = {}

        def run() -> None:
            try:
                ended["value"] = cluster.get(dsk, root)
            except BaseException as exc:
                ended["error"] = f"{type(exc).__name__}: {exc}"

        job = threading.Thread(target=run, daemon=True)
        start = time.perf_counter()
        job.start()
        kills = killing(cluster, directory, args.kill_every, job) if kill else 0
        job.join()
        return {"seconds": time.perf_counter() - start, "kills": kills,
                "correct": ended.get("value") == args.leaves, "error": ended.get("error", ""),
                "repeats": chaos_faults.repeats(directory)}


def targets(clusters: dict[str, wukong.LocalCluster], args: argparse.Namespace) -> dict:
    """Part two (see the module's docstring)."""
    sleeping_job(clusters["plain"], args, kill=False)  # warm-up: workers, learned estimates
    free, killed = [], []
    for _ in range(args.repeat):  # alternated, so a machine whose speed drifts skews neither
        free.append(sleeping_job(clusters["plain"], args, kill=False))
        killed.append(sleeping_job(clusters["plain"], args, kill=True))
    doubled = sleeping_job(clusters["duplicate"], args, kill=False)
    tasks = len(chaos_faults.sleeping_tree(args.leaves, args.nap, HERE)[0])
    return target_summary(free, killed, doubled, tasks)


def target_summary(free: list[dict], killed: list[dict], doubled: dict, tasks: int) -> dict:
    fault_free = statistics.median(r["seconds"] for r in free)
    with_kills = statistics.median(r["seconds"] for r in killed)
    return {"tasks": tasks, "fault-free seconds": fault_free, "killed seconds": with_kills,
            "ratio": with_kills / fault_free, "kills": [r["kills"] for r in killed],
            "all correct": all(r["correct"] for r in (*free, *killed, doubled)),
            "errors": [r["error"] for r in (*free, *killed, doubled) if r["error"]],
            "duplicate-delivery repeats": doubled["repeats"]}


def table(part_one: dict, part_two: dict) -> str:
    injected = ", ".join(f"{k} {n}" for k, n in sorted(part_one["faults injected"].items()))
    extra = ", ".join(f"{k} {s:+.3f}" for k, s in part_one["median extra seconds"].items())
    rows = [("jobs", part_one["jobs"]), ("faults injected", injected or "none"),
            ("recovered", part_one["recovered"]), ("failed clearly", part_one["failed clearly"]),
            ("hung (must be 0)", part_one["hung"]),
            ("wrong or unclear (must be 0)", part_one["wrong or unclear"]),
            ("next job wrong (must be 0)", part_one["next job wrong"]),
            ("keys left (must be 0)", part_one["keys left"]),
            ("median extra seconds per recovered fault", extra or "none"),
            (f"sleeping tree of {part_two['tasks']} tasks, fault-free s",
             f"{part_two['fault-free seconds']:.3f}"),
            ("... with kills " + "/".join(map(str, part_two["kills"])) + ", s",
             f"{part_two['killed seconds']:.3f}"),
            ("ratio (target <= 1.5)", f"{part_two['ratio']:.2f}"),
            ("sleeping trees all correct", part_two["all correct"]),
            ("duplicate-delivery repeats (must be 0)", part_two["duplicate-delivery repeats"])]
    return "\n".join(["| measure | value |", "|---|---:|",
                      *(f"| {name} | {value} |" for name, value in rows)])


def write_history(markdown: pathlib.Path, command: str, out: str, text: str) -> None:
    """A dated section at the top of the file's `## History` (the section is made if none)."""
    heading = f"### {history.now()}: chaos (`{command}`)"
    about = f"{os.cpu_count()}-core `{host.node()}`; times indicative. Records in `{out}`."
    history.add_section(markdown, f"{heading}\n\n{about}\n\n{text}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--leaves", type=int, default=200, help="of the sleeping tree")
    p.add_argument("--nap", type=float, default=0.02, help="seconds each sleeping task sleeps")
    p.add_argument("--kill-every", type=int, default=100, help="tasks per executor killed")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--out", default="benchmarks/chaos.jsonl", help="JSON lines, appended")
    p.add_argument("--markdown", type=pathlib.Path, default=None,
                   help="write a section into this file's History (benchmarks/RESULTS.md)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with chaos_faults.chaos_cluster(args.shards) as plain, \
            chaos_faults.chaos_cluster(args.shards, duplicate=True) as doubled:
        clusters = {"plain": plain, "duplicate": doubled}
        part_one = summary(chaos_jobs(clusters, args.jobs, args.seed))
        part_two = targets(clusters, args)
    command = "python -m benchmarks.chaos " + shlex.join(sys.argv[1:] if argv is None else argv)
    with open(args.out, "a") as f:
        f.write(json.dumps({"command": command, "cores": os.cpu_count(), **part_one,
                            "targets": part_two}) + "\n")
    text = table(part_one, part_two)
    if args.markdown is not None:
        write_history(args.markdown, command, args.out, text)
    sys.stdout.write(text + "\n")
    bad = part_one["hung"] or part_one["wrong or unclear"] or part_one["keys left"]
    return 1 if bad or part_one["next job wrong"] or part_two["duplicate-delivery repeats"] else 0


if __name__ == "__main__":
    sys.exit(main())
