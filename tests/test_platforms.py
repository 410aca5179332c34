"""The platform factory: a platform is imported by name only when asked for; an unknown one is
refused by name; a proxy threshold puts the platform's invoker behind the proxy hand-off."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from executor_lambda.platforms import InvokerSettings, ProxyInvoker, make_invoker, platform
from executor_lambda.platforms.local import QueueInvoker


def test_the_local_platform_and_the_proxy_in_front_of_it():
    client = redis.Redis(port=1)  # never connected: making invokers talks to no server
    direct = make_invoker(InvokerSettings(function="f", payload_limit=1000), client)
    assert isinstance(direct, QueueInvoker)
    assert (direct.function, direct.payload_limit) == ("f", 1000)
    proxied = make_invoker(InvokerSettings(function="f", proxy_threshold=4), client)
    assert isinstance(proxied, ProxyInvoker) and isinstance(proxied.direct, QueueInvoker)
    assert proxied.threshold == 4 and proxied.function == "f"


def test_an_unknown_platform_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown Wukong platform 'lambada'"):
        platform("lambada")


def test_a_platform_is_imported_only_when_asked_for():
    code = ("import sys, executor_lambda.platforms as p\n"
            "before = 'executor_lambda.platforms.local' in sys.modules\n"
            "p.platform('local')\n"
            "print(before, 'executor_lambda.platforms.local' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "True"]
