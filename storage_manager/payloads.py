"""Invocation payloads over the platform's limit, kept in Redis and passed by reference.

The payload lives under the job's prefix on the job's shard (`JobKeys.payload`), written like
a chunk of a large value: a plain SET, then the step script guarded by the job's live flag
lists it in the shard's chunk index, so the job's cleanup deletes it with the job's other
keys. It is never deleted on reading: a platform may deliver an invocation more than once.
"""

from __future__ import annotations

from storage_manager.errors import JobGone
from storage_manager.job_io import run_step
from storage_manager.protocol.keys import JobKeys
from storage_manager.shards import LARGE_VALUE_BYTES, ShardSet, job_shard


def spill_payload(shards: ShardSet, job_id: str, invocation_id: str, payload: bytes,
                  ttl_ms: int) -> str:
    """Store `payload` for the job and return its key; raises `JobGone` (and leaves nothing)
    once the job was cleaned up."""
    keys = JobKeys(job_id)
    key = keys.payload(invocation_id)
    shard = job_shard(job_id, len(shards))
    reply = run_step(shards, shard, [keys.live, key, keys.chunks],
                     [ttl_ms, "", LARGE_VALUE_BYTES, 0, "chunk"], writes=[(key, payload)])
    if reply == -1:
        shards.shards[shard].client.unlink(key)
        raise JobGone(job_id)
    return key


def read_spilled_payload(shards: ShardSet, job_id: str, key: str) -> bytes:
    """A payload `spill_payload` stored; raises `JobGone` once the job was cleaned up, and
    `ValueError` for a key outside the job's prefix."""
    keys = JobKeys(job_id)
    if not key.startswith(keys.prefix):
        raise ValueError(f"payload key {key!r} is not a key of job {job_id}")
    payload = shards.shards[job_shard(job_id, len(shards))].client.get(key)
    if payload is None:
        raise JobGone(job_id)
    return payload
