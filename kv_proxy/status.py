"""Ask a KV proxy what it is doing, from any process that can reach its Redis."""

from __future__ import annotations

import redis

from storage_manager.protocol import PROXY_GROUP, FunctionKeys, ProxyStats


def proxy_status(client: redis.Redis, function: str) -> dict:
    """`alive`, the proxy's counters (in invocations), and `unread_batches` waiting for it.

    The counters are refreshed by the proxy twice a second and once more when it stops."""
    keys = FunctionKeys(function)
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.proxy_alive)
    pipe.hgetall(keys.proxy_stats)
    alive, stats = pipe.execute()
    status: dict = {"function": function, "alive": bool(alive)}
    status.update((k.decode(), v.decode()) for k, v in stats.items())
    for name in ProxyStats.counts():
        status[name] = int(status.get(name, 0))
    status["unread_batches"] = _unread(client, function)
    return status


def _unread(client: redis.Redis, function: str) -> int:
    try:
        groups = client.xinfo_groups(FunctionKeys(function).proxy_requests)
    except redis.ResponseError:  # no stream yet: no proxy ever served this function
        return 0
    for group in groups:
        if group["name"] in (PROXY_GROUP, PROXY_GROUP.encode()):
            return int(group.get("lag") or 0)
    return 0
