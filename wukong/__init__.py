"""Wukong: run Dask graphs on decentralized serverless executors.

`import wukong` registers the scheduler name, so `x.compute(scheduler="wukong")` and
`dask.config.set(scheduler="wukong")` work. `wukong.connect()` connects to a cluster `wukong
up` started. `wukong.deploy()` and `wukong.undeploy()` manage
the executor function on AWS Lambda.
"""

from dask.base import named_schedulers

from wukong.config import register_defaults

register_defaults()

from wukong.cancellation import JobCancelled, cancel, running_jobs  # noqa: E402
from wukong.client import get  # noqa: E402
from wukong.cluster import LocalCluster, connect  # noqa: E402
from wukong.connected_cluster import ConnectedCluster  # noqa: E402
from wukong.deployment import deploy, undeploy  # noqa: E402
from wukong.job import JobTimeout  # noqa: E402
from wukong.measurement import JobReport, last_job, performance_report  # noqa: E402

named_schedulers["wukong"] = get

__all__ = ["ConnectedCluster", "JobCancelled", "JobReport", "JobTimeout", "LocalCluster",
           "cancel", "connect", "deploy", "get", "last_job", "performance_report",
           "running_jobs", "undeploy"]
