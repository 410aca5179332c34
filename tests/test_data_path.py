"""The data path of large values, against real redis-servers: written with plain SETs before
the step script that marks them (never through Lua), left out of claim replies (the claimer
reads them itself), and never left behind by a step that finds its job gone."""

from __future__ import annotations

import threading
from operator import add

import numpy as np
import pytest
import redis
from dask.utils_test import inc

from static_scheduler import build_job_graph, to_task_graph
from storage_manager import JobGone, JobStore, Locality, ShardSet, dumps
from storage_manager.chunking import is_manifest
from storage_manager.shards import LARGE_VALUE_BYTES
from storage_manager.signing import Signer
from storage_manager.writable_replies import WRITABLE_BYTES
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server

TTL_MS = 60_000
LARGE = dumps(np.arange(200_000, dtype=np.float64))  # 1.6 MB: over LARGE_VALUE_BYTES
SMALL = dumps(np.arange(10, dtype=np.float64))
assert len(SMALL) <= LARGE_VALUE_BYTES < len(LARGE)


@pytest.fixture(scope="module")
def servers():
    started = [RedisServer(find_redis_server(), RedisUsers.generate()) for _ in range(2)]
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def shards(servers):
    shard_set = ShardSet([s.url(ADMIN) for s in servers], Signer.generate())
    yield shard_set
    for shard in shard_set.shards:
        shard.client.flushdb()
    shard_set.close()


def test_commands_reach_redis_as_sent(shards):
    """Whatever path a command is packed by: thousands of names in one command, numbers,
    small and large values, a command name of two words."""
    client = shards.shards[0].client
    names = [f"wk:test:{i}" for i in range(5_000)]
    client.mset({name: i for i, name in enumerate(names)})
    assert client.get(names[4_321]) == b"4321"
    client.rpush("wk:test:list", *range(1_000), "x", b"y", SMALL)
    assert client.lrange("wk:test:list", 998, -1) == [b"998", b"999", b"x", b"y", SMALL]
    client.set("wk:test:large", LARGE)
    assert client.get("wk:test:large") == LARGE
    assert client.unlink(*names, "wk:test:list", "wk:test:large") == len(names) + 2
    assert client.evalsha(client.script_load("return 7"), 0) == 7


def fan_in(shards: ShardSet, job_id: str, chunk_bytes: int = 64 * 1024 * 1024):
    """Two leaves meeting at one fan-in, uploaded; (graph, p0, p1, j)."""
    dsk = {"p0": (inc, 1), "p1": (inc, 2), "j": (add, "p0", "p1")}
    graph = build_job_graph(job_id, to_task_graph(dsk, ["j"]), ["j"], len(shards), TTL_MS,
                            Locality(chunk_bytes=chunk_bytes))
    JobStore(shards, graph).upload(dumps(graph))
    return graph, *(graph.keys.index(k) for k in ("p0", "p1", "j"))


def write_and_mark(store: JobStore, task: int, data: bytes, fan_in_task: int):
    publish = store.publish()
    publish.write_output(task, data)
    publish.mark(fan_in_task, [task])
    (result,) = publish.execute()
    return result


class Monitor:
    """The commands one shard executes, in order, with who ran them ('lua' for scripts)."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.commands: list[tuple[str, str, int]] = []
        """(client type, the command's first 200 characters, its length)"""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for entry in monitor.listen():
                if entry["command"] == "ECHO monitor-end":
                    return
                self.commands.append((entry["client_type"], entry["command"][:200],
                                      len(entry["command"])))

    def __enter__(self) -> Monitor:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.echo("monitor-end")
        self._thread.join(10)

    def first(self, prefix: str) -> tuple[int, str]:
        """(position, client type) of the first command starting with `prefix`."""
        for position, (client_type, command, _) in enumerate(self.commands):
            if command.startswith(prefix):
                return position, client_type
        raise AssertionError(f"no {prefix!r} in {[c[:2] for c in self.commands]}")


def test_a_large_output_is_set_before_its_mark_and_never_through_lua(servers):
    """One shard, so the write and the mark meet in one pipeline: the large value's SET (of
    its one chunk: a value this large is placed by its task) comes from the executor's
    connection, then the script writes its manifest and marks it; a small one stays in
    Lua."""
    shards = ShardSet([servers[0].url(ADMIN)], Signer.generate())
    graph, p0, p1, j = fan_in(shards, "set-first")
    store = JobStore(shards, graph, owner="A")
    keys = store.keys
    try:
        with Monitor(redis.Redis.from_url(servers[0].url(ADMIN))) as monitor:
            write_and_mark(store, p0, LARGE, j)
            write_and_mark(store, p1, SMALL, j)
        large_set, large_by = monitor.first(f"SET {keys.chunk(p0, 0)} ")
        first_mark, mark_by = monitor.first(f"SADD {keys.done(j)} ")
        assert large_by != "lua" and mark_by == "lua"
        assert large_set < monitor.first("EVALSHA ")[0] < first_mark
        assert monitor.first(f"SET {keys.output(p1)} ")[1] == "lua"
        assert all(length < LARGE_VALUE_BYTES for by, _, length in monitor.commands
                   if by == "lua" or _.startswith("EVALSHA"))
        assert store.shards.shards[0].client.pttl(keys.chunk(p0, 0)) > 0
    finally:
        JobStore(shards, graph).cleanup()
        shards.close()


@pytest.mark.parametrize("large_first", [True, False])
def test_a_claim_returns_small_inputs_and_leaves_large_ones_to_the_claimer(shards, large_first):
    """The claim's reply carries the other parent's output only if it is small; of a large
    one it carries the manifest, and the claimer reads the chunk, getting the same bytes."""
    graph, p0, p1, j = fan_in(shards, f"claim-{large_first}")
    first, second = (p0, p1) if large_first else (p1, p0)
    values = {p0: LARGE, p1: SMALL}
    assert not write_and_mark(JobStore(shards, graph, owner="A"), first, values[first], j).claimed
    claimer = JobStore(shards, graph, owner="B")
    claim = write_and_mark(claimer, second, values[second], j)
    assert claim.claimed
    if large_first:
        assert list(claim.inputs) == [p0] and is_manifest(claim.inputs[p0])
        assert claimer.resolve_chunks(claim.inputs) == {p0: LARGE}
        assert claimer.fetch_outputs([p0]) == {p0: LARGE}
    else:
        assert claim.inputs == {p1: SMALL}
    JobStore(shards, graph).cleanup()


@pytest.mark.parametrize("chunk_bytes", [64 * 1024 * 1024, 500_000])
def test_a_step_after_cleanup_leaves_no_large_value_behind(shards, chunk_bytes):
    """The large SETs reach Redis before the script finds the job gone; the executor unlinks
    them again, chunks included, so nothing of the job remains."""
    graph, p0, _, j = fan_in(shards, f"gone-{chunk_bytes}", chunk_bytes)
    JobStore(shards, graph).cleanup()
    with pytest.raises(JobGone):
        write_and_mark(JobStore(shards, graph, owner="late"), p0, LARGE, j)
    assert [s.client.dbsize() for s in shards.shards] == [0, 0]


def test_chunks_are_indexed_for_cleanup(shards):
    """Chunks are SET outside Lua but indexed by the guarded script, so cleanup finds them."""
    graph, p0, _, j = fan_in(shards, "chunks", 500_000)
    store = JobStore(shards, graph, owner="A")
    write_and_mark(store, p0, LARGE, j)
    assert store.fetch_outputs([p0]) == {p0: LARGE}
    assert sum(s.client.scard(store.keys.chunks) for s in shards.shards) == 4
    JobStore(shards, graph).cleanup()
    assert [s.client.dbsize() for s in shards.shards] == [0, 0]


def test_a_step_with_large_writes_reloads_a_forgotten_script(shards):
    """A shard that restarted forgets its scripts: the pipeline fails on NOSCRIPT after its
    SETs, and is replayed whole once the script is loaded again (SETs are idempotent)."""
    graph, p0, _, j = fan_in(shards, "noscript")
    store = JobStore(shards, graph, owner="A")
    for shard in shards.shards:
        shard.client.script_flush()
    assert not write_and_mark(store, p0, LARGE, j).claimed
    assert store.fetch_outputs([p0]) == {p0: LARGE}
    JobStore(shards, graph).cleanup()
    assert [s.client.dbsize() for s in shards.shards] == [0, 0]


def test_large_values_are_received_into_writable_buffers(shards):
    """GET and MGET on a shard's value connection return bulk strings of `WRITABLE_BYTES` or
    more as bytearrays received in place (exactly the bytes stored, next replies intact),
    smaller ones as bytes."""
    shard = shards.shards[0]
    big, small = bytes(range(256)) * 4097, b"x" * 100  # 1 MB + 256 B, and 100 B
    assert len(small) < WRITABLE_BYTES <= len(big)
    shard.client.mset({"test:big": big, "test:small": small, "test:edge": big[:WRITABLE_BYTES]})
    got = shard.values.mget(["test:big", "test:missing", "test:small", "test:edge", "test:big"])
    assert got == [big, None, small, big[:WRITABLE_BYTES], big]
    assert [type(v) for v in got] == [bytearray, type(None), bytes, bytearray, bytearray]
    pipe = shard.values.pipeline(transaction=False)
    for key in ("test:big", "test:small", "test:big"):
        pipe.get(key)
    assert pipe.execute() == [big, small, big]
    assert shard.values.get("test:small") == small
