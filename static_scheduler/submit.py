"""Start a planned job: upload its graph once, then make every invocation of its plan at once
(one invoker call: a batch costs one round trip on the local platform)."""

from __future__ import annotations

import logging

from executor_lambda.platforms import Invoker
from static_scheduler.plan import Plan
from storage_manager import JobStore, dumps
from storage_manager.protocol import Invocation

logger = logging.getLogger(__name__)


def submit(plan: Plan, store: JobStore, invoker: Invoker) -> None:
    """Upload the graph (one pipelined round trip per shard), then invoke every start."""
    graph = plan.graph
    blob = dumps(graph, store.signer)
    store.upload(blob)
    invoker.invoke([Invocation(job=graph.job_id, task=start.tasks[0], batch=start.tasks[1:],
                               seed=start.seed, threads=start.threads,
                               retries=graph.recovery.retries)
                    for start in plan.starts])
    logger.debug("job %s: %d tasks, %d leaves in %d invocations, graph %d bytes",
                 graph.job_id, len(graph), sum(len(s.tasks) for s in plan.starts),
                 len(plan.starts), len(blob))
