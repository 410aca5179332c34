"""Dask's callbacks (`dask.callbacks.Callback`: `ProgressBar`, `Profiler`, your own), fired on
the client from a job's events, as Dask's local schedulers fire them.

- `start(dsk)` before the job is planned, `finish(dsk, state, errored)` when it has ended;
- `start_state(dsk, state)` once the job is planned, with a state shaped as
  `dask.local`'s: `dependencies`, `dependents`, `waiting`, `waiting_data`, `cache`,
  `ready` (a set here), `running`, `finished` and `released`, kept up to date as the
  job's events arrive;
- `pretask(key, dsk, state)` when a task starts in an executor (its start notice, see
  `executor_lambda.measurement.notices`, or else its event), before its `posttask`;
- `posttask(key, result, dsk, state, worker_id)` when it has finished: `worker_id` is the
  invocation that ran it ("client" for the tasks the client runs itself); `result` is its
  value where the client receives one (the keys asked for, and the inputs of the tasks the
  client runs; their posttask waits for the value), else None: intermediate values stay in
  Redis.

Each fires once per task, from the thread that runs the job. The client's clock times the
hooks (`Profiler` reads it in them): they fire as the news arrives, within about
`notices.INTERVAL` of the executors' own times, which the job's report holds exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dask._task_spec import DataNode, GraphNode
from dask.cache import Cache
from dask.callbacks import normalize_callback, unpack_callbacks

from storage_manager.protocol import ExecutorEvents

CLIENT = "client"
"""The `worker_id` of the tasks the client runs itself."""

NOT_FETCHED = object()


class JobCallbacks:
    """The active callbacks of one job, and the state they are shown."""

    def __init__(self, active: Iterable[Any], dsk: Mapping[Any, GraphNode]):
        start, start_state, pretask, posttask, finish = unpack_callbacks(
            [normalize_callback(cb) for cb in active])
        if any(isinstance(getattr(hook, "__self__", None), Cache) for hook in posttask):
            raise ValueError("dask.cache.Cache cannot be used with the wukong scheduler: it "
                             "stores the values posttask shows it, and intermediate values "
                             "stay in Redis (posttask is shown None for them)")
        self._start: list[Callable] = start
        self._start_state: list[Callable] = start_state
        self._pretask: list[Callable] = pretask
        self._posttask: list[Callable] = posttask
        self._finish: list[Callable] = finish
        self.dsk = dsk
        self.per_task = bool(start_state or pretask or posttask)
        """Whether any hook follows the job's tasks: then the job ships notices."""
        self.state: dict[str, Any] = _empty_state(dsk) if self.per_task else {"cache": {}}
        self._started: set[Any] = set()
        self._waiting_value: dict[Any, str] = {}
        """Finished tasks whose posttask waits for their value: their workers."""
        self._values: dict[Any, Any] = {}
        """Values fetched before their task's finish was known."""
        self._fetched: set[Any] = set()

    def start(self) -> None:
        for hook in self._start:
            hook(self.dsk)

    def planned(self, fetched: Iterable[Any]) -> None:
        """The job is planned; the values of the keys in `fetched` will reach the client."""
        self._fetched = set(fetched)
        for hook in self._start_state:
            hook(self.dsk, self.state)

    def take(self, record: ExecutorEvents, keys: Any) -> None:
        """Fire the hooks for what one record of the job's events says."""
        for notice in record.notices:
            key = keys[notice.task]
            if notice.finished:
                self.finished(key, record.executor)
            else:
                self.started(key)
        for event in record.tasks:
            self.finished(keys[event.task], record.executor)

    def started(self, key: Any) -> None:
        if not self.per_task or key in self._started:
            return
        self._started.add(key)
        state = self.state
        state["waiting"].pop(key, None)
        state["ready"].discard(key)
        state["running"].add(key)
        for hook in self._pretask:
            hook(key, self.dsk, state)

    def finished(self, key: Any, worker: str, value: Any = NOT_FETCHED) -> None:
        """`key` has finished on `worker`; its posttask fires now, or once its value is in
        if the client receives it."""
        if not self.per_task or key in self.state["finished"] or key in self._waiting_value:
            return
        self.started(key)
        if value is NOT_FETCHED and key in self._fetched:
            value = self._values.pop(key, NOT_FETCHED)
            if value is NOT_FETCHED:
                self._waiting_value[key] = worker
                return
        self._post(key, value, worker)

    def fetched(self, key: Any, value: Any) -> None:
        """The client received `key`'s value."""
        worker = self._waiting_value.pop(key, None)
        if worker is not None:
            self._post(key, value, worker)
        elif key not in self.state["finished"]:
            self._values[key] = value

    def _post(self, key: Any, value: Any, worker: str) -> None:
        state = self.state
        state["running"].discard(key)
        state["finished"].add(key)
        if value is NOT_FETCHED:
            value = None
        else:
            state["cache"][key] = value
        for dependent in state["dependents"].get(key, ()):
            waiting = state["waiting"].get(dependent)
            if waiting is not None:
                waiting.discard(key)
                if not waiting:
                    del state["waiting"][dependent]
                    state["ready"].add(dependent)
        for hook in self._posttask:
            hook(key, value, self.dsk, state, worker)

    def finish(self, errored: bool) -> None:
        for hook in self._finish:
            hook(self.dsk, self.state, errored)


def _empty_state(dsk: Mapping[Any, GraphNode]) -> dict[str, Any]:
    """The state before any task ran, as `dask.local.start_state_from_dask` makes it."""
    cache = {key: node() for key, node in dsk.items() if isinstance(node, DataNode)}
    dependencies = {key: set(node.dependencies) for key, node in dsk.items()}
    dependents: dict[Any, set[Any]] = {key: set() for key in dsk}
    for key, deps in dependencies.items():
        for dep in deps:
            dependents.setdefault(dep, set()).add(key)
    waiting = {key: deps - cache.keys() for key, deps in dependencies.items()
               if key not in cache and deps - cache.keys()}
    ready = {key for key in dsk if key not in cache and key not in waiting}
    return {"dependencies": dependencies, "dependents": dependents, "waiting": waiting,
            "waiting_data": {key: set(dependents[key]) for key in dsk}, "cache": cache,
            "ready": ready, "running": set(), "finished": set(), "released": set()}
