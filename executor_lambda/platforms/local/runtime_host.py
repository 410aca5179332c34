"""A worker hosted as AWS Lambda hosts the function: AWS's runtime interface client
(`awslambdaric`, `pip install awslambdaric`) loads `executor_lambda.handler.handler` and runs
it for each invocation it pulls from its execution environment's Runtime API, whose address
it reads from `AWS_LAMBDA_RUNTIME_API`.

The worker's standard output goes to its standard error, as Lambda sends both to the
function's log (the runtime's own standard output says only `ready`).
"""

from __future__ import annotations

import os
import resource
import time

HANDLER = "executor_lambda.handler.handler"


def serve(address: str, memory_limit: int | None, cold_start_seconds: float) -> None:
    """Run the runtime interface client against the Runtime API at `address` until killed."""
    os.environ["AWS_LAMBDA_RUNTIME_API"] = address
    os.dup2(2, 1)
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    if cold_start_seconds > 0:
        time.sleep(cold_start_seconds)
    from awslambdaric.__main__ import main

    main(["awslambdaric", HANDLER])
