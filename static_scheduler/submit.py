"""Start a job: serialize its graph once, upload it, and invoke one executor per batch of
leaves (one leaf per batch unless `start_batches` grouped cheap or waiting ones). A leaf
invoked alone carries its seed when it has one, so its executor need not read the graph to
start."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from executor_lambda.platforms import Invoker
from static_scheduler.batching import Batch
from storage_manager import GraphSeed, JobGraph, JobStore, dumps
from storage_manager.protocol import Invocation

logger = logging.getLogger(__name__)


def start_job(store: JobStore, invoker: Invoker, batches: Sequence[Batch] | None = None
              ) -> None:
    """Upload the graph (one pipelined round trip per shard), then invoke every batch at
    once; without `batches`, one executor per leaf."""
    graph = store.graph
    if batches is None:
        batches = [Batch((leaf,)) for leaf in graph.leaves]
    blob = dumps(graph)
    store.upload(blob)
    invoker.invoke([Invocation(job=graph.job_id, task=tasks[0], batch=tasks[1:],
                               seed=_seed(graph, tasks), threads=threads)
                    for tasks, threads in batches])
    logger.debug("job %s: %d tasks, %d leaves in %d invocations, graph %d bytes",
                 graph.job_id, len(graph), sum(len(b.tasks) for b in batches), len(batches),
                 len(blob))


def _seed(graph: JobGraph, batch: Sequence[int]) -> bytes:
    seed = GraphSeed.of(graph, batch[0]) if len(batch) == 1 else None
    return seed.encode() if seed else b""
