"""Wukong's settings live in `dask.config` under `wukong.*`, with defaults shipped here, so
`dask.config.set(...)`, YAML files and `DASK_WUKONG__...` environment variables all work.

This is the only module that reads them for a job: it turns them into the plain dataclasses
the static scheduler and the executors take (`PlanSettings`, `Locality`, `Batching`), read
once when a job is planned, so a `dask.config.set(...)` around one `compute` reaches that
job, and only it."""

from __future__ import annotations

import pathlib
from typing import Any

import dask.config
import yaml

from static_scheduler import Batching, PlanSettings
from storage_manager import Locality, dumps
from storage_manager.connections import TlsFiles
from storage_manager.recovery import Recovery
from storage_manager.serialization import dumped_or_culprit
from wukong.cluster_protocol import Cluster
from wukong.settings_table import check

_DEFAULTS = pathlib.Path(__file__).with_name("wukong.yaml")

NOT_SENT = ("scheduler", "get", "pool")
"""Settings that name the caller's own scheduler and its thread pool, which tasks do not
get: in an executor, a compute inside a task runs with Dask's synchronous scheduler (a
task calling `.compute()` there must not start a cluster of its own)."""

_merged_defaults: tuple[int, dict] = (0, {})


def register_defaults() -> None:
    """Wukong's own defaults, and the task-based shuffle as Dask's default shuffle method."""
    with _DEFAULTS.open() as f:
        defaults = yaml.safe_load(f)
    dask.config.update_defaults(defaults)
    _task_shuffle_by_default()


def _task_shuffle_by_default() -> None:
    """Make "tasks" the default of `dataframe.shuffle.method` (Dask's is null).

    Dask picks a shuffle when a graph is built or optimized, before it resolves
    `scheduler=`: `dataframe.shuffle.method` if set, else p2p if a distributed client exists,
    else the disk shuffle, which Wukong refuses (`static_scheduler.disk_shuffle`). So
    importing wukong, which registers the scheduler, makes the task-based shuffle the
    default, as creating a distributed client makes p2p the default; a method set explicitly
    (config, YAML, environment) is kept. `update_defaults` sets it now, and Dask's own
    default entry is changed too: `dask.config.refresh` applies the defaults first-come, so
    a later entry cannot change a key Dask's own defaults hold (while `merge`, which tells
    what a caller changed, lets the later win): both must agree on "tasks".
    """
    dask.config.update_defaults({"dataframe": {"shuffle": {"method": "tasks"}}})
    for entry in dask.config.defaults:
        shuffle = entry.get("dataframe", {}).get("shuffle")
        if isinstance(shuffle, dict) and "method" in shuffle and shuffle["method"] is None:
            shuffle["method"] = "tasks"


def setting(name: str, override: Any = None) -> Any:
    """`wukong.<name>`, unless an explicit argument overrides it, checked against the
    settings' table (`settings_table`): a flag as a bool, a number as one; a value the
    setting does not accept raises `SettingError` naming it."""
    value = override if override is not None else dask.config.get(f"wukong.{name}")
    return check(name, value)


def plan_settings(cluster: Cluster, notices: bool = False) -> PlanSettings:
    """Everything the next job on `cluster` is planned with; with `notices`, its executors
    tell as tasks start and finish."""
    return PlanSettings(
        num_shards=len(cluster.shards),
        ttl_ms=int(setting("redis.ttl") * 1000),
        locality=locality_settings(),
        batching=scheduling_settings(cluster.invoke_seconds, cluster.parallelism,
                                     cluster.executor_cores),
        client_finalize=setting("scheduling.client-finalize"),
        task_config=task_settings(),
        notices=notices,
        recovery=recovery_settings(),
    )


def recovery_settings() -> Recovery:
    """Retries and the deliveries' lease for the next job (`wukong.retries`, `wukong.lease`)."""
    return Recovery(retries=int(setting("retries")), lease_ms=int(setting("lease")))


def locality_settings() -> Locality:
    """The locality switches for the next job, from `wukong.locality.*` and friends."""
    return Locality(
        clustering=setting("locality.clustering"),
        delayed_io=setting("locality.delayed-io"),
        inline_inputs=setting("locality.inline-inputs"),
        grouping=setting("locality.grouping"),
        large_object_bytes=setting("locality.large-object-bytes"),
        delay_seconds=setting("locality.delay-seconds"),
        inline_bytes=setting("locality.inline-bytes"),
        chunk_bytes=setting("storage.chunk-bytes"),
        payload_limit=setting("runtime.payload-limit"),
    )


def task_settings() -> dict[str, Any]:
    """What the job's tasks run with: this process's `dask.config` where it differs from
    Dask's defaults (what `dask.config.set`, YAML files and `DASK_*` variables set), as
    dotted keys, less `NOT_SENT`. Executors start from the same defaults."""
    global _merged_defaults
    if _merged_defaults[0] != len(dask.config.defaults):  # update_defaults only appends
        _merged_defaults = (len(dask.config.defaults), dask.config.merge(*dask.config.defaults))
    changed = _changes(dask.config.config, _merged_defaults[1], "")
    settings = {key: value for key, value in changed.items()
                if key.split(".")[0] not in NOT_SENT}
    dumped_or_culprit(
        lambda: dumps(settings), settings,
        lambda key, exc: ValueError(f"dask.config setting {key!r} cannot be sent to the "
                                    f"tasks: {type(exc).__name__}: {exc}"))
    return settings


def _changes(config: dict, defaults: dict, prefix: str) -> dict[str, Any]:
    """The leaves of `config` that `defaults` lacks or holds otherwise, by dotted key."""
    changed = {}
    for key, value in config.items():
        default = defaults.get(key, _changes)
        if default is _changes or default != value:  # equal subtrees: compared in C
            if isinstance(value, dict) and value:
                within = default if isinstance(default, dict) else {}
                changed.update(_changes(value, within, f"{prefix}{key}."))
            else:
                changed[f"{prefix}{key}"] = value
    return changed


def scheduling_settings(invoke_seconds: float, parallelism: int, executor_cores: int = 1
                        ) -> Batching:
    """Batching of cheap and of waiting tasks for the next job, from `wukong.scheduling.*`
    and what the platform offers (one invocation's cost, how many executors run at once,
    how many cores one has)."""
    cheap = setting("scheduling.cheap-seconds")
    return Batching(
        enabled=setting("scheduling.batch-cheap-tasks"),
        cheap_seconds=None if cheap in (None, "auto") else cheap,
        invoke_seconds=invoke_seconds,
        parallelism=parallelism,
        threads=setting("scheduling.threads"),
        queue=setting("scheduling.work-queue"),
        executor_cores=executor_cores,
    )


def signing_enabled() -> bool:
    """`wukong.security.sign-payloads`: false only to measure what signing costs (insecure)."""
    return setting("security.sign-payloads")


def redis_tls() -> TlsFiles:
    """`wukong.redis.tls.*`: the files `rediss://` shards are reached with."""
    return TlsFiles(ca_file=setting("redis.tls.ca-file"),
                    cert_file=setting("redis.tls.cert-file"),
                    key_file=setting("redis.tls.key-file"))


def keep_freed_bytes(name: str) -> int:
    """`wukong.<name>`: freed heap to keep, in bytes (0: the C library's default)."""
    return setting(name)
