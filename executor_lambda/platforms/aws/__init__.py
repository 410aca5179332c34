"""AWS Lambda: starting executors (`invoker`), packaging (`package`), and creating or updating
the function and its role (`deploy`, `iam`), within Lambda's quotas (`limits`).

Everything here but `limits` needs boto3 (`pip install "wukong[aws]"`); import the modules
themselves, so that importing this package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from executor_lambda.platforms.aws.invoker import LambdaInvoker
    from executor_lambda.platforms.invoker import InvokerSettings
    from storage_manager import ShardSet


def invoker_for(settings: InvokerSettings, shards: ShardSet) -> LambdaInvoker:
    """The platform's invoker (see `executor_lambda.platforms`): Event invocations of the
    function, payloads over the limit spilled to the job's shard."""
    from executor_lambda.platforms.aws.invoker import LambdaInvoker

    return LambdaInvoker(settings.function, shards, payload_limit=settings.payload_limit)
