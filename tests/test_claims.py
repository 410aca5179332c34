"""Who may take a claim (`lua/step.lua`, `storage_manager.claims`): deliveries, their leases,
hand-overs at fan-outs and retries, against real redis-servers of their own."""

from __future__ import annotations

import pytest
from conftest import idx, job

from storage_manager import JobGone, JobStore, ShardSet, dumps
from storage_manager.claims import claim_starts
from storage_manager.protocol import JobKeys
from storage_manager.protocol.delivery import child_id, owner
from storage_manager.signing import Signer
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server

TTL_MS, LEASE_MS = 60_000, 5_000


@pytest.fixture(scope="module")
def shards():
    servers = [RedisServer(find_redis_server(), RedisUsers.generate()) for _ in range(2)]
    shard_set = ShardSet([s.url(ADMIN) for s in servers], Signer.generate())
    yield shard_set
    shard_set.close()
    for s in servers:
        s.stop()


@pytest.fixture
def graph(shards, request):
    g = job(job_id=request.node.name[:40])
    store = JobStore(shards, g)
    store.upload(dumps(g))
    yield g
    store.cleanup()
    assert not [k for s in shards.shards for k in s.client.scan_iter(match="wk:*")
                if not k.startswith(b"wk:fn:")], "cleanup left a claim or a lease"


def claim(shards, g, tasks, who, handed_by="", replaces=()):
    return claim_starts(shards, g.job_id, tasks, who, handed_by, TTL_MS, LEASE_MS,
                        replaces)[0]


def lease_gone(shards, g, who):
    for shard in shards.shards:
        shard.client.unlink(JobKeys(g.job_id).lease(who))


def test_a_duplicate_delivery_is_refused_while_the_first_lives_or_is_done(shards, graph):
    a, f = idx(graph, "a"), idx(graph, "f")
    first, second = owner("inv", 0), owner("inv", 0)
    assert claim(shards, graph, [a, f], first) == [a, f]
    assert claim(shards, graph, [a, f], first) == [a, f], "the same delivery claims again"
    assert claim(shards, graph, [a, f], second) == []
    assert claim(shards, graph, [a], owner("other", 0)) == []
    for shard in shards.shards:  # done: the job's TTL
        shard.client.pexpire(JobKeys(graph.job_id).lease(first), TTL_MS)
    assert claim(shards, graph, [a, f], second) == []


def test_a_claim_whose_lease_is_gone_is_taken_over(shards, graph):
    a = idx(graph, "a")
    dead, late = owner("inv", 0), owner("inv", 0)
    assert claim(shards, graph, [a], dead) == [a]
    lease_gone(shards, graph, dead)
    assert claim(shards, graph, [a], late) == [a]
    assert claim(shards, graph, [a], dead) == [], "the dead one, back, is refused"


def test_a_retry_takes_over_the_delivery_it_replaces_and_no_duplicate(shards, graph):
    """The platform retries only a delivery it knows is dead, and names it: the retry takes
    that one's claims while its lease would still live, but not those of a duplicate of the
    same invocation that still runs (a retry that took over every earlier attempt would
    run the duplicate's tasks a second time); the dead one may not take them back."""
    a, f = idx(graph, "a"), idx(graph, "f")
    dead, duplicate = owner("inv", 0), owner("inv", 0)
    assert claim(shards, graph, [a], dead) == [a]
    assert claim(shards, graph, [f], duplicate) == [f]
    assert claim(shards, graph, [a], owner("other", 1)) == [], "another invocation's"
    assert claim(shards, graph, [a, f], owner("inv", 1)) == [], "replacing nobody"
    retry = owner("inv", 1)
    assert claim(shards, graph, [a, f], retry, replaces=[dead]) == [a]
    assert claim(shards, graph, [a], dead) == []


def test_a_retry_takes_over_what_a_retry_that_died_before_claiming_replaced(shards, graph):
    """A retry killed before its claims ended its dead predecessor's leases: the next one
    names both, and takes the first one's claims at once (not after its lease runs out)."""
    a = idx(graph, "a")
    dead = owner("inv", 0)
    assert claim(shards, graph, [a], dead) == [a]
    never_claimed = owner("inv", 1)
    assert claim(shards, graph, [a], owner("inv", 2), replaces=[never_claimed]) == []
    assert claim(shards, graph, [a], owner("inv", 2), replaces=[dead, never_claimed]) == [a]


def test_a_retry_frees_what_the_dead_attempt_claimed_off_its_own_path(shards, graph):
    """A retry need not walk its dead attempt's path again: it ends the dead one's leases
    everywhere before it claims, so a fan-in the dead one claimed is taken by the next
    executor that completes it (here one the retry invoked), not left claimed for ever."""
    a, c = idx(graph, "a"), idx(graph, "c")
    dead = JobStore(shards, graph, owner=owner("inv", 0))
    assert claim(shards, graph, [a], dead.owner) == [a]
    publish = dead.publish()
    publish.mark(c, [idx(graph, "a"), idx(graph, "b")])
    assert publish.execute()[0].claimed
    other = JobStore(shards, graph, owner=owner("other", 0))
    publish = other.publish()
    publish.mark(c, [idx(graph, "b")])
    assert not publish.execute()[0].claimed, "the dead one's lease still lives"
    assert claim(shards, graph, [a], owner("inv", 1), replaces=[dead.owner]) == [a]
    assert not any(s.client.exists(JobKeys(graph.job_id).lease(dead.owner))
                   for s in shards.shards)
    publish = other.publish()
    publish.mark(c, [idx(graph, "b")])
    assert publish.execute()[0].claimed


def test_a_fan_out_hands_its_claim_to_the_invocation_it_makes(shards, graph):
    """A parent's delivery that claimed a fan-in hands it over to the child it invokes, once:
    a duplicate of the child is refused."""
    c = idx(graph, "c")
    store = JobStore(shards, graph, owner=owner("parent", 0))
    publish = store.publish()
    publish.mark(c, [idx(graph, "a"), idx(graph, "b")])
    (marked,) = publish.execute()
    assert marked.claimed
    child = child_id("parent", c)
    assert child == child_id("parent", c) != child_id("parent", idx(graph, "e"))
    assert claim(shards, graph, [c], owner(child, 0)) == [], "not handed to it"
    assert claim(shards, graph, [c], owner(child, 0), handed_by=store.owner) == [c]
    assert claim(shards, graph, [c], owner(child, 0), handed_by=store.owner) == []


def test_a_retried_parent_cannot_claim_a_fan_in_its_child_holds(shards, graph):
    c = idx(graph, "c")
    parent = JobStore(shards, graph, owner=owner("parent", 0))
    publish = parent.publish()
    publish.mark(c, [idx(graph, "a"), idx(graph, "b")])
    assert publish.execute()[0].claimed
    assert claim(shards, graph, [c], owner("child", 0), handed_by=parent.owner) == [c]
    retried = JobStore(shards, graph, owner=owner("parent", 1))
    publish = retried.publish()
    publish.mark(c, [idx(graph, "a")])
    assert not publish.execute()[0].claimed


def test_claims_after_cleanup_leave_nothing(shards):
    g = job(job_id="claims-gone")
    with pytest.raises(JobGone):
        claim(shards, g, [idx(g, "a")], owner("inv", 0))
