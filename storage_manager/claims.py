"""Claims of the tasks an invocation starts with, made before any of them runs.

A duplicated delivery of an invocation, or a leaf invoked twice, must not run its tasks
again: each delivery claims its start tasks (one `step` call per shard they live on) and
runs only those it got (see `lua/step.lua` for who may take a claim). A delivery holds its
lease on every shard where it claimed; `claim_starts` says which, for its refresher. A
retry first ends the leases of the deliveries it replaces, which its platform knows dead, so
that their claims (and their pulled tasks) may be taken over; a live duplicate's stay its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from storage_manager.errors import JobGone
from storage_manager.job_io import run_step
from storage_manager.protocol.keys import JobKeys
from storage_manager.shards import LARGE_VALUE_BYTES, ShardSet, task_shard


def claim_starts(shards: ShardSet, job_id: str, tasks: Sequence[int], owner: str,
                 handed_by: str, ttl_ms: int, lease_ms: int, replaces: Sequence[str] = (),
                 call=lambda f, *a: f(*a)) -> tuple[list[int], set[int]]:
    """The tasks of `tasks` the delivery `owner` now holds (in order), and the shards its
    lease is on, once the leases of `replaces` (dead deliveries) ended; each round trip goes
    through `call` (to be counted). Raises `JobGone` once the job was cleaned up."""
    keys = JobKeys(job_id)
    if replaces:
        end_leases(shards, keys, replaces, call)
    by_shard: dict[int, list[int]] = defaultdict(list)
    for task in tasks:
        by_shard[task_shard(job_id, task, len(shards))].append(task)
    taken: set[int] = set()
    leased: set[int] = set()
    for shard, group in by_shard.items():
        args: list = [ttl_ms, owner, LARGE_VALUE_BYTES, lease_ms]
        for _ in group:
            args += ("claim", handed_by)
        replies = run_step(shards, shard, [keys.live, *map(keys.claim, group)], args, call)
        if replies == -1:
            raise JobGone(keys.prefix)
        got = [task for task, reply in zip(group, replies, strict=True) if reply]
        taken.update(got)
        if got:
            leased.add(shard)
    return [t for t in tasks if t in taken], leased


def end_leases(shards: ShardSet, keys: JobKeys, dead: Sequence[str], call) -> None:
    """End the leases of the deliveries `dead` on every shard: whatever they had claimed or
    pulled may be taken by the next executor that reaches it (a retry need not walk the same
    paths again: its own claims and what it finds done decide where it goes)."""
    for shard in shards.shards:
        call(shard.client.unlink, *map(keys.lease, dead))
