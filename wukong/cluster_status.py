"""`wukong status` and `wukong report JOB`: what a cluster of `wukong up` is doing, and the
performance report of a job it finished, read from its Redis by any process."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from executor_lambda.platforms.local.status import runtime_status
from kv_proxy import proxy_status
from storage_manager.protocol import FunctionKeys
from wukong.cluster_address import ClusterDirectory
from wukong.measurement.kept_reports import load_report, recent_jobs


def cluster_status(directory: str | None) -> dict[str, Any]:
    """The cluster's address, its runtime's and proxy's state, its jobs and its shards."""
    where = ClusterDirectory(directory)
    address = where.address()
    shards = address.open_shards()
    try:
        first = shards.shards[0].client
        runtime = runtime_status(first, address.function)
        runtime["queued"] = int(first.llen(FunctionKeys(address.function).queue))
        jobs = recent_jobs(shards, address.function)
        return {
            "directory": str(where.path), "pid": where.pid(), "function": address.function,
            "runtime": runtime, "proxy": proxy_status(first, address.function),
            "jobs": [{"job": j.job_id, "submitted_at": j.submitted_at, "state": j.state}
                     for j in jobs],
            "shards": [_shard(url, shard.client) for url, shard in
                       zip(address.redis_urls, shards.shards, strict=True)],
        }
    finally:
        shards.close()


def _shard(url: str, client: Any) -> dict[str, Any]:
    memory = client.info("memory")
    return {"url": hide_secret(url), "used_memory": memory["used_memory"],
            "used_memory_human": memory["used_memory_human"],
            "maxmemory": memory.get("maxmemory", 0)}


def hide_secret(url: str) -> str:
    """`url` without its password."""
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


def status_text(status: dict[str, Any]) -> str:
    """`status` for a person to read."""
    runtime, proxy = status["runtime"], status["proxy"]
    state = "up" if status["pid"] and runtime["alive"] else "not running"
    queued = runtime.get("queued", 0) + int(runtime.get("pending", 0))
    counts: dict[str, int] = {}
    for job in status["jobs"]:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    lines = [
        f"cluster:   {status['directory']} ({state}, pid {status['pid'] or '-'})",
        f"function:  {status['function']}",
        f"executors: {runtime.get('busy', 0)} running, {runtime.get('idle', 0)} idle workers, "
        f"{runtime.get('started', 0)} started",
        f"queued:    {queued} invocations (+{proxy.get('unread_batches', 0)} batches for the "
        f"proxy, {'alive' if proxy['alive'] else 'not running'})",
        f"jobs:      {counts.get('running', 0)} running, {counts.get('finished', 0)} finished "
        "(reports kept)",
    ]
    lines += [f"  {job['job']}  {job['state']}" for job in status["jobs"][-10:]
              if job["state"] != "gone"]
    lines += [f"shard:     {shard['url']}  {shard['used_memory_human']} used"
              for shard in status["shards"]]
    return "\n".join(lines)


def status_json(status: dict[str, Any]) -> str:
    return json.dumps(status, indent=2)


def write_report(directory: str | None, job_id: str, filename: str | None) -> pathlib.Path:
    """Write the performance report of the finished job `job_id`; the file written."""
    from wukong.measurement.report_page import report_html  # bokeh: an optional dependency

    address = ClusterDirectory(directory).address()
    shards = address.open_shards()
    try:
        report = load_report(shards, address.function, job_id)
    finally:
        shards.close()
    path = pathlib.Path(filename or f"wukong-report-{job_id}.html")
    report_html([report], path)
    return path
