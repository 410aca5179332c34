"""At-least-once delivery, exactly-once scheduling: with every invocation delivered twice by
the local runtime (`WUKONG_DUPLICATE_DELIVERY=1`), each task's side effect happens once, on
a tree reduction and on a fan-out and fan-in graph, with batches of leaves once their
durations are learned."""

from __future__ import annotations

import os
import pathlib
import signal
from collections import Counter

import dask
import pytest
from conftest import job_keys

import wukong
from executor_lambda.platforms.local.settings import ENV_DUPLICATE_DELIVERY


def record(path: str, *values: float) -> float:
    """A side effect: one line appended to the task's own file."""
    with open(path, "a") as f:
        f.write("ran\n")
    return sum(values) + 1


@pytest.fixture(scope="module")
def doubled():
    os.environ[ENV_DUPLICATE_DELIVERY] = "1"
    try:
        with wukong.LocalCluster(shards=2) as c:
            yield c
            assert job_keys(c.admin_urls) == [], "a job left keys in Redis"
    finally:
        del os.environ[ENV_DUPLICATE_DELIVERY]


def tree(out: pathlib.Path, leaves: int) -> tuple[dict, str]:
    """A tree reduction whose every task (leaves too) records that it ran."""
    dsk: dict = {}
    level = []
    for i in range(leaves):
        dsk[f"path-leaf-{i}"] = str(out / f"leaf-{i}")
        dsk[("dupleaf", i)] = (record, f"path-leaf-{i}", i)
        level.append(("dupleaf", i))
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for j in range(0, len(level), 2):
            key = (f"dupsum{depth}", j // 2)
            dsk[f"path-{key}"] = str(out / f"sum-{depth}-{j // 2}")
            dsk[key] = (record, f"path-{key}", level[j], level[j + 1])
            nxt.append(key)
        level = nxt
    return dsk, level[0]


def fan_out_fan_in(out: pathlib.Path, width: int) -> tuple[dict, str]:
    """One leaf fanned out to `width` tasks (invoked from its executor), joined in pairs,
    then all at once."""
    dsk: dict = {"path-src": str(out / "src"), "dupsrc": (record, "path-src")}
    for i in range(width):
        dsk[f"path-mid-{i}"] = str(out / f"mid-{i}")
        dsk[("dupmid", i)] = (record, f"path-mid-{i}", "dupsrc")
    pairs = []
    for j in range(width // 2):
        dsk[f"path-pair-{j}"] = str(out / f"pair-{j}")
        dsk[("duppair", j)] = (record, f"path-pair-{j}", ("dupmid", 2 * j), ("dupmid", 2 * j + 1))
        pairs.append(("duppair", j))
    dsk["path-total"] = str(out / "total")
    dsk["duptotal"] = (record, "path-total", *pairs)
    return dsk, "duptotal"


def run_once_each(doubled, make, out: pathlib.Path, size: int) -> None:
    out.mkdir()
    dsk, root = make(out, size)
    with dask.config.set({"wukong.scheduling.client-finalize": False}):
        assert doubled.get(dsk, root) == dask.get(dsk, root)
    lines = Counter({p.name: len(p.read_text().splitlines()) for p in out.iterdir()})
    # dask.get ran every task once too: each file has two lines, one of them Wukong's
    assert set(lines.values()) == {2}, {k: n for k, n in lines.items() if n != 2}
    assert len(lines) == sum(1 for k in dsk if not str(k).startswith("path-"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("make,size", [(tree, 32), (fan_out_fan_in, 16)],
                         ids=["tree", "fan-out-fan-in"])
def test_each_task_runs_once_under_duplicate_delivery(doubled, make, size, tmp_path):
    """Twice each: the second run starts cheap leaves in batches (durations learned)."""
    run_once_each(doubled, make, tmp_path / "first", size)
    run_once_each(doubled, make, tmp_path / "second", size)


def record_or_die_once(path: str, marker: str, *values: float) -> float:
    """`record`, after killing its own process the first time it runs."""
    if not pathlib.Path(marker).exists():
        pathlib.Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return record(path, *values)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("queue", [False, True], ids=["per-leaf", "work-queue"])
def test_a_killed_executor_under_duplicate_delivery(doubled, tmp_path, queue):
    """Duplicates and a SIGKILL together: the retry takes the dead delivery's claims over and
    the duplicates of every invocation are refused, and the job is correct. Only tasks the
    dead delivery ran before it died (its start tasks, its batch's region or its pulled
    tasks, the chain down to the victim) ran twice; the victim and what follows it ran
    once, and none more than twice: the retry takes over only the delivery it replaces,
    never a live duplicate's claims or pulled tasks."""
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    expected = dask.get(*tree(scratch, 16))
    dsk, root = tree(out, 16)
    dsk["dies-marker"] = str(tmp_path / "died")
    victim = ("dupsum2", 1)
    _, path, *parents = dsk[victim]
    dsk[victim] = (record_or_die_once, path, "dies-marker", *parents)
    with dask.config.set({"wukong.scheduling.client-finalize": False,
                          "wukong.scheduling.work-queue": queue}):
        assert doubled.get(dsk, root) == expected
    assert (tmp_path / "died").exists()
    lines = {p.name: len(p.read_text().splitlines()) for p in out.iterdir()}
    assert len(lines) == sum(1 for k in dsk if isinstance(k, tuple))
    assert lines["sum-2-1"] == lines["sum-4-0"] == 1, lines  # the victim and the root
    assert set(lines.values()) <= {1, 2}, lines
