"""Unit tests of the static scheduler (intake, job graph, schedules) and of the storage
manager's step script, the latter against a real redis-server of its own."""

from __future__ import annotations

import importlib
import json
import pathlib
from operator import add

import dask.array as da
import pytest
import redis
from dask._task_spec import Alias, DataNode, Task, TaskRef
from dask.highlevelgraph import HighLevelGraph
from dask.utils_test import inc

from executor_lambda import Invocation
from executor_lambda.environment import ENV_REDIS_URLS
from static_scheduler import (
    CycleError,
    UnserializableTask,
    build_job_graph,
    requested_keys,
    static_schedule,
    to_task_graph,
)
from storage_manager import (
    GraphSeed,
    JobGone,
    JobKeys,
    JobStore,
    MissingOutput,
    ShardSet,
    append_log_for,
    dumps,
    load_graph_blob,
    loads,
)
from storage_manager.graph_seed import SEED_BYTES
from wukong.redis_servers import RedisServer, find_redis_server

handler_module = importlib.import_module("executor_lambda.handler")

TTL_MS = 60_000

# d is a value; a and b read it; c joins them (a fan-in); e follows c; f follows a.
DSK = {"d": 1, "a": (inc, "d"), "b": (inc, "d"), "c": (add, "a", "b"), "e": (inc, "c"),
       "f": (inc, "a"), "unused": (inc, "f"), "z": 5}


def job(job_id="job1", keys=("e", "f"), num_shards=2, dsk=DSK):
    tasks = to_task_graph(dsk, list(keys))
    return build_job_graph(job_id, tasks, keys, num_shards, TTL_MS)


def idx(graph, key):
    return graph.keys.index(key)


# -- intake -------------------------------------------------------------------------------------

def test_requested_keys_flattens_and_dedupes():
    """Nested key lists name each key once, in first-seen order; a single key is a list of one."""
    assert requested_keys([["a", ["b"]], "a", [("t", 1)]]) == ["a", "b", ("t", 1)]
    assert requested_keys(("t", 1)) == [("t", 1)]
    assert requested_keys("x") == ["x"]


def test_intake_culls_to_what_keys_need():
    """Tasks no requested key depends on are not part of the job."""
    tasks = to_task_graph(DSK, ["e", ["f"]])
    assert set(tasks) == {"a", "b", "c", "d", "e", "f"}
    assert isinstance(tasks["d"], DataNode)
    assert isinstance(tasks["c"], Task)
    assert set(to_task_graph(DSK, "b")) == {"b", "d"}


def test_intake_missing_keys():
    """Missing requested keys raise KeyError naming them, one or several."""
    with pytest.raises(KeyError, match="nope"):
        to_task_graph(DSK, "nope")
    with pytest.raises(KeyError) as info:
        to_task_graph(DSK, ["nope", ["e", "nada"]])
    assert info.value.args[0] == ["nope", "nada"]


def test_intake_of_collections_and_high_level_graphs():
    """Anything with `__dask_graph__` and HighLevelGraphs are accepted as they are."""
    x = da.ones(10, chunks=5).sum()
    tasks = to_task_graph(x, x.__dask_keys__())
    assert x.__dask_keys__()[0] in tasks
    hlg = HighLevelGraph({"l": {"x": 1, "y": (inc, "x")}}, {"l": set()})
    assert set(to_task_graph(hlg, "y")) == {"x", "y"}


def test_intake_of_task_spec_with_alias():
    """An Alias is a node with one dependency, like any other."""
    dsk = {"v": DataNode("v", 2), "t": Task("t", inc, TaskRef("v")), "al": Alias("al", "t")}
    tasks = to_task_graph(dsk, "al")
    assert set(tasks) == {"v", "t", "al"}
    graph = build_job_graph("j", tasks, ["al"], 1, TTL_MS)
    assert graph.dependencies[idx(graph, "al")] == (idx(graph, "t"),)


# -- the job graph --------------------------------------------------------------------------------

def test_build_job_graph_structure():
    """Dependencies, dependents, data nodes, results and how many parents each task waits for."""
    g = job()
    i = {k: idx(g, k) for k in "abcdef"}
    assert len(g) == 6
    assert set(g.dependencies[i["c"]]) == {i["a"], i["b"]}
    assert set(g.dependents[i["a"]]) == {i["c"], i["f"]}
    assert set(g.dependents[i["d"]]) == {i["a"], i["b"]}
    assert g.data == {i["d"]}
    assert g.results == {i["e"], i["f"]}
    assert [g.waits_for[i[k]] for k in "abcdef"] == [0, 0, 2, 0, 1, 1]
    assert sorted(g.leaves) == sorted([i["a"], i["b"]]), "a data node is never a leaf"
    assert [g.is_fan_in(i[k]) for k in "abcdef"] == [False, False, True, False, False, False]


def test_outputs_that_stay_local_and_where_outputs_live():
    """An output whose only reader is a single-parent dependent never goes to Redis; one read
    by a single fan-in lives on that fan-in's shard."""
    g = job()
    i = {k: idx(g, k) for k in "abcdef"}
    assert g.stays_local(i["c"]), "e is c's only dependent and waits only for c"
    assert not g.stays_local(i["a"]), "a has two dependents"
    assert not g.stays_local(i["b"]), "b's dependent is a fan-in"
    assert not g.stays_local(i["e"]), "e is a result"
    assert g.output_shard(i["b"]) == g.task_shard(i["c"])
    assert g.output_shard(i["a"]) == g.task_shard(i["a"])
    assert {g.task_shard(t) for t in range(len(g))} == {0, 1}


def test_job_graph_pickles_without_its_caches():
    """The graph travels without loaded nodes or decoded keys, and keeps everything else."""
    g = job()
    assert g.node(idx(g, "a"))({"d": 1}) == 2
    back = loads(dumps(g))
    assert back._nodes == {} and back._keys is None
    assert [back.key(t) for t in range(len(g))] == list(g.keys)
    assert back._keys is None, "one key decodes only its block"
    assert back.keys == g.keys
    assert back.waits_for == g.waits_for
    assert back.leaves == g.leaves
    assert (back.data, back.results) == (g.data, g.results)
    assert back.node(idx(g, "c"))({"a": 2, "b": 3}) == 5


def test_job_graph_round_trip_of_a_large_graph():
    """Every task's edges, blob, data flag and result flag survive the compact encoding, and
    a task outside the graph is an IndexError naming it."""
    dsk = {("v", i): i for i in range(50)}
    dsk.update({("s", i): (add, ("v", i % 50), ("v", (i * 7) % 50)) for i in range(3000)})
    dsk["total"] = (sum, [("s", i) for i in range(0, 3000, 3)])
    keys = ["total", ("s", 1), ("s", 2)]
    tasks = to_task_graph(dsk, keys)
    g = build_job_graph("big", tasks, keys, 4, TTL_MS)
    back = loads(dumps(g))
    index = {k: i for i, k in enumerate(tasks)}
    assert len(back) == len(tasks) == len(back.dependencies) == len(back.dependents)
    for key, node in tasks.items():
        t = index[key]
        assert back.dependencies[t] == tuple(index[d] for d in node.dependencies)
        assert back.node_blob(t) == g.node_blob(t)
    assert list(back.dependents) == list(g.dependents)
    assert back.key(len(tasks) - 1) == g.keys[-1] and back.keys == g.keys
    assert set(back.dependents[index[("v", 0)]]) == {
        index[("s", i)] for i in range(3000)
        if ("s", i) in index and 0 in (i % 50, (i * 7) % 50)}
    assert back.data == {index[("v", i)] for i in range(50)}
    assert back.results == {index[k] for k in keys}
    assert back.waits_for[index[("s", 3)]] == 0, "both its parents are data"
    assert back.waits_for[index["total"]] == 1000
    assert back.node(index[("s", 3)])({("v", 3): 3, ("v", 21): 21}) == 24
    with pytest.raises(IndexError, match=str(len(tasks))):
        back.dependencies[len(tasks)]


def test_static_schedule_is_dfs_through_dependents():
    """From a leaf, depth first: the first dependent and everything after it, then the next."""
    g = job()
    a, b, c, e, f = (idx(g, k) for k in "abcef")
    order = static_schedule(g, a)
    first, second = g.dependents[a]
    after = {c: [c, e], f: [f]}
    assert order == [a, *after[first], *after[second]]
    assert static_schedule(g, b) == [b, c, e]


def test_static_schedule_visits_shared_descendants_once():
    """A diamond below the leaf: the join is reached twice but scheduled once."""
    dsk = {"r": (inc, 1), "x": (inc, "r"), "y": (inc, "r"), "j": (add, "x", "y")}
    g = job(keys=("j",), dsk=dsk)
    order = static_schedule(g, idx(g, "r"))
    assert sorted(order) == sorted(range(4))
    assert order[0] == idx(g, "r")


def test_cycles_are_refused_naming_their_tasks():
    """Tasks on the cycle are named; tasks merely behind it are not."""
    dsk = {"s": (inc, 1), "p": (add, "s", "r"), "q": (inc, "p"), "r": (inc, "q"),
           "behind": (inc, "r")}
    tasks = to_task_graph(dsk, ["behind"])
    with pytest.raises(CycleError) as info:
        build_job_graph("j", tasks, ["behind"], 1, TTL_MS)
    message = str(info.value)
    assert all(repr(k) in message for k in ("p", "q", "r"))
    assert "'behind'" not in message and "'s'" not in message


def test_unserializable_task_named():
    """The task whose data cannot be pickled is named in the error."""
    import threading

    tasks = to_task_graph({"ok": (inc, 1), "bad": (id, threading.Lock())}, ["ok", "bad"])
    with pytest.raises(UnserializableTask, match="'bad'"):
        build_job_graph("j", tasks, ["ok", "bad"], 1, TTL_MS)


def triple(x):
    return 3 * x


def test_tasks_pickle_plainly_unless_cloudpickle_must_save_them_by_value():
    """Importable functions go by reference through the C pickler; this module's functions
    (registered to go by value, as in a notebook's `__main__`) and lambdas by value."""
    dsk = {"std": (add, 1, 2), "mine": (triple, 2), "anon": (lambda x: x - 1, 5)}
    graph = build_job_graph("j", to_task_graph(dsk, list(dsk)), list(dsk), 1, TTL_MS)
    blobs = {key: graph.node_blob(t) for t, key in enumerate(graph.keys)}
    assert b"cloudpickle" not in blobs["std"]
    assert b"cloudpickle" in blobs["mine"] and b"cloudpickle" in blobs["anon"]
    assert [graph.node(graph.keys.index(k))() for k in dsk] == [3, 6, 4]


def test_seed_of_a_leaf_carries_its_node_and_data_inputs():
    """A leaf whose inputs are all data has a seed that runs it alone; a task waiting for other
    tasks, or a leaf with inputs over the seed's limit, has none."""
    g = job(dsk={**DSK, "big": b"x" * (SEED_BYTES + 1), "g": (len, "big")}, keys=("e", "g"))
    seed = GraphSeed.decode(GraphSeed.of(g, idx(g, "a")).encode())
    node, inputs = seed.node_and_inputs()
    assert seed.task == idx(g, "a") and inputs == {"d": 1} and node(inputs) == 2
    assert GraphSeed.of(g, idx(g, "c")) is None
    assert GraphSeed.of(g, idx(g, "g")) is None


def touch(path: str) -> str:
    pathlib.Path(path).touch()
    return path


def test_seeded_leaf_runs_before_its_executor_reads_the_graph(shards, monkeypatch, tmp_path):
    """The executor runs a seeded leaf from its payload while another thread reads the graph:
    with no graph in Redis (the job is gone) the leaf still ran, and nothing was published."""
    flag = str(tmp_path / "ran")
    g = job(job_id="seeded", keys=("t",), dsk={"p": flag, "t": (touch, "p")})
    monkeypatch.setenv(ENV_REDIS_URLS, ",".join(shards.urls))
    monkeypatch.setattr(handler_module, "_environment", None)
    event = json.loads(Invocation(job=g.job_id, task=idx(g, "t"),
                                  seed=GraphSeed.of(g, idx(g, "t")).encode()).encode())
    assert handler_module.handler(event)["status"] == "gone"
    assert pathlib.Path(flag).exists()


# -- the step script against a real redis-server ---------------------------------------------

@pytest.fixture(scope="module")
def shards():
    servers = [RedisServer(find_redis_server()) for _ in range(2)]
    shard_set = ShardSet([s.url for s in servers])
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
    append_log_for(shards, "late", {"kind": "error", "task": 0, "data": b""})
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
    append_log_for(shards, "ttl", {"kind": "error", "task": j, "data": b""}, ttl_ms=TTL_MS)
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
