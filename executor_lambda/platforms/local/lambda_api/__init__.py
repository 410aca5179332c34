"""AWS Lambda's APIs served by the local runtime on one machine: the Invoke API (`invoke`), so
a boto3 Lambda client with `endpoint_url` drives its executors, and the Runtime API
(`runtime`), so AWS's runtime interface client hosts them as Lambda does. Needs aiohttp
(`pip install "wukong[aws]"`)."""

from __future__ import annotations

import os
import sys


def lambda_environment(function: str, memory_mb: int, endpoint: str) -> dict[str, str]:
    """What Lambda sets in a function's environment, plus the local Invoke API as the endpoint
    of boto3's Lambda clients; credentials only where none are set (the API checks none)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    environ = {"AWS_ENDPOINT_URL_LAMBDA": endpoint, "AWS_REGION": region,
               "AWS_DEFAULT_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": function,
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
               "AWS_EXECUTION_ENV": f"AWS_Lambda_{python}"}
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    return environ
