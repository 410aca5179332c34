"""Platforms that run the executor function, one package each beside this module, as Lithops
keeps its backends; and the factories that load one by name.

A platform package provides `invoker(settings, client) -> Invoker` (what the static scheduler
and executors call) and `payload_invoker(client, function) -> PayloadInvoker` (what the KV
proxy calls). A platform is imported only when asked for, so choosing one never loads
another, and importing this package never loads the executor.

    invoker = make_invoker(InvokerSettings(function="wukong-ab12cd34"), redis_client)
    invoker.invoke([Invocation(job="f00", task=3)])
"""

from __future__ import annotations

import importlib
from types import ModuleType

import redis
import redis.asyncio as aioredis

from executor_lambda.platforms.invoker import Invoker, InvokerSettings, PayloadInvoker
from executor_lambda.platforms.proxy import ProxyInvoker

__all__ = ["Invoker", "InvokerSettings", "PayloadInvoker", "ProxyInvoker", "make_invoker",
           "make_payload_invoker"]


def make_invoker(settings: InvokerSettings, client: redis.Redis) -> Invoker:
    """The platform's invoker; batches of `settings.proxy_threshold` or more go through the
    KV proxy whose streams live on `client`'s server (0: never)."""
    direct = platform(settings.platform).invoker(settings, client)
    if settings.proxy_threshold > 0:
        return ProxyInvoker(direct, settings.proxy_threshold, client)
    return direct


def make_payload_invoker(name: str, client: aioredis.Redis, function: str) -> PayloadInvoker:
    return platform(name).payload_invoker(client, function)


def platform(name: str) -> ModuleType:
    """The platform package `name`, imported on first use."""
    module = f"{__name__}.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ValueError(f"unknown Wukong platform {name!r}: there is no {module}") from None
