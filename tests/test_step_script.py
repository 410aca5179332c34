"""Unit tests of the storage manager's step script, against real redis-servers of their own."""

from __future__ import annotations

from operator import add

import pytest
import redis
from conftest import TTL_MS, idx, job
from dask.utils_test import inc

from storage_manager import (
    JobGone,
    JobStore,
    MissingOutput,
    ShardSet,
    append_log_for,
    dumps,
    load_graph_blob,
    loads,
)
from storage_manager.protocol import ERROR, JobKeys, LogEntry
from storage_manager.signing import Signer
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server


@pytest.fixture(scope="module")
def shards():
    servers = [RedisServer(find_redis_server(), RedisUsers.generate()) for _ in range(2)]
    shard_set = ShardSet([s.url(ADMIN) for s in servers], Signer.generate())
    yield shard_set
    shard_set.close()
    for s in servers:
        s.stop()


@pytest.fixture
def clients(shards):
    yield [s.client for s in shards.shards]
    for c in (s.client for s in shards.shards):
        c.flushdb()


def fan_in_job(job_id: str):
    """Two leaves (p0, p1) meeting at one fan-in (j), which is the result."""
    dsk = {"p0": (inc, 1), "p1": (inc, 2), "j": (add, "p0", "p1")}
    return job(job_id=job_id, keys=("j",), dsk=dsk)


def mark(store: JobStore, task: int, parent: int, held=()):
    publish = store.publish()
    publish.mark(task, [parent], held=held)
    (result,) = publish.execute()
    return result


def test_marking_the_same_parent_twice_never_completes(shards, clients):
    """The done set counts parents, not calls: a duplicate mark cannot complete a 2-parent set."""
    g = fan_in_job("dup")
    JobStore(shards, g).upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    j, p0, p1 = idx(g, "j"), idx(g, "p0"), idx(g, "p1")
    assert not mark(store, j, p0).claimed
    assert not mark(store, j, p0).claimed
    assert not mark(JobStore(shards, g, owner="B"), j, p0).claimed
    assert mark(store, j, p1).claimed
    JobStore(shards, g).cleanup()


def test_claim_has_an_owner(shards, clients):
    """The mark that completes the set claims it; a retry by the same owner claims again,
    while any other owner is refused, also with a mark of its own parent."""
    g = fan_in_job("own")
    JobStore(shards, g).upload(dumps(g))
    a, b = JobStore(shards, g, owner="A"), JobStore(shards, g, owner="B")
    j, p0, p1 = idx(g, "j"), idx(g, "p0"), idx(g, "p1")
    assert not mark(b, j, p0).claimed
    assert mark(a, j, p1).claimed
    assert mark(a, j, p1).claimed, "a retried invocation re-claims"
    assert not mark(b, j, p1).claimed
    assert not mark(b, j, p0).claimed
    claim = clients[g.task_shard(j)].get(JobKeys("own").claim(j))
    assert claim == b"A"
    JobStore(shards, g).cleanup()


def test_claim_returns_the_other_inputs(shards, clients):
    """The completing mark returns the other parents' outputs stored beside the fan-in,
    but not the marking parent's own nor those the caller says it holds."""
    g = fan_in_job("fetch")
    JobStore(shards, g).upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    j, p0, p1 = idx(g, "j"), idx(g, "p0"), idx(g, "p1")
    assert g.output_shard(p0) == g.output_shard(p1) == g.task_shard(j)
    publish = store.publish()
    publish.write_output(p0, dumps(2))
    publish.mark(j, [p0])
    assert publish.execute()[0].claimed is False
    publish = store.publish()
    publish.write_output(p1, dumps(3))
    publish.mark(j, [p1])
    (result,) = publish.execute()
    assert result.claimed and result.inputs == {p0: dumps(2)}
    assert mark(store, j, p1, held=[p0]).inputs == {}, "a retry holding p0 skips it"
    assert loads(store.fetch_outputs([p1])[p1]) == 3
    JobStore(shards, g).cleanup()


def test_missing_input_is_reported(shards, clients):
    """An input that should be in Redis and is not (expired, deleted) is named, not None."""
    g = fan_in_job("missing")
    JobStore(shards, g).upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    j, p0, p1 = idx(g, "j"), idx(g, "p0"), idx(g, "p1")
    mark(store, j, p0)
    assert mark(store, j, p1).inputs == {}
    with pytest.raises(MissingOutput) as info:
        store.fetch_outputs([p1, p0])
    assert info.value.task in (p0, p1)
    JobStore(shards, g).cleanup()


def test_writes_refused_after_cleanup(shards, clients):
    """Once the client cleaned up, a straggler's writes, marks and log entries leave nothing."""
    g = fan_in_job("late")
    client_store = JobStore(shards, g)
    client_store.upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    j, p0 = idx(g, "j"), idx(g, "p0")
    assert load_graph_blob(shards, "late") == dumps(g)
    client_store.cleanup()
    assert all(c.dbsize() == 0 for c in clients)
    with pytest.raises(JobGone):
        load_graph_blob(shards, "late")
    for write in (lambda p: p.write_output(p0, b"x"), lambda p: p.mark(j, [p0]),
                  lambda p: p.announce("result", p0), lambda p: p.record_events(b"e")):
        publish = store.publish()
        write(publish)
        with pytest.raises(JobGone):
            publish.execute()
    append_log_for(shards, "late", LogEntry(ERROR, 0))
    assert all(c.dbsize() == 0 for c in clients)


def test_every_key_has_a_ttl_and_cleanup_removes_all(shards, clients):
    """No key of a job can outlive its TTL, and cleanup leaves no key at all."""
    g = fan_in_job("ttl")
    client_store = JobStore(shards, g)
    client_store.upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    j, p0, p1 = idx(g, "j"), idx(g, "p0"), idx(g, "p1")
    for parent in (p0, p1):
        publish = store.publish()
        publish.write_output(parent, dumps(parent))
        publish.record_events(b"events")
        publish.mark(j, [parent])
        publish.execute()
    publish = store.publish()
    publish.write_output(j, b"result")
    publish.announce("result", j)
    publish.execute()
    append_log_for(shards, "ttl", LogEntry(ERROR, j), ttl_ms=TTL_MS)
    keys = [(c, k) for c in clients for k in c.scan_iter("*")]
    names = {k.decode() for _, k in keys}
    prefix = JobKeys("ttl").prefix
    assert {f"{prefix}{n}" for n in ("graph", "live", "log", "events", f"o:{j}", f"d:{j}",
                                     f"c:{j}")} <= names
    for client, key in keys:
        assert 0 < client.pttl(key) <= TTL_MS, key
    client_store.cleanup()
    assert all(c.dbsize() == 0 for c in clients)


def test_step_reloads_a_forgotten_script(shards, clients):
    """A shard that restarted forgets its scripts (NOSCRIPT): the step reloads and retries."""
    g = fan_in_job("noscript")
    JobStore(shards, g).upload(dumps(g))
    store = JobStore(shards, g, owner="A")
    for c in clients:
        c.script_flush()
    assert not mark(store, idx(g, "j"), idx(g, "p0")).claimed
    JobStore(shards, g).cleanup()


def test_unknown_step_operation_is_an_error(shards, clients):
    """A malformed step is refused loudly rather than half applied in silence."""
    g = fan_in_job("bad-op")
    store = JobStore(shards, g)
    store.upload(dumps(g))
    with pytest.raises(redis.ResponseError, match="unknown step operation"):
        store.run_step(0, [store.keys.live], ["frobnicate"])
    store.cleanup()
