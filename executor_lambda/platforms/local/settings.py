"""How the local runtime is configured (`python -m executor_lambda.platforms.local`)."""

from __future__ import annotations

from dataclasses import dataclass

from storage_manager.connections import NO_TLS_FILES, TlsFiles
from storage_manager.signing import Signer

ENV_DUPLICATE_DELIVERY = "WUKONG_DUPLICATE_DELIVERY"
"""Set to 1 in the runtime's environment: every invocation is delivered twice."""


@dataclass(frozen=True)
class RuntimeSettings:
    redis_urls: tuple[str, ...]
    """The shards, as the runtime's own user (`runtime`), with its credentials."""
    function: str
    signer: Signer
    """What the runtime signs the failures it reports with (the deployment's key)."""
    tls: TlsFiles = NO_TLS_FILES
    concurrency: int = 64
    idle_timeout: float = 60.0
    timeout: float = 900.0
    memory_limit: int | None = None
    cold_start_seconds: float = 0.0
    """Latency model: what a new worker's first invocation waits, as on a cold start."""
    preload: tuple[str, ...] = ()
    """Modules the fork server imports beside `preload.py`'s, so workers start with them."""
    payload_limit: int = 262_144
    """The largest asynchronous (`Event`) payload the Invoke API accepts."""
    memory_mb: int = 2048
    """The function's memory as Lambda's APIs report it (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`)."""
    duplicate_delivery: bool = False
    """Deliver every invocation of the queue twice (`ENV_DUPLICATE_DELIVERY`), as Lambda's
    at-least-once delivery may: for tests and chaos runs."""
    interface_client: str | None = None
    """`awslambdaric`: workers are hosted by AWS's runtime interface client through the
    Runtime API; None: by Wukong's own worker loop."""
