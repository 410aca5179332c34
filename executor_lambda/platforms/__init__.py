"""Platforms that run the executor function, one package each beside this module, as Lithops
keeps its backends (`local`, `aws`); and the factories that load one by name.

A platform package provides `invoker_for(settings, shards) -> Invoker`, what the static
scheduler and executors call, `payload_invoker_for(client, function) -> PayloadInvoker`, what
the KV proxy calls, and `REPORTS_LOST_EXECUTORS`: whether the platform tells a job of an
executor it lost, or executors must record themselves (`executor_lambda.liveness`). A
platform is imported only when asked for, so choosing one never loads another, and importing
this package never loads the executor.

    invoker = make_invoker(InvokerSettings(function="wukong-ab12cd34"), shards)
    invoker.invoke([Invocation(job="f00", task=3)])
"""

from __future__ import annotations

import importlib
from types import ModuleType

import redis.asyncio as aioredis

from executor_lambda.platforms.invoker import Invoker, InvokerSettings, PayloadInvoker
from executor_lambda.platforms.proxy import ProxyInvoker
from storage_manager import ShardSet

__all__ = ["Invoker", "InvokerSettings", "PayloadInvoker", "ProxyInvoker", "make_invoker",
           "make_payload_invoker", "platform"]


def make_invoker(settings: InvokerSettings, shards: ShardSet) -> Invoker:
    """The platform's invoker; batches of `settings.proxy_threshold` or more go through the
    KV proxy, whose streams live on the first shard (0: never)."""
    direct = platform(settings.platform).invoker_for(settings, shards)
    if settings.proxy_threshold > 0:
        return ProxyInvoker(direct, settings.proxy_threshold, shards.shards[0].client)
    return direct


def make_payload_invoker(name: str, client: aioredis.Redis, function: str) -> PayloadInvoker:
    """The KV proxy's invoker on platform `name`, for the function whose queue and streams
    live on `client`'s server."""
    module = platform(name)
    if not hasattr(module, "payload_invoker_for"):
        raise ValueError(f"the KV proxy cannot invoke on platform {name!r} yet")
    return module.payload_invoker_for(client, function)


def platform(name: str) -> ModuleType:
    """The platform package `name`, imported on first use."""
    module = f"{__name__}.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ValueError(f"unknown Wukong platform {name!r}: there is no {module}") from None
