"""A cluster that outlives a script: `wukong up` starts it, other processes run jobs on it
(`wukong.connect`, `wukong.address`), `wukong status` and `wukong report` tell what it did,
`wukong down` stops it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
import redis

import wukong
from wukong.cluster_address import ClusterDirectory
from wukong.cluster_status import hide_secret

CLIENT = textwrap.dedent("""
    import sys
    from operator import add
    import wukong

    tag = int(sys.argv[2])
    dsk = {("leaf", i): (add, i, tag) for i in range(20)}
    dsk["total"] = (sum, [("leaf", i) for i in range(20)])
    if sys.argv[1] != "-":
        wukong.connect(sys.argv[1])
    print(wukong.get(dsk, "total"), wukong.last_job().job_id)
""")


def wukong_command(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wukong", *args], capture_output=True,
                          text=True, check=check, timeout=300)


def test_the_command_lists_its_verbs():
    usage = wukong_command("--help").stdout
    for verb in ("up", "down", "status", "deploy", "undeploy", "report", "demo"):
        assert f"    {verb} " in usage, verb


@pytest.mark.timeout(300)
def test_processes_run_jobs_on_a_cluster_another_one_started(tmp_path):
    where = tmp_path / "cluster"
    said = wukong_command("up", "--detach", "--directory", str(where), "--shards", "1",
                          "--concurrency", "8").stdout
    directory = ClusterDirectory(where)
    try:
        assert f"address: {directory.address_file}" in said
        assert stat.S_IMODE(where.stat().st_mode) == 0o700
        assert stat.S_IMODE(directory.address_file.stat().st_mode) == 0o600
        up_pid = directory.pid()
        assert up_pid is not None

        clients = [subprocess.Popen([sys.executable, "-c", CLIENT, str(where), str(tag)],
                                    stdout=subprocess.PIPE, text=True) for tag in (0, 1000)]
        env = {**os.environ, "DASK_WUKONG__ADDRESS": str(directory.address_file)}
        clients.append(subprocess.Popen([sys.executable, "-c", CLIENT, "-", "7"], env=env,
                                        stdout=subprocess.PIPE, text=True))
        outputs = [client.communicate(timeout=240)[0].split() for client in clients]
        assert [client.returncode for client in clients] == [0, 0, 0]
        assert [int(total) for total, _ in outputs] == [190, 20_190, 330]
        jobs = [job for _, job in outputs]

        status = json.loads(wukong_command("status", "--directory", str(where), "--json").stdout)
        assert status["pid"] == up_pid and status["runtime"]["alive"]
        finished = {j["job"] for j in status["jobs"] if j["state"] == "finished"}
        assert set(jobs) <= finished
        assert status["shards"][0]["used_memory"] > 0

        page = tmp_path / "job.html"
        wukong_command("report", jobs[0], "--directory", str(where), "-o", str(page))
        assert jobs[0] in page.read_text()
    finally:
        wukong_command("down", "--directory", str(where))
    assert directory.pid() is None and not directory.address_file.exists()
    assert directory.log_file.exists(), "the log stays"
    with pytest.raises(FileNotFoundError, match="no Wukong cluster is up"):
        wukong.connect(where)
    said = wukong_command("down", "--directory", str(where), check=False)
    assert said.returncode == 1 and "no cluster is up" in said.stderr


def test_a_second_runtime_for_the_same_function_and_redis_is_refused(cluster):
    with pytest.raises(RuntimeError, match=f"{cluster.function!r} is served by another"):
        wukong.LocalCluster(redis_urls=cluster.redis_urls, function=cluster.function)
    client = redis.Redis.from_url(cluster.redis_urls[0])
    try:
        assert client.exists(f"wk:fn:{cluster.function}:runtime:alive")
    finally:
        client.close()
    assert wukong.get({"x": (sum, [1, 2])}, "x") == 3, "the first one still serves"


def test_passwords_are_hidden_in_what_status_prints():
    assert hide_secret("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert hide_secret("rediss://user:pw@host/0") == "rediss://user:***@host/0"
    assert hide_secret("redis://host:6379/0") == "redis://host:6379/0"
