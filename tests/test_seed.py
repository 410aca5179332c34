"""A leaf's seed: what it carries, and that its executor runs it before reading the graph."""

from __future__ import annotations

import importlib
import json
import pathlib

from conftest import DSK, idx, job

from executor_lambda.settings import ENV_REDIS_URLS, ENV_SIGNING_KEY
from storage_manager import GraphSeed, JobStore
from storage_manager.graph_seed import SEED_BYTES
from storage_manager.protocol import Invocation, JobKeys

handler_module = importlib.import_module("executor_lambda.handler")


def test_seed_of_a_leaf_carries_its_node_and_data_inputs():
    """A leaf whose inputs are all data has a seed that runs it alone; a task waiting for other
    tasks, or a leaf with inputs over the seed's limit, has none."""
    g = job(dsk={**DSK, "big": b"x" * (SEED_BYTES + 1), "g": (len, "big")}, keys=("e", "g"))
    seed = GraphSeed.decode(GraphSeed.of(g, idx(g, "a")).encode())
    node, inputs = seed.node_and_inputs()
    assert seed.task == idx(g, "a") and inputs == {"d": 1} and node(inputs) == 2
    assert GraphSeed.of(g, idx(g, "c")) is None
    assert GraphSeed.of(g, idx(g, "g")) is None


def touch(path: str) -> str:
    pathlib.Path(path).touch()
    return path


def test_seeded_leaf_runs_before_its_executor_reads_the_graph(cluster, monkeypatch, tmp_path):
    """The executor runs a seeded leaf from its payload while another thread reads the graph,
    once it holds the leaf's claim: with the job live but no graph in Redis the leaf still
    ran, and nothing was published; with the job gone it does not run at all."""
    flag = tmp_path / "ran"
    g = job(job_id="seeded", keys=("t",), dsk={"p": str(flag), "t": (touch, "p")})
    monkeypatch.setenv(ENV_REDIS_URLS, ",".join(cluster.redis_urls))
    monkeypatch.setenv(ENV_SIGNING_KEY, cluster.signer.to_text())
    monkeypatch.setattr(handler_module, "_environment", None)
    seed = GraphSeed.of(g, idx(g, "t")).encode()
    event = json.loads(Invocation(job=g.job_id, task=idx(g, "t"), seed=seed).encode(cluster.signer))
    assert handler_module.handler(event)["status"] == "gone"
    assert not flag.exists()
    live = JobKeys(g.job_id).live
    for shard in cluster.shards.shards:
        shard.client.set(live, 1, px=60_000)
    try:
        assert handler_module.handler(event)["status"] == "gone"
        assert flag.exists()
    finally:
        JobStore(cluster.shards, g).cleanup()  # the claim and the lease too
