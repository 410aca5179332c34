"""Start a job: serialize its graph once, upload it, and invoke one executor per leaf."""

from __future__ import annotations

import logging

from executor_lambda import Invocation, Invoker
from storage_manager import JobStore, dumps

logger = logging.getLogger(__name__)


def start_job(store: JobStore, invoker: Invoker) -> None:
    """Upload the graph (one pipelined round trip per shard), then invoke every leaf at once."""
    blob = dumps(store.graph)
    store.upload(blob)
    invoker.invoke([Invocation(job=store.graph.job_id, task=leaf) for leaf in store.graph.leaves])
    logger.debug("job %s: %d tasks, %d leaves, graph %d bytes", store.graph.job_id,
                 len(store.graph), len(store.graph.leaves), len(blob))
