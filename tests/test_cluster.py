"""`LocalCluster`: what it starts, what it stops, and the settings it takes from `dask.config`.

Each LocalCluster costs about a second, so the tests here start as few as they can.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

import dask
import dask.config
import psutil
import pytest
import redis
from conftest import job_keys, running, wait_until_gone
from dask.utils_test import inc

import wukong
from wukong.cluster import current_cluster
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server

PEAK_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then
  local now = redis.call('HLEN', KEYS[1])
  if now > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], now) end
end
"""
"""Counts the processes (executors) running `busy` tasks at once, in a hash of tasks per
process id, keeping the peak: an executor may run several such tasks at once on threads."""

DONE_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""


def busy(url, i):
    """Count how many executors run these at once, in Redis, keeping the peak."""
    client = redis.Redis.from_url(url)
    try:
        client.eval(PEAK_SCRIPT, 2, "test:running", "test:peak", os.getpid())
        time.sleep(0.1)
        client.eval(DONE_SCRIPT, 1, "test:running", os.getpid())
    finally:
        client.close()
    return i


def processes_of(c: wukong.LocalCluster) -> list[psutil.Process]:
    """Every process the cluster runs: redis-servers, the runtime and all its descendants."""
    runtime = psutil.Process(c.runtime.process.pid)
    servers = [psutil.Process(s.process.pid) for s in c.redis_servers]
    return [*servers, runtime, *runtime.children(recursive=True)]


def redis_children() -> set[int]:
    """The redis-server processes this test process started and that still run."""
    found = set()
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.name().startswith("redis-server") and running(p):
                found.add(p.pid)
    return found


def assert_all_gone(procs: list[psutil.Process]) -> None:
    """Processes we waited for are gone at once; their orphans exit on their own shortly."""
    alive = wait_until_gone(procs)
    assert alive == [], f"still running after close(): {alive}"


def test_config_honored_and_close_stops_everything():
    """`wukong.redis.shards` and `wukong.runtime.concurrency` from dask.config shape the
    cluster; `close()` stops every process it started, workers included."""
    with dask.config.set({"wukong.redis.shards": 3, "wukong.runtime.concurrency": 2}):
        c = wukong.LocalCluster()
    try:
        assert len(c.redis_servers) == 3
        assert len(c.redis_urls) == 3
        url = c.admin_urls[0]
        dsk = {("b", i): (busy, url, i) for i in range(8)}
        keys = list(dsk)
        assert c.get(dsk, keys) == tuple(range(8))
        client = redis.Redis.from_url(url)
        peak = int(client.get("test:peak"))
        client.delete("test:peak", "test:running")
        client.close()
        assert 1 <= peak <= 2, "more executors ran at once than wukong.runtime.concurrency"
        assert job_keys(c.admin_urls) == []
        procs = processes_of(c)
        assert len(procs) >= 3 + 1 + 1, "expected redis-servers, the runtime and a worker"
    finally:
        c.close()
    assert_all_gone(procs)
    assert c.runtime is None and c.redis_servers == []


def test_with_block_raising_still_stops_everything():
    """An error in the body of `with LocalCluster()` stops the cluster and deactivates it."""
    procs = []
    with pytest.raises(ZeroDivisionError), wukong.LocalCluster(shards=1) as c:
        assert current_cluster() is c
        assert c.get({"x": (sum, [1, 2])}, "x") == 3
        procs = processes_of(c)
        _ = 1 / 0
    assert procs
    assert_all_gone(procs)
    from wukong import active_clusters

    assert active_clusters.innermost() is not c


def test_environment_variables_map_into_config(monkeypatch):
    """`DASK_WUKONG__...` variables reach `wukong.*` settings, hyphens and lists included."""
    monkeypatch.setenv("DASK_WUKONG__RUNTIME__CONCURRENCY", "7")
    monkeypatch.setenv("DASK_WUKONG__RUNTIME__IDLE_TIMEOUT", "2.5")
    monkeypatch.setenv("DASK_WUKONG__REDIS__URLS", '["redis://example:6379/0"]')
    try:
        dask.config.refresh()
        from wukong.config import setting

        assert dask.config.get("wukong.runtime.concurrency") == 7
        assert setting("runtime.idle-timeout") == 2.5
        assert setting("redis.urls") == ["redis://example:6379/0"]
        assert setting("runtime.concurrency", 3) == 3, "an explicit argument wins"
        assert setting("redis.ttl") == 3600, "defaults survive a refresh"
    finally:
        monkeypatch.undo()
        dask.config.refresh()
    assert dask.config.get("wukong.runtime.concurrency") == 128


PROBE = "wukong_preload_probe"


def imported_before_this_task() -> bool:
    """The probe module is loaded, and not by this worker: it was forked with it."""
    probe = sys.modules.get(PROBE)
    return probe is not None and os.getpid() != probe.IMPORTED_BY


def test_preload_setting_imports_modules_in_the_fork_server(tmp_path, monkeypatch):
    """`wukong.runtime.preload` modules are imported once, by the fork server, so workers
    start with them; a name that cannot be imported is refused, naming the setting."""
    (tmp_path / f"{PROBE}.py").write_text("import os\nIMPORTED_BY = os.getpid()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(tmp_path), os.environ.get("PYTHONPATH")])))
    with pytest.raises(ValueError, match=r"wukong.runtime.preload.*'no_such_module_at_all'"):
        wukong.LocalCluster(preload=[PROBE, "no_such_module_at_all"])
    with dask.config.set({"wukong.runtime.preload": [PROBE]}), \
            wukong.LocalCluster(shards=1) as c:
        assert c.get({"probe": (imported_before_this_task,)}, "probe") is True


def test_missing_redis_server_says_how_to_install():
    """No redis-server binary: a FileNotFoundError that tells the user what to do."""
    with dask.config.set({"wukong.redis.server-binary": "/nonexistent/redis-server"}), \
            pytest.raises(FileNotFoundError) as info:
        wukong.LocalCluster()
    message = str(info.value)
    assert "apt-get install" in message
    assert "wukong.redis.server-binary" in message


def test_runtime_failing_to_start_stops_the_redis_servers():
    """If the runtime does not come up, the redis-servers started for it are stopped too."""
    before = redis_children()
    with dask.config.set({"wukong.runtime.start-timeout": 1e-6}), \
            pytest.raises(RuntimeError, match="did not start"):
        wukong.LocalCluster(shards=2)
    assert redis_children() == before


def test_external_redis_is_left_running(cluster):
    """A cluster given `redis_urls` uses that server, starts none, and does not stop it; while
    its `with` block runs it is the active cluster, inside the session's."""
    server = RedisServer(find_redis_server(), RedisUsers.generate())
    try:
        with wukong.LocalCluster(redis_urls=[server.url(ADMIN)]) as c:
            assert current_cluster() is c
            assert c.redis_servers == []
            assert c.redis_urls == [server.url(ADMIN)]
            assert c.get({"x": 1, "y": (sum, ["x", "x"])}, "y") == 2
        assert current_cluster() is cluster
        assert c.runtime is None
        assert server.process.poll() is None
        client = redis.Redis.from_url(server.url(ADMIN))
        assert client.ping()
        client.close()
        assert job_keys([server.url(ADMIN)]) == []
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_started_servers_keep_freed_memory(cluster):
    """The session's servers run with jemalloc's purging of freed pages off (as its own
    statistics report it), so a job's values reuse the pages the last job's freed; a server
    started without asking keeps the allocator's defaults."""
    def decay_options(url: str) -> str:
        client = redis.Redis.from_url(url)
        if "jemalloc" not in client.info("memory")["mem_allocator"]:
            pytest.skip("this redis-server does not use jemalloc")
        stats = client.execute_command("MEMORY", "MALLOC-STATS").decode()
        client.close()
        return " ".join(line.strip() for line in stats.splitlines() if "decay_ms" in line)

    assert all("dirty_decay_ms: -1" in decay_options(url) for url in cluster.admin_urls)
    server = RedisServer(find_redis_server(), RedisUsers.generate())
    try:
        assert "dirty_decay_ms: -1" not in decay_options(server.url(ADMIN))
    finally:
        server.stop()


def faults_reusing_freed_memory() -> int:
    """Page faults while refilling 32 MiB of blocks just freed: none if the worker kept the
    freed heap, one per page if it was returned and has to be mapped and zeroed again."""
    import resource

    blocks = [bytearray(8 * 2**20) for _ in range(4)]
    del blocks
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [bytearray(8 * 2**20) for _ in range(4)]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del blocks
    return faults


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc tunables")
def test_workers_keep_freed_memory(cluster):
    """With `wukong.runtime.keep-freed-bytes` (on by default) a worker's next values reuse
    the heap its last ones freed; at 0 the C library returns it and pays a fault per page
    (8,192 for 32 MiB) to get it back. A negative value is refused, naming the setting."""
    pages = 32 * 2**20 // resource.getpagesize()
    assert cluster.get({"f": (faults_reusing_freed_memory,)}, "f") < pages // 10
    with dask.config.set({"wukong.runtime.keep-freed-bytes": 0}), \
            wukong.LocalCluster(shards=1) as c:
        assert c.get({"f": (faults_reusing_freed_memory,)}, "f") > pages // 2
    with dask.config.set({"wukong.runtime.keep-freed-bytes": -1}), \
            pytest.raises(ValueError, match=r"wukong\.runtime\.keep-freed-bytes"):
        wukong.LocalCluster()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc tunables")
def test_the_client_keeps_freed_memory(cluster):
    """The client (this process) keeps freed heap too once it ran a job
    (`wukong.client.keep-freed-bytes`), so the next job's fetched values reuse pages."""
    assert cluster.get({"x": (inc, 1)}, "x") == 2
    assert faults_reusing_freed_memory() < 32 * 2**20 // resource.getpagesize() // 10
    with dask.config.set({"wukong.client.keep-freed-bytes": "lots"}), \
            pytest.raises(ValueError, match=r"wukong\.client\.keep-freed-bytes.*'lots'"):
        cluster.get({"x": (inc, 1)}, "x")


DEFAULT_CLUSTER_SCRIPT = """
import json
import dask.array as da
import wukong
from wukong import cluster

total = da.ones(10, chunks=5).sum().compute(scheduler="wukong")
c = cluster._default
print(json.dumps({"total": float(total), "shards": len(c.redis_urls),
                  "pids": [s.process.pid for s in c.redis_servers] + [c.runtime.process.pid]}))
"""


def test_default_cluster_started_lazily_and_stopped_at_exit():
    """With no cluster, the first compute starts one (shaped by `DASK_WUKONG__...` variables)
    and the process stops it when it exits."""
    env = {**os.environ, "DASK_WUKONG__REDIS__SHARDS": "2"}
    done = subprocess.run([sys.executable, "-c", DEFAULT_CLUSTER_SCRIPT], env=env,
                          cwd=pathlib.Path(__file__).parent.parent, capture_output=True,
                          text=True, timeout=120, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["total"] == 10.0
    assert out["shards"] == 2
    procs = []
    for pid in out["pids"]:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    assert_all_gone(procs)


def key_ttls(urls):
    """The TTL of every job key, seen from inside a running task."""
    ttls = []
    for url in urls:
        client = redis.Redis.from_url(url)
        ttls += [client.pttl(k) for k in client.scan_iter(match="wk:*")
                 if not k.startswith(b"wk:fn:")]
        client.close()
    return ttls


def test_ttl_setting_applies_to_job_keys(cluster):
    """`wukong.redis.ttl` bounds the life of every key a job writes."""
    dsk = {("in", i): (inc, i) for i in range(4)}
    dsk["sum"] = (sum, list(dsk))
    dsk["ttls"] = (lambda s, urls: key_ttls(urls), "sum", cluster.admin_urls)
    with dask.config.set({"wukong.redis.ttl": 30}):
        ttls = wukong.get(dsk, "ttls")
    assert len(ttls) >= 4, "expected the graph, live flags, outputs and done sets"
    assert all(0 < t <= 30_000 for t in ttls), ttls
