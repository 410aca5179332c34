"""Fixtures: one real LocalCluster (two redis-server shards, the local runtime) per session.

After every test, no job keys may remain in any shard: cleanup is part of the contract.
"""

from __future__ import annotations

import pytest
import redis

import wukong


@pytest.fixture(scope="session")
def cluster():
    with wukong.LocalCluster(shards=2) as c:
        yield c


def job_keys(urls: list[str]) -> list[bytes]:
    found = []
    for url in urls:
        client = redis.Redis.from_url(url)
        found += [k for k in client.scan_iter(match="wk:*", count=1000)
                  if not k.startswith(b"wk:fn:")]
        client.close()
    return found


@pytest.fixture(autouse=True)
def no_job_keys_left(request):
    yield
    if "cluster" in request.fixturenames:
        c = request.getfixturevalue("cluster")
        assert job_keys(c.redis_urls) == [], "a job left keys in Redis"
