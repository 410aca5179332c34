"""Every Redis key name that two processes must agree on.

A job's keys live under ``wk:{job}:``. Tasks are numbered by the static scheduler, so keys use
the task's index, not its Dask key: short, printable, and the same for every executor.
Knowing the graph is enough to name every key of a job, so cleanup deletes exactly those keys
and never scans the keyspace. The step script (`lua/step.lua`) derives a job's output keys
from its live flag: ``<prefix>live`` gives ``<prefix>o:<task>``, as `JobKeys.output` does.

A deployment's keys (one executor function's, shared by every job and client of it) live
under ``wk:fn:{function}:``: the local platform's invocation queue and the local runtime's
heartbeat and stats, the KV proxy's request stream, heartbeat and stats, the learned
estimates, the index of its jobs and the reports of finished ones, and the count of refused
payloads.
"""

from __future__ import annotations

PREFIX = "wk"


def job_prefix(job_id: str) -> str:
    return f"{PREFIX}:{job_id}:"


class JobKeys:
    """Names of a job's keys. Pure naming; where each key lives is the `JobGraph`'s business."""

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
        """The job's stream of notices for the client: results and errors (`LogEntry`)."""
        return self.prefix + "log"

    @property
    def events(self) -> str:
        """The job's stream of per-invocation events (`ExecutorEvents`)."""
        return self.prefix + "events"

    @property
    def running(self) -> str:
        """The job's stream of invocations starting and ending (`RunningRecord`), on
        platforms that do not report an executor they ended."""
        return self.prefix + "running"

    @property
    def chunks(self) -> str:
        """The set of chunk keys written on one shard, so cleanup finds them without a scan."""
        return self.prefix + "chunks"

    @property
    def ready(self) -> str:
        """The job's work queue: a list of unstarted tasks (indices) executors pull from
        (`lua/pull.lua`), written once with the graph."""
        return self.prefix + "ready"

    @property
    def tail_taken(self) -> str:
        """How many tasks pulls took off the work queue's tail (`lua/pull.lua`): with the
        queue's length, where its head and its tail are in the leaves' order."""
        return self.prefix + "tail"

    @property
    def pulled(self) -> str:
        """A hash of the tasks taken off the work queue, each to the delivery that pulled it
        (on the job's shard, beside the queue), so the tasks of a delivery that died go back
        to the queue (`lua/pull.lua`)."""
        return self.prefix + "pulled"

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

    def started(self, task: int) -> str:
        """Set when a task that must never run twice (`retries=0`) starts (see
        `Recovery.task_retries`)."""
        return f"{self.prefix}s:{task}"

    def holders(self, task: int) -> str:
        """The parents of a fan-in that hold their outputs there (delayed I/O)."""
        return f"{self.prefix}h:{task}"

    def lease(self, owner: str) -> str:
        """A delivery's lease (see `protocol.delivery`), on each shard where it claimed:
        PX the lease while it runs, the job's TTL once it ended. The step script names it
        from the claim's owner, and lists it in the chunk index, so cleanup finds it."""
        return f"{self.prefix}l:{owner}"

    def payload(self, invocation: str) -> str:
        """An invocation's payload too large for the platform, passed by reference instead
        (see `storage_manager.payloads`); listed in the chunk index, so cleanup finds it."""
        return f"{self.prefix}p:{invocation}"


class FunctionKeys:
    """Names of one executor function's keys, which outlive its jobs."""

    __slots__ = ("prefix",)

    def __init__(self, function: str):
        self.prefix = f"{PREFIX}:fn:{function}:"

    @property
    def queue(self) -> str:
        """The list the local platform serves the function's invocations from."""
        return self.prefix + "queue"

    @property
    def cancel(self) -> str:
        """The pub/sub channel a client announces a cancelled job's id on; warm executors
        listen (see `executor_lambda.cancel_watch`)."""
        return self.prefix + "cancel"

    @property
    def proxy_requests(self) -> str:
        """The stream of invocation batches the KV proxy serves (read with `PROXY_GROUP`)."""
        return self.prefix + "proxy:requests"

    @property
    def proxy_alive(self) -> str:
        """Present while a proxy serves the function: it refreshes the key's TTL."""
        return self.prefix + "proxy:alive"

    @property
    def proxy_stats(self) -> str:
        """A hash where the proxy reports what it is doing."""
        return self.prefix + "proxy:stats"

    @property
    def runtime_alive(self) -> str:
        """Present while a local runtime serves the function's queue: it holds the
        runtime's token and is refreshed by it; one runtime per function and Redis."""
        return self.prefix + "runtime:alive"

    @property
    def runtime_stats(self) -> str:
        """A hash where the local runtime reports what it is doing."""
        return self.prefix + "runtime:stats"

    @property
    def jobs(self) -> str:
        """A sorted set of the function's recent jobs, scored by when they were submitted."""
        return self.prefix + "jobs"

    def report(self, job_id: str) -> str:
        """A finished job's report, kept a while (on the job's shard) for `wukong report`."""
        return f"{self.prefix}report:{job_id}"

    @property
    def refused(self) -> str:
        """A counter of the payloads and values this function's processes (and its clients)
        refused for a missing or wrong tag (see `storage_manager.signing`)."""
        return self.prefix + "refused"

    def estimates(self, name: str) -> str:
        """A hash of learned estimates per task prefix (see `LearnedEstimates`)."""
        return self.prefix + name
