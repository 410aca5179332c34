"""Storage of values: out-of-band pickling, and values split over keys on several shards."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import job_keys
from dask.utils_test import inc

import wukong
from static_scheduler import build_job_graph, to_task_graph
from storage_manager import JobStore, Locality, dumps, loads
from storage_manager.chunking import is_manifest
from storage_manager.protocol import JobKeys

MiB = 1024 * 1024


def test_out_of_band_buffers_are_read_without_copying():
    """An array read back from a writable buffer is a writable view of it, not a copy."""
    array = np.arange(1_000_000, dtype=np.float64)
    blob = bytearray(dumps({"a": array, "n": 3}))
    back = loads(blob)
    assert back["n"] == 3
    np.testing.assert_array_equal(back["a"], array)
    assert np.shares_memory(back["a"], np.frombuffer(blob, dtype=np.uint8))
    assert len(blob) < array.nbytes + 1000
    assert back["a"].flags.aligned and back["a"].flags.writeable


def test_values_read_from_immutable_bytes_are_writable_copies():
    """Under Dask's own schedulers every value is writable; so is one read from `bytes`."""
    array = np.arange(1_000, dtype=np.float64)
    blob = dumps(array)
    for data in (blob, memoryview(blob)):
        back = loads(data)
        assert back.flags.writeable
        assert not np.shares_memory(back, np.frombuffer(blob, dtype=np.uint8))
        back += 1
        np.testing.assert_array_equal(back, array + 1)


def test_values_without_buffers_stay_plain_pickles():
    assert loads(dumps([1, "two", 3.0])) == [1, "two", 3.0]
    strided = np.arange(100.0)[::2]
    np.testing.assert_array_equal(loads(dumps(strided)), strided)


def add_one(x):
    return x + 1


def test_values_pickle_plainly_unless_they_hold_what_must_go_by_value():
    """The C pickler for plain values; cloudpickle, which saves them by value, for values
    holding a lambda or a function of a module registered to go by value (this one, as a
    notebook's `__main__`)."""
    plain = dumps({"x": np.ones(3), "f": np.add})
    assert b"cloudpickle" not in plain
    assert loads(plain)["f"] is np.add
    for value in ([lambda x: x + 1], [add_one]):
        blob = dumps(value)
        assert b"cloudpickle" in blob
        assert loads(blob)[0](1) == 2


def test_bad_chunk_size_is_named():
    with pytest.raises(ValueError, match=r"wukong\.storage\.chunk-bytes"):
        Locality(chunk_bytes=600 * MiB)


def chunked_job(cluster, chunk_bytes):
    tasks = to_task_graph({"big": (inc, 1)}, ["big"])
    graph = build_job_graph("chunks" + str(chunk_bytes), tasks, ["big"], len(cluster.shards),
                            60_000, Locality(chunk_bytes=chunk_bytes))
    store = JobStore(cluster.shards, graph, owner="test")
    store.upload(dumps(graph))
    return graph, store


def test_a_600_mb_array_round_trips_through_chunks(cluster):
    """Over Redis's 512 MB limit: stored as 64 MiB chunks spread over both shards, read back
    whole, and every key is gone after cleanup."""
    graph, store = chunked_job(cluster, 64 * MiB)
    array = np.arange(75_000_000, dtype=np.float64)  # 600 MB
    publish = store.publish()
    publish.write_output(0, dumps(array))
    del array
    publish.execute()
    keys = JobKeys(graph.job_id)
    head = cluster.shards.shards[graph.output_shard(0)].client.get(keys.output(0))
    assert is_manifest(head)
    per_shard = [s.client.scard(keys.chunks) for s in cluster.shards.shards]
    assert sum(per_shard) == 9 and min(per_shard) >= 4, per_shard
    back = loads(store.fetch_outputs([0])[0])
    assert back.shape == (75_000_000,) and back[0] == 0 and back[-1] == 74_999_999
    np.testing.assert_array_equal(back[::1_000_000], np.arange(0, 75_000_000, 1_000_000))
    del back
    store.cleanup()
    assert job_keys(cluster.admin_urls) == []


def test_chunked_values_pass_between_executors(cluster):
    """With 1 MiB chunks, large inputs and results go through chunked storage in a job."""
    x = da.random.default_rng(1).random((2000, 2000), chunks=(1000, 1000))
    y = (x @ x.T) + 1
    with dask.config.set({"wukong.storage.chunk-bytes": MiB,
                          "wukong.locality.clustering": False,
                          "wukong.locality.delayed-io": False}):
        got = y.compute(scheduler="wukong")
    np.testing.assert_allclose(got, y.compute(scheduler="sync"))
    assert wukong.last_job().bytes_read > 8 * MiB
