"""Jobs the fault tests start on a thread and strike while they run: chains of sleeping
tasks, each leaving a file named after it as it starts (its side effect). Executors cannot
import this module, so its functions travel by value (as the test modules' do, see
`conftest`)."""

from __future__ import annotations

import pathlib
import sys
import threading
import time

import cloudpickle

import wukong

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def step(directory: str, name: str, seconds: float, *_: object) -> str:
    """A task with a side effect: a file named after it, then `seconds` asleep."""
    pathlib.Path(directory, name).touch()
    time.sleep(seconds)
    return name


def lanes(directory: pathlib.Path, count: int, steps: int, seconds: float) -> dict:
    """`count` chains of `steps` sleeping tasks, joined by "end"; far from done when struck
    after their first tasks started."""
    dsk: dict = {}
    for lane in range(count):
        previous: tuple = ()
        for i in range(steps):
            key = f"s-{lane}-{i}"
            dsk[key] = (step, str(directory), f"file {key}", seconds, *previous)
            previous = (key,)
    dsk["end"] = (list, [f"s-{lane}-{steps - 1}" for lane in range(count)])
    return dsk


def in_background(cluster: wukong.LocalCluster, dsk: dict,
                  key: str) -> tuple[threading.Thread, list[BaseException]]:
    """Start computing `key` of `dsk` on a thread; the thread, and the list its error
    lands in."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            wukong.get(dsk, key, cluster=cluster)
        except BaseException as exc:
            outcome.append(exc)

    job = threading.Thread(target=run)
    job.start()
    return job, outcome
