"""Every `wukong.*` setting in one table: its name, the kind of value it takes (type and
range), its default (as `wukong.yaml` ships it) and what it means. Every reader goes
through `wukong.config.setting`, which checks the value against this table at each use;
a cluster checks every setting when it starts (`check_all`). An error names the full
setting (`wukong.runtime.concurrency`) and what it accepts.

A setting missing here cannot be read (`setting` raises `KeyError`): a new setting gets an
entry here and in `wukong.yaml` (the tests check the two agree)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.config

from executor_lambda.platforms.aws.limits import (
    ARCHITECTURES,
    ASYNC_PAYLOAD_BYTES,
    EPHEMERAL_STORAGE_MB,
    MEMORY_MB,
    RUNTIMES,
    TIMEOUT_SECONDS,
)
from wukong.setting_kinds import Choice, Flag, Kind, Number, Prices, Text, Texts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    name: str
    """Under `wukong.`, dotted: `runtime.concurrency`."""
    kind: Kind
    default: Any
    doc: str


_SECONDS = Number("seconds", 0, above=True)
_WAIT = Number("seconds", 0)
_BYTES = Number("bytes", 0, whole=True)
_SIZE = Number("bytes", 1, whole=True)
_PATH = Text("a file path", nullable=True)
_NAME = Text("a name", nullable=True)
_URL = Text("redis://, rediss:// or unix:// URL", prefixes=("redis://", "rediss://", "unix://"))
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_TABLE = (
    Setting("platform", Choice(("local", "aws")), "local", "where executors run"),
    Setting("address", Text("a cluster's directory or address file", nullable=True), None,
            "a cluster `wukong up` started; null: a LocalCluster"),
    Setting("logging.level", Choice(_LEVELS, any_case=True), "WARNING",
            "what the runtime, its executors and the proxy log"),
    Setting("redis.urls", Texts(_URL), [], "Redis shards to use; empty: start our own"),
    Setting("redis.shards", Number("shards", 1, whole=True, words=("auto",)), "auto",
            "redis-server processes LocalCluster starts"),
    Setting("redis.server-binary", _PATH, None, "path to redis-server; null: PATH"),
    Setting("redis.keep-freed-memory", Flag(), True, "servers keep freed pages"),
    Setting("redis.ttl", Number("seconds", 1), 3600, "seconds any job key lives at most"),
    Setting("retries", Number("deliveries", 0, whole=True), 2,
            "times a delivery that dies, times out or is lost is delivered again"),
    Setting("lease", Number("milliseconds", 1, whole=True), 5000,
            "ms a delivery's claims outlive it unless it refreshes them"),
    Setting("redis.tls.ca-file", _PATH, None, "PEM CAs the servers are checked against"),
    Setting("redis.tls.cert-file", _PATH, None, "PEM client certificate"),
    Setting("redis.tls.key-file", _PATH, None, "its private key; null: in cert-file"),
    Setting("runtime.function", _NAME, None, "the executor function's name"),
    Setting("runtime.concurrency", Number("executors", 1, whole=True), 128,
            "most executors running at once"),
    Setting("runtime.idle-timeout", _SECONDS, 60, "seconds an idle worker stays warm"),
    Setting("runtime.invocation-timeout", Number("seconds", 0, TIMEOUT_SECONDS[1], above=True),
            900, "seconds one invocation may run (AWS Lambda's 15 minutes at most)"),
    Setting("runtime.memory-limit", Number("bytes", 1, whole=True, nullable=True), None,
            "bytes of address space per worker"),
    Setting("runtime.keep-freed-bytes", _BYTES, 1073741824, "freed heap each worker keeps"),
    Setting("runtime.payload-limit", Number("bytes", 1, ASYNC_PAYLOAD_BYTES, whole=True),
            262144, "bytes per invocation payload (AWS Lambda's asynchronous limit at most)"),
    Setting("runtime.start-timeout", _SECONDS, 60, "seconds to wait for the runtime"),
    Setting("runtime.preload", Texts(Text("module name")), [], "modules workers import"),
    Setting("runtime.lambda-api", Flag(), False, "serve AWS Lambda's Invoke and Runtime APIs"),
    Setting("runtime.interface-client", Choice((None, "awslambdaric")), None,
            "host workers with AWS's runtime interface client"),
    Setting("runtime.latency.invoke-seconds", _WAIT, 0, "what one invocation costs"),
    Setting("runtime.latency.cold-start-seconds", _WAIT, 0, "what a cold start waits"),
    Setting("proxy.enabled", Flag(), True, "LocalCluster starts a KV proxy"),
    Setting("proxy.fanout-threshold", Number("invocations", 1, whole=True), 8,
            "batches this large go through the proxy"),
    Setting("locality.clustering", Flag(), True, "run a large output's dependents here"),
    Setting("locality.delayed-io", Flag(), True, "hold a large output at a waiting fan-in"),
    Setting("locality.inline-inputs", Flag(), True, "send small inputs inside payloads"),
    Setting("locality.grouping", Flag(), True, "start leaves whose outputs meet together"),
    Setting("locality.large-object-bytes", _SIZE, 1048576, "outputs this large are large"),
    Setting("locality.delay-seconds", _WAIT, 1.0, "longest hold at a fan-in"),
    Setting("locality.inline-bytes", _BYTES, 65536, "most bytes inlined in one payload"),
    Setting("scheduling.batch-cheap-tasks", Flag(), True, "start cheap leaves in batches"),
    Setting("scheduling.cheap-seconds", Number("seconds", 0, nullable=True, words=("auto",)),
            "auto", "learned durations this short are cheap"),
    Setting("scheduling.threads", Number("threads", 1, whole=True), 64,
            "most waiting tasks one executor runs at once"),
    Setting("scheduling.client-finalize", Flag(), True, "the client runs finalizers"),
    Setting("scheduling.work-queue", Flag(), True,
            "leaves beyond what runs at once wait in a queue executors pull from"),
    Setting("storage.chunk-bytes", _SIZE, 67108864, "values over this are chunked"),
    Setting("output.show", Flag(), True, "write what tasks print here"),
    Setting("output.keep", Flag(), False, "keep what tasks print in the report"),
    Setting("reports.keep-seconds", _SECONDS, 600, "how long a finished job's report is kept"),
    Setting("client.job-timeout", Number("seconds", 0, above=True, nullable=True), None,
            "seconds a job may take in all; null: no limit"),
    Setting("client.keep-freed-bytes", _BYTES, 1073741824, "freed heap this process keeps"),
    Setting("security.sign-payloads", Flag(), True, "sign what is unpickled (false: INSECURE)"),
    Setting("security.key-file", _PATH, None, "the signing key `wukong deploy` gives"),
    Setting("aws.function", Text("a function name"), "wukong-executor", "the Lambda function"),
    Setting("aws.region", _NAME, None, "null: boto3's usual chain"),
    Setting("aws.endpoint-url", Text("an http:// or https:// URL", nullable=True,
                                     prefixes=("http://", "https://")), None,
            "the Lambda API to invoke"),
    Setting("aws.architecture", Choice(ARCHITECTURES), "x86_64", "the function's"),
    Setting("aws.runtime", Choice((None, *RUNTIMES)), None, "python3.N; null: this Python's"),
    Setting("aws.memory", Number("MB", *MEMORY_MB, whole=True), 2048, "the function's memory"),
    Setting("aws.prices", Prices(), {
        "x86_64": {"gb-second": 0.0000166667, "request": 0.0000002},
        "arm64": {"gb-second": 0.0000133334, "request": 0.0000002}},
        "USD per GB-second and per request"),
    Setting("aws.timeout", Number("seconds", *TIMEOUT_SECONDS, whole=True), 900,
            "seconds one invocation may run"),
    Setting("aws.ephemeral-storage", Number("MB", *EPHEMERAL_STORAGE_MB, whole=True), 512,
            "MB of /tmp"),
    Setting("aws.reserved-concurrency", Number("executors", 1, whole=True, nullable=True), None,
            "executors the function may run at once"),
    Setting("aws.subnets", Texts(Text("subnet id")), [], "VPC subnets"),
    Setting("aws.security-groups", Texts(Text("security group id")), [], "with subnets"),
    Setting("aws.packages", Texts(Text("pip requirement")), [], "requirements to install"),
    Setting("aws.image-uri", _NAME, None, "a container image to deploy"),
    Setting("aws.code-bucket", _NAME, None, "S3 bucket for large zips"),
    Setting("aws.role", _NAME, None, "the function's IAM role"),
    Setting("aws.cache-dir", _PATH, None, "wheels and builds"),
)

SETTINGS: dict[str, Setting] = {entry.name: entry for entry in _TABLE}
_unknown_told: set[str] = set()


def check(name: str, value: Any) -> Any:
    """`value` as `wukong.<name>` takes it (a flag as a bool, a number as one), or a
    `SettingError` naming the setting and what it accepts; `KeyError` for no such setting."""
    entry = SETTINGS.get(name)
    if entry is None:
        raise KeyError(f"wukong.{name} has no entry in wukong/settings_table.py: every setting "
                       "read needs one (with its kind, range, default and doc)")
    return entry.kind(name, value)


def check_all(config: Mapping[str, Any] | None = None) -> None:
    """Check every setting's value in `config` (`dask.config.config`'s `wukong` section by
    default); a key under `wukong.` that no setting has is logged once, with the closest
    names. Underscores in a key read as hyphens, as `dask.config` reads them (an
    environment variable such as `DASK_WUKONG__SCHEDULING__WORK_QUEUE` gives one)."""
    section = config if config is not None else dask.config.get("wukong", {})
    for name, value in _leaves(section, ""):
        if name in SETTINGS:
            check(name, value)
        elif name not in _unknown_told:
            _unknown_told.add(name)
            close = difflib.get_close_matches(name, SETTINGS, n=2)
            logger.warning("wukong.%s is not a Wukong setting%s", name,
                           f" (did you mean {' or '.join('wukong.' + c for c in close)}?)"
                           if close else "")


def _leaves(section: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    leaves = []
    for key, value in section.items():
        name = f"{prefix}{key.replace('_', '-') if isinstance(key, str) else key}"
        if name not in SETTINGS and isinstance(value, Mapping):
            leaves.extend(_leaves(value, f"{name}."))
        else:
            leaves.append((name, value))
    return leaves
