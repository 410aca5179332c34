"""AWS Lambda: starting executors (`invoker`), packaging (`package`), and creating or updating
the function and its role (`deploy`, `iam`), within Lambda's quotas (`limits`).

Everything here but `limits` needs boto3 (`pip install "wukong[aws]"`); import the modules
themselves, so that importing this package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

REPORTS_LOST_EXECUTORS = False
"""Lambda tells no job of an executor it ended: executors record themselves (`liveness`)."""

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from executor_lambda.platforms.aws.invoker import LambdaInvoker
    from executor_lambda.platforms.aws.proxy_invoker import LambdaPayloadInvoker
    from executor_lambda.platforms.invoker import InvokerSettings
    from storage_manager import ShardSet


def invoker_for(settings: InvokerSettings, shards: ShardSet) -> LambdaInvoker:
    """The platform's invoker (see `executor_lambda.platforms`): Event invocations of the
    function, payloads over the limit spilled to the job's shard."""
    from executor_lambda.platforms.aws.invoker import LambdaInvoker, lambda_client

    client = lambda_client(settings.region, settings.endpoint_url)
    return LambdaInvoker(settings.function, shards, payload_limit=settings.payload_limit,
                         client=client)


def payload_invoker_for(client: aioredis.Redis, function: str) -> LambdaPayloadInvoker:
    """The KV proxy's invoker: Event invocations from its event loop, a batch at once
    (region and endpoint from boto3's chain: `AWS_REGION`, `AWS_ENDPOINT_URL_LAMBDA`)."""
    from executor_lambda.platforms.aws.proxy_invoker import LambdaPayloadInvoker

    return LambdaPayloadInvoker(client, function)
