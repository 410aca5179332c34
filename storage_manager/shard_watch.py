"""Whether every shard still holds a running job: reachable, and with its live flag.

A job's live flag is on every shard from submission to cleanup (see `protocol.keys`). A
shard that cannot be reached, or that answers without the flag (it restarted empty, or
evicted the job's keys, or the job outlived its TTL), has lost what the job stored there:
its executors' steps on it are refused or fail, so the job cannot finish. The client checks
this while the job's log is quiet and before it reports an executor's failure, so such a
job fails within seconds with `ShardLost`, naming the shard (its URL without password).
"""

from __future__ import annotations

import redis

from storage_manager.connections import redacted
from storage_manager.protocol.keys import JobKeys
from storage_manager.shards import ShardSet, StorageUnavailable


class ShardLost(StorageUnavailable):
    """A Redis shard lost a running job's data or cannot be reached; names the shard."""


def check_job_shards(shards: ShardSet, job_id: str) -> None:
    """Raise `ShardLost` for the first shard that cannot be reached or lacks the job's live
    flag; one EXISTS per shard."""
    live = JobKeys(job_id).live
    for shard in shards.shards:
        where = redacted(shard.url)
        try:
            alive = shard.quick.exists(live)
        except redis.RedisError as exc:
            raise ShardLost(f"Redis shard {where} cannot be reached while job {job_id} runs "
                            f"({type(exc).__name__}: {exc}); the job cannot finish") from exc
        if not alive:
            raise ShardLost(f"Redis shard {where} lost the data of job {job_id} (it restarted "
                            "empty, evicted the job's keys, or the job outlived "
                            "wukong.redis.ttl); the job cannot finish")
