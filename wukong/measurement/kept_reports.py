"""Finished jobs' reports, kept in Redis a while for any process to read (`wukong report JOB`),
and the index of a function's recent jobs (`wukong status`).

On a cluster other processes reach (`Cluster.keeps_reports`), the client indexes each job as
it submits it (`FunctionKeys.jobs`, scored by time, pruned past the TTL) and, once the job has
ended, stores its `JobReport` (`FunctionKeys.report`, on the job's shard) for
`wukong.reports.keep-seconds`, never longer than the job's TTL. A job's own keys are gone by
then; the report is all that is kept. A report is signed like every value (see
`storage_manager.signing`): it is unpickled when read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from storage_manager import ShardSet, dumps, loads
from storage_manager.protocol import FunctionKeys, JobKeys
from storage_manager.shards import job_shard
from wukong.measurement.report import JobReport


def index_job(shards: ShardSet, function: str, job_id: str, ttl_ms: int) -> None:
    """List the job among the function's jobs (one pipelined round trip)."""
    key, now = FunctionKeys(function).jobs, time.time()
    pipe = shards.shards[0].client.pipeline(transaction=False)
    pipe.zadd(key, {job_id: now})
    pipe.zremrangebyscore(key, "-inf", now - ttl_ms / 1000)
    pipe.pexpire(key, ttl_ms)
    pipe.execute()


def keep_report(shards: ShardSet, function: str, report: JobReport, keep_ms: int) -> None:
    """Store `report` for `keep_ms` (nothing at 0)."""
    if keep_ms <= 0:
        return
    blob = dumps(report, shards.signer)
    client = shards.shards[job_shard(report.job_id, len(shards))].client
    client.set(FunctionKeys(function).report(report.job_id), blob, px=keep_ms)


def load_report(shards: ShardSet, function: str, job_id: str) -> JobReport:
    """The kept report of `job_id`; `LookupError` if none is (any more)."""
    client = shards.shards[job_shard(job_id, len(shards))].client
    blob = client.get(FunctionKeys(function).report(job_id))
    if blob is None:
        raise LookupError(f"no report of job {job_id!r} is kept on this cluster: it is "
                          "running, unknown, or finished longer ago than "
                          "wukong.reports.keep-seconds")
    return loads(blob, shards.signer, f"the report of job {job_id!r}")


@dataclass(frozen=True)
class JobEntry:
    job_id: str
    submitted_at: float
    state: str
    """"running" (its keys are live), "finished" (its report is kept), else "gone"."""


def recent_jobs(shards: ShardSet, function: str) -> list[JobEntry]:
    """The function's jobs submitted within their TTL, oldest first."""
    indexed = shards.shards[0].client.zrange(FunctionKeys(function).jobs, 0, -1,
                                             withscores=True)
    jobs = [(member.decode(), score) for member, score in indexed]
    pipes: dict[int, redis.client.Pipeline] = {}
    for job_id, _ in jobs:
        shard = job_shard(job_id, len(shards))
        pipe = pipes.setdefault(shard, shards.shards[shard].client.pipeline(transaction=False))
        pipe.exists(JobKeys(job_id).live)
        pipe.exists(FunctionKeys(function).report(job_id))
    answers = {shard: iter(pipe.execute()) for shard, pipe in pipes.items()}
    entries = []
    for job_id, submitted in jobs:
        found = answers[job_shard(job_id, len(shards))]
        live, kept = next(found), next(found)
        state = "running" if live else "finished" if kept else "gone"
        entries.append(JobEntry(job_id, submitted, state))
    return entries
