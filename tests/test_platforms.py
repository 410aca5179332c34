"""The platform factory: a platform is imported by name only when asked for; an unknown one is
refused by name; a proxy threshold puts the platform's invoker behind the proxy hand-off."""

from __future__ import annotations

import subprocess
import sys

import pytest

from executor_lambda.platforms import (
    InvokerSettings,
    ProxyInvoker,
    make_invoker,
    make_payload_invoker,
    platform,
)
from executor_lambda.platforms.local import QueueInvoker, QueuePayloadInvoker


def test_the_local_platform_and_the_proxy_in_front_of_it(cluster):
    direct = make_invoker(InvokerSettings(function="f", payload_limit=1000), cluster.shards)
    assert isinstance(direct, QueueInvoker)
    assert (direct.function, direct.payload_limit) == ("f", 1000)
    assert direct.client is cluster.shards.shards[0].client
    proxied = make_invoker(InvokerSettings(function="f", proxy_threshold=4), cluster.shards)
    assert isinstance(proxied, ProxyInvoker) and isinstance(proxied.direct, QueueInvoker)
    assert proxied.threshold == 4 and proxied.function == "f"


def test_the_kv_proxy_invokes_through_each_platform(aws_env):
    """On AWS Lambda the proxy's invoker is boto3's, for the proxy's function."""
    from executor_lambda.platforms.aws.proxy_invoker import LambdaPayloadInvoker

    invoker = make_payload_invoker("aws", None, "f")
    assert isinstance(invoker, LambdaPayloadInvoker) and invoker.invoker.function == "f"
    assert isinstance(make_payload_invoker("local", None, "f"), QueuePayloadInvoker)


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
