"""A job's work queue: its unstarted leaves, which executors pull whenever they have nothing
ready, so a job needs only as many invocations as can usefully run.

The plan decides which leaves are queued (in depth-first order, so a run of the queue is a
subtree and its fan-ins meet inside the executor that pulls it) and how many executors it
starts to pull them (`QueuePlan`, carried in the `JobGraph`): half of them start with the
first leaves and pull from the queue's head, the others with the last leaves and pull from
its tail (`QueuePlan.tail`), so two executors take the queue apart from its two ends and
each one's runs follow each other in the leaves' order (their fan-ins meet in it, see
`executor_lambda.loop.deferred_marks`). A pull of up to n tasks ends where a run of the
leaves' depth-first order ends, at a multiple of the largest power of two that is at most n
(counted from the first leaf; from the tail, the run starts at such a multiple; the queue's
end, `QueuePlan.end`, and how many tasks the tail's pulls took, `JobKeys.tail_taken`, place
both ends): in a tree of pairs (Dask's tree reductions, any split that is a power of two)
the runs pulled are whole subtrees, which meet nowhere but at their root, while executors
doubling their pulls from one task take turns at each end. It only shortens a pull, never
below one task, and not a pull sized to fill an executor's free threads with tasks that wait
(their subtrees meet at sleeps, not at round trips; a shorter pull would leave threads
idle).

The client writes the queue in the same pipeline as the graph (`push_queue`), before any
executor starts; executors only take from it (`pull`, one call of `lua/pull.lua`), and each
pull records its tasks under the pulling delivery (`JobKeys.pulled`) and sets its lease on
the job's shard.

A delivery that dies loses the tasks it pulled but had not finished; its retry (attempt > 0)
takes over with its first pull: every task recorded under a delivery whose lease is gone (the
retry ended those of the deliveries it replaces as it claimed, see `claims`) goes back to
the head of the queue and is pulled again (by the retry first), so a pulled task runs at
least once per delivery that died with it. The queue only grows by such a take-over, and
the retry pulls until the queue is empty: so an executor that finds it empty may stop
pulling for good, and no task put in the queue can be left behind by executors that all
stopped.

Each pull takes a task once (LPOP and RPOP are atomic), so under duplicate delivery a leaf
still runs in exactly one executor, as with one invocation per leaf.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.client import Pipeline

from storage_manager.errors import JobGone
from storage_manager.job_io import JobIO, run_script

PUSH_BATCH = 10_000
"""Tasks per RPUSH when the queue is written."""


def push_queue(pipe: Pipeline, io: JobIO, tasks: Sequence[int]) -> None:
    """Queue `tasks` (in the order they are to be taken) in the client's upload pipeline."""
    key = io.keys.ready
    for start in range(0, len(tasks), PUSH_BATCH):
        pipe.rpush(key, *tasks[start:start + PUSH_BATCH])
    if tasks:
        pipe.pexpire(key, io.graph.ttl_ms)


def pull(io: JobIO, most: int, take_over: bool = False, aligned: bool = True,
         tail: bool = False) -> list[int]:
    """Take up to `most` tasks off the queue's head, or its `tail` (fewer if that is more
    than this executor's fair share of what is left, or, `aligned`, where a run of the
    leaves ends), in the queue's order, recorded under `io.owner`; empty once the queue is
    drained. With `take_over`, dead deliveries' pulled tasks are queued again first. The
    job's shard joins `io.leased` (the lease is there now). Raises `JobGone` once the job
    was cleaned up."""
    keys, graph = io.keys, io.graph
    reply = run_script(io.shards, graph.job_shard, "pull",
                       [keys.live, keys.ready, keys.pulled, keys.tail_taken],
                       [most, max(1, graph.queue.workers), io.owner, graph.recovery.lease_ms,
                        graph.ttl_ms, "1" if take_over else "0",
                        graph.queue.end if aligned else 0, "1" if tail else "0"], io.timed)
    if reply == -1:
        raise JobGone(keys.prefix)
    if reply:
        io.leased.add(graph.job_shard)
    return [int(task) for task in reply or ()]
