"""The key schema of one job: every key a job touches lives under ``wk:{job}:``.

Tasks are numbered by the static scheduler, so keys use the task's index, not its Dask key:
short, printable, and the same for every executor. Knowing the graph is enough to name every
key of a job, so cleanup deletes exactly those keys and never scans the keyspace.
"""

from __future__ import annotations

PREFIX = "wk"


def job_prefix(job_id: str) -> str:
    return f"{PREFIX}:{job_id}:"


class JobKeys:
    """Names of a job's keys. Pure naming; where each key lives is `ShardMap`'s business."""

    __slots__ = ("prefix",)

    def __init__(self, job_id: str):
        self.prefix = job_prefix(job_id)

    @property
    def graph(self) -> str:
        """The serialized `JobGraph`, uploaded once per job."""
        return self.prefix + "graph"

    @property
    def live(self) -> str:
        """Present on every shard while the job runs; guarded writes refuse once it is gone."""
        return self.prefix + "live"

    @property
    def log(self) -> str:
        """The job's stream of notices for the client: results and errors."""
        return self.prefix + "log"

    @property
    def events(self) -> str:
        """The job's stream of per-task events, read once the job is over."""
        return self.prefix + "events"

    @property
    def chunks(self) -> str:
        """The set of chunk keys written on one shard, so cleanup finds them without a scan."""
        return self.prefix + "chunks"

    def output(self, task: int) -> str:
        return f"{self.prefix}o:{task}"

    def chunk(self, task: int, index: int) -> str:
        """Part `index` of a value too large for one key (see `chunking`)."""
        return f"{self.prefix}o:{task}:{index}"

    def done(self, task: int) -> str:
        """The set of finished parents of a fan-in task."""
        return f"{self.prefix}d:{task}"

    def claim(self, task: int) -> str:
        """Who runs a fan-in task once its done set is complete."""
        return f"{self.prefix}c:{task}"

    def holders(self, task: int) -> str:
        """The parents of a fan-in that hold their outputs there (delayed I/O)."""
        return f"{self.prefix}h:{task}"

    def payload(self, invocation: str) -> str:
        """An invocation's payload too large for the platform, passed by reference instead
        (see `storage_manager.payloads`); listed in the chunk index, so cleanup finds it."""
        return f"{self.prefix}p:{invocation}"
