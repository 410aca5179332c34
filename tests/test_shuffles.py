"""Shuffles under Wukong: the task-based shuffle is Dask's default once wukong is imported, and a
disk shuffle (a partd store on one machine's disk) is refused at intake, naming the setting."""

from __future__ import annotations

import dask
import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pytest
from dask.utils import get_default_shuffle_method

from static_scheduler import DiskShuffleUnsupported, to_task_graph


def key_mod_7(x: int) -> int:
    return x % 7


def groups(bag: db.Bag, scheduler: str) -> list[tuple[int, list[int]]]:
    return sorted((k, sorted(v)) for k, v in bag.compute(scheduler=scheduler))


def test_bag_groupby_matches_sync_over_repeated_runs(cluster):
    """Bag.groupby with Dask's default shuffle: the same groups as `sync`, run after run on
    one cluster (the disk shuffle lost or duplicated elements, or failed on partd's lock)."""
    bag = db.from_sequence(range(2_000), npartitions=12).map(lambda x: x * 3 + 1)
    grouped = bag.groupby(key_mod_7)
    want = groups(grouped, "sync")
    assert len(want) == 7
    for _ in range(20):
        assert groups(grouped, "wukong") == want


def test_task_shuffle_is_dasks_default(monkeypatch):
    """Dask chooses the shuffle when it builds or optimizes a graph, from this setting; the
    default survives `dask.config.refresh`, and a method set explicitly wins."""
    assert dask.config.get("dataframe.shuffle.method") == "tasks"
    assert get_default_shuffle_method() == "tasks"
    try:
        dask.config.refresh()
        assert get_default_shuffle_method() == "tasks"
        monkeypatch.setenv("DASK_DATAFRAME__SHUFFLE__METHOD", "disk")
        dask.config.refresh()
        assert get_default_shuffle_method() == "disk"
    finally:
        monkeypatch.undo()
        dask.config.refresh()
    assert get_default_shuffle_method() == "tasks"


def test_dataframe_shuffle_by_default(cluster):
    """set_index and shuffle, with no method given, run on Wukong and equal `sync`."""
    pdf = pd.DataFrame({"k": [i * 7919 % 1_000 for i in range(3_000)], "v": range(3_000)})
    df = dd.from_pandas(pdf, npartitions=6)
    by_index = df.set_index("k")
    shuffled = df.shuffle("k", npartitions=4)
    got = dask.compute(by_index, shuffled, scheduler="wukong")
    want = dask.compute(by_index, shuffled, scheduler="sync")
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1].sort_values("v"), want[1].sort_values("v"))


@pytest.mark.parametrize("temporary_directory", [None, "tmp"])
def test_bag_disk_shuffle_is_refused(cluster, tmp_path, temporary_directory):
    """An explicit disk shuffle fails before anything runs, naming the store's task and the
    setting; with `temporary_directory` set the store is made by `apply(partd.File, ...)`."""
    directory = str(tmp_path) if temporary_directory else None
    with dask.config.set(temporary_directory=directory):
        grouped = db.from_sequence(range(100), npartitions=4).groupby(key_mod_7,
                                                                      shuffle="disk")
    with pytest.raises(DiskShuffleUnsupported, match=r"task \('partd-.*shuffle='tasks'"):
        grouped.compute(scheduler="wukong")


def test_dataframe_disk_shuffle_is_refused(cluster):
    """Chosen by argument or by Dask's setting, which the message shows."""
    df = dd.from_pandas(pd.DataFrame({"k": range(100), "v": range(100)}), npartitions=4)
    with pytest.raises(DiskShuffleUnsupported, match="shuffle_method='tasks'"):
        df.shuffle("k", shuffle_method="disk").compute(scheduler="wukong")
    with dask.config.set({"dataframe.shuffle.method": "disk"}), \
            pytest.raises(DiskShuffleUnsupported, match="currently 'disk'"):
        df.shuffle("k").compute(scheduler="wukong")


def test_task_shuffle_graph_passes_intake():
    """Intake looks for the store's maker, not for shuffles: a task shuffle's graph is kept."""
    bag = db.from_sequence(range(100), npartitions=4).groupby(key_mod_7, shuffle="tasks")
    graph = to_task_graph(bag, bag.__dask_keys__())
    assert len(graph) > 4
