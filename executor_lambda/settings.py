"""What an executor process is configured with, through its environment, as a Lambda
function is: the platform sets these variables (the local runtime for its workers, a deploy
for the function) and the executor reads them at its first invocation.

Two of them are secrets: the Redis URLs (with their passwords) and the deployment's signing
key. The environment is where they travel, because a process's environment, unlike its
command line, is readable only by its own user."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from executor_lambda.platforms.invoker import InvokerSettings
from storage_manager.connections import (
    ENV_REDIS_URLS,
    NO_TLS_FILES,
    TlsFiles,
    urls_environ,
    urls_from_environ,
)
from storage_manager.protocol import DEFAULT_PAYLOAD_LIMIT
from storage_manager.signing import Signer

ENV_SIGNING_KEY = "WUKONG_SIGNING_KEY"
"""The deployment's signing key as hex, or `off` (see `storage_manager.signing`)."""
ENV_FUNCTION = "WUKONG_FUNCTION"
ENV_PAYLOAD_LIMIT = "WUKONG_PAYLOAD_LIMIT"
ENV_INVOKE_SECONDS = "WUKONG_INVOKE_SECONDS"
"""The latency model's cost of one invocation to its caller (0: off)."""
ENV_PROXY_THRESHOLD = "WUKONG_PROXY_THRESHOLD"
"""The smallest fan-out handed to the KV proxy (unset or 0: no proxy)."""
ENV_PLATFORM = "WUKONG_PLATFORM"
"""The platform the executor starts others on (`aws`: AWS Lambda; unset: the local one)."""


@dataclass(frozen=True)
class ExecutorSettings:
    redis_urls: tuple[str, ...]
    invoker: InvokerSettings
    signer: Signer
    tls: TlsFiles = NO_TLS_FILES

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ExecutorSettings:
        urls = urls_from_environ(environ)
        if not urls:
            raise RuntimeError(f"{ENV_REDIS_URLS} is not set: the executor cannot find Redis")
        key = environ.get(ENV_SIGNING_KEY)
        if not key:
            raise RuntimeError(f"{ENV_SIGNING_KEY} is not set: the executor cannot check what "
                               "it unpickles (see storage_manager.signing)")
        signer = Signer.from_text(key, ENV_SIGNING_KEY)
        tls = TlsFiles.from_environ(environ)
        return cls(urls, InvokerSettings(
            function=environ.get(ENV_FUNCTION, "wukong-executor"),
            payload_limit=int(environ.get(ENV_PAYLOAD_LIMIT, DEFAULT_PAYLOAD_LIMIT)),
            invoke_seconds=float(environ.get(ENV_INVOKE_SECONDS, 0)),
            proxy_threshold=int(environ.get(ENV_PROXY_THRESHOLD, 0)),
            platform=environ.get(ENV_PLATFORM) or "local",
        ), signer, tls)

    def environ(self) -> dict[str, str]:
        """The variables that configure an executor so."""
        return {**urls_environ(self.redis_urls), **self.tls.environ(),
                ENV_FUNCTION: self.invoker.function,
                ENV_PAYLOAD_LIMIT: str(self.invoker.payload_limit),
                ENV_INVOKE_SECONDS: str(self.invoker.invoke_seconds),
                ENV_PROXY_THRESHOLD: str(self.invoker.proxy_threshold),
                ENV_PLATFORM: self.invoker.platform,
                ENV_SIGNING_KEY: self.signer.to_text()}
