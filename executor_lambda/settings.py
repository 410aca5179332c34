"""What an executor process is configured with, through its environment, as a Lambda
function is: the platform sets these variables (the local runtime for its workers, a deploy
for the function) and the executor reads them at its first invocation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from executor_lambda.platforms.invoker import InvokerSettings
from storage_manager.protocol import DEFAULT_PAYLOAD_LIMIT

ENV_REDIS_URLS = "WUKONG_REDIS_URLS"
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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ExecutorSettings:
        urls = tuple(u for u in environ.get(ENV_REDIS_URLS, "").split(",") if u)
        if not urls:
            raise RuntimeError(f"{ENV_REDIS_URLS} is not set: the executor cannot find Redis")
        return cls(urls, InvokerSettings(
            function=environ.get(ENV_FUNCTION, "wukong-executor"),
            payload_limit=int(environ.get(ENV_PAYLOAD_LIMIT, DEFAULT_PAYLOAD_LIMIT)),
            invoke_seconds=float(environ.get(ENV_INVOKE_SECONDS, 0)),
            proxy_threshold=int(environ.get(ENV_PROXY_THRESHOLD, 0)),
            platform=environ.get(ENV_PLATFORM) or "local",
        ))

    def environ(self) -> dict[str, str]:
        """The variables that configure an executor so."""
        return {ENV_REDIS_URLS: ",".join(self.redis_urls),
                ENV_FUNCTION: self.invoker.function,
                ENV_PAYLOAD_LIMIT: str(self.invoker.payload_limit),
                ENV_INVOKE_SECONDS: str(self.invoker.invoke_seconds),
                ENV_PROXY_THRESHOLD: str(self.invoker.proxy_threshold),
                ENV_PLATFORM: self.invoker.platform}
