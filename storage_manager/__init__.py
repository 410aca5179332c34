"""Storage manager: a job's keys, serialization, sharding over N Redis servers, atomic fan-in."""

from storage_manager.errors import JobGone, MissingOutput
from storage_manager.graph_seed import GraphSeed
from storage_manager.job_graph import JobGraph
from storage_manager.job_store import IOStats, JobStore, append_log_for, load_graph_blob
from storage_manager.keys import JobKeys
from storage_manager.locality import Locality
from storage_manager.publish import MarkResult, Publish
from storage_manager.serialization import dumps, loads
from storage_manager.shards import ShardSet, StorageUnavailable

__all__ = [
    "GraphSeed",
    "IOStats",
    "JobGone",
    "JobGraph",
    "JobKeys",
    "JobStore",
    "Locality",
    "MarkResult",
    "MissingOutput",
    "Publish",
    "ShardSet",
    "StorageUnavailable",
    "append_log_for",
    "dumps",
    "load_graph_blob",
    "loads",
]
