"""Storage manager: a job's graph and its data in a sharded Redis — serialization, placement
over N Redis servers, chunking, the guarded step of each executor and the client's reads —
with the protocol every process of a deployment agrees on (`storage_manager.protocol`)."""

from storage_manager.errors import JobGone, MissingOutput
from storage_manager.graph_seed import GraphSeed
from storage_manager.job_graph import JobGraph
from storage_manager.job_io import IOStats
from storage_manager.job_store import (
    JobStore,
    StreamId,
    append_log_for,
    append_running_for,
    load_graph_blob,
)
from storage_manager.locality import Locality
from storage_manager.publish import MarkResult, Publish
from storage_manager.serialization import dumps, loads
from storage_manager.shard_watch import ShardLost, check_job_shards
from storage_manager.shards import ShardSet, StorageUnavailable

__all__ = [
    "GraphSeed",
    "IOStats",
    "JobGone",
    "JobGraph",
    "JobStore",
    "Locality",
    "MarkResult",
    "MissingOutput",
    "Publish",
    "ShardLost",
    "ShardSet",
    "StorageUnavailable",
    "StreamId",
    "append_log_for",
    "append_running_for",
    "check_job_shards",
    "dumps",
    "load_graph_blob",
    "loads",
]
