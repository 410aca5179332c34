"""The plan of a job: every decision made before it starts, in one place.

`plan` takes the culled task graph, the keys asked for, what was learned of earlier jobs
(`Estimates`) and the job's settings (`PlanSettings`, plain values: the scheduler never reads
configuration), and decides

- which tasks the client finalizes itself (Dask's collection finalizers at the graph's end,
  see `finalizers`), and so which outputs the executors must return;
- the job graph the executors share (`build_job_graph`: numbering, edges, placement, and
  the `dask.config` settings its tasks run with);
- what each invocation starts with (`Start`): one leaf, a batch of cheap or waiting leaves
  (`batching`), or a group of leaves whose large outputs meet (`grouping`), on how many
  threads, and the seed that lets a lone leaf run before its executor reads the graph
  (unless it may wait: then it runs on a thread, while more start);
- which leaves wait in the job's work queue (`Plan.queued`, see `work_queue`): those that
  would start alone beyond what the platform runs at once. The invocations started pull
  them as they run out of ready work, so a first run, with nothing learned, needs about as
  many invocations as the platform runs executors at once, not one per leaf.

    tasks = to_task_graph(dsk, keys)
    job = plan(tasks, keys, Estimates(), PlanSettings(num_shards=2, ttl_ms=3_600_000))
    submit(job, JobStore(shards, job.graph), invoker)
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dask._task_spec import GraphNode

from static_scheduler.batching import Batch, Batching, start_batches
from static_scheduler.chunk_priors import ChunkPriors
from static_scheduler.estimates import Estimates, per_task, task_prefixes
from static_scheduler.finalizers import split_client_tasks
from static_scheduler.grouping import group_leaves, threads_per_group
from static_scheduler.intake import requested_keys
from static_scheduler.partition import build_job_graph
from storage_manager import GraphSeed, JobGraph, Locality
from storage_manager.queue_plan import WAITING_CPU_SHARE, QueuePlan
from storage_manager.recovery import Recovery


@dataclass(frozen=True)
class PlanSettings:
    """The job's settings, with what the deployment offers."""

    num_shards: int
    ttl_ms: int
    """How long any key of the job may live."""
    locality: Locality = field(default_factory=Locality)
    batching: Batching = field(default_factory=Batching)
    client_finalize: bool = True
    """The client runs Dask's collection finalizers at the graph's end."""
    task_config: Mapping[str, Any] = field(default_factory=dict)
    """The `dask.config` settings (dotted keys) the job's tasks run with."""
    notices: bool = False
    """Executors ship notices as tasks start and finish (Dask callbacks follow the job)."""
    recovery: Recovery = field(default_factory=Recovery)
    """Retries and the deliveries' lease (its `task_retries` come from the graph)."""


@dataclass(frozen=True)
class Start:
    """What one invocation starts with."""

    tasks: tuple[int, ...]
    threads: int = 1
    """How many of its tasks it runs at once."""
    seed: bytes = b""
    """The first task's encoded `GraphSeed`, for a leaf started alone that has one."""


@dataclass(frozen=True)
class Plan:
    graph: JobGraph
    starts: tuple[Start, ...]
    client_tasks: Mapping[Any, GraphNode]
    """The tasks the client runs on the executors' results, by key."""
    prefixes: tuple[str, ...]
    """Each task's prefix: what its estimates are learned under."""
    estimates: Estimates
    """What the plan was made from, to fold the job's own measurements into."""
    queued: tuple[int, ...] = ()
    """The leaves in the job's work queue, in the order executors take them."""


def plan(tasks: Mapping[Any, GraphNode], keys: Any, estimates: Estimates,
         settings: PlanSettings, job_id: str | None = None) -> Plan:
    """The plan for computing `keys` (possibly nested) of the culled task graph `tasks`.
    Raises `CycleError` or `UnserializableTask`, naming tasks, for a graph no executor could
    run."""
    remote, results, client_tasks = dict(tasks), requested_keys(keys), {}
    if settings.client_finalize:
        remote, results, client_tasks = split_client_tasks(tasks, results)
    graph = build_job_graph(job_id or uuid.uuid4().hex[:16], remote, results,
                            settings.num_shards, settings.ttl_ms, settings.locality,
                            settings.task_config, settings.notices, settings.recovery,
                            getattr(tasks, "retries", {}))
    prefixes = task_prefixes(graph.keys)
    batches = _batches(graph, prefixes, estimates, settings.batching,
                       getattr(tasks, "priors", ChunkPriors()))
    batches, queued, end, tail = _queue(batches, settings.batching)
    waiting = frozenset(p for p, share in estimates.cpu_shares.items()
                        if share <= WAITING_CPU_SHARE)
    graph.queue = QueuePlan(workers=len(batches) if queued else 0,
                            threads=settings.batching.threads, waiting=waiting, end=end,
                            tail=tail)
    seeded = _seeded(estimates, waiting, bool(queued))
    starts = tuple(Start(tasks, threads,
                         _seed(graph, tasks) if seeded(prefixes[tasks[0]]) else b"")
                   for tasks, threads in batches)
    return Plan(graph, starts, client_tasks, prefixes, estimates, queued)


def _seeded(estimates: Estimates, waiting: frozenset[str], queued: bool
            ) -> Callable[[str], bool]:
    """Whether a lone leaf of a prefix gets a seed. A seeded task runs before its executor
    can start another, so none that is known to wait gets one; in a job with a queue, only
    those known to compute do (the loop watches the first task of a kind not judged yet,
    see `executor_lambda.loop.waiting`, and goes on pulling if it waits)."""
    if not queued:
        return lambda prefix: prefix not in waiting
    return frozenset(p for p, share in estimates.cpu_shares.items()
                     if share > WAITING_CPU_SHARE).__contains__


def _queue(batches: list[Batch], batching: Batching
           ) -> tuple[list[Batch], tuple[int, ...], int, frozenset[int]]:
    """The batches to start, the leaves to queue, the queue's end and the start leaves that
    pull from its tail (`QueuePlan.end`, `QueuePlan.tail`): of the leaves that would start
    alone, so many start as the platform runs executors at once (less those the batches and
    groups take), the first half of them at the head of the leaves' depth-first order and
    the rest at its tail, and the leaves between them wait in the queue, in that order, for
    those to pull: each from its own end."""
    alone = [b for b in batches if len(b.tasks) == 1 and b.threads == 1]
    if not batching.queue or len(alone) <= batching.parallelism:
        return batches, (), 0, frozenset()
    planned = [b for b in batches if len(b.tasks) > 1 or b.threads > 1]
    first = max(1, batching.parallelism - len(planned))
    at_head, at_tail = alone[:-(-first // 2)], alone[len(alone) - first // 2:]
    queued = alone[len(at_head):len(alone) - len(at_tail)]
    return (planned + at_head + at_tail, tuple(b.tasks[0] for b in queued),
            len(alone) - len(at_tail), frozenset(b.tasks[0] for b in at_tail))


def _batches(graph: JobGraph, prefixes: Sequence[str], estimates: Estimates,
             batching: Batching, priors: ChunkPriors) -> list[Batch]:
    """Groups first (their threads decide how many groups keep the parallelism), then
    batches of the other leaves, then each remaining leaf alone. Where the work queue takes
    leaves (more than the platform runs at once), it sizes their batches as they run,
    learned estimates or not, so none are batched ahead.

    Where every task makes a chunk of a numpy array, what was not learned yet is taken from
    the array layers (`chunk_priors`): output sizes from the chunks, and all the executor's
    cores per group while the GIL-free shares are unknown, as Dask runs arrays on threads
    by default (numpy's kernels leave the GIL free). What was learned always decides. Other
    graphs get no priors: chunk sizes of some of their tasks alone made groups on one
    thread each, which only moved work between executors."""
    expected = per_task(estimates.durations, prefixes)
    sizes, unknown = estimates.output_bytes, 1
    if graph.locality.grouping and priors.all_numpy(
            prefixes[t] for t in range(len(graph)) if t not in graph.data):
        sizes, unknown = {**priors.chunk_bytes, **sizes}, batching.executor_cores
    threads = threads_per_group(graph, expected, per_task(estimates.gil_free, prefixes),
                                batching.executor_cores, unknown)
    groups = group_leaves(graph, per_task(sizes, prefixes), -(-batching.parallelism // threads))
    ungrouped = len(graph.leaves) - sum(map(len, groups))
    if batching.queue and ungrouped > batching.parallelism:
        batching = dataclasses.replace(batching, enabled=False)
    return start_batches(graph, expected, batching, groups,
                         per_task(estimates.cpu_shares, prefixes), threads)


def _seed(graph: JobGraph, tasks: Sequence[int]) -> bytes:
    seed = GraphSeed.of(graph, tasks[0]) if len(tasks) == 1 else None
    return seed.encode() if seed else b""
