"""How a failure travels from an executor (or the runtime) to the client that re-raises it."""

from __future__ import annotations

from dataclasses import dataclass

from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import dumps, loads


class ExecutorDied(RuntimeError):
    """The executor process running a task died or ran out of time."""


class RemoteTaskError(Exception):
    """Stands in for a user exception that could not be pickled back to the client."""


@dataclass
class TaskFailure:
    exception: BaseException
    traceback: RemoteTraceback
    executor: str

    @classmethod
    def from_exception(cls, exc: BaseException, executor: str) -> TaskFailure:
        return cls(exc, RemoteTraceback.of(exc), executor)

    def encode(self) -> bytes:
        try:
            data = dumps(self)
            loads(data)  # an exception may pickle but not unpickle (e.g. required init args)
            return data
        except Exception:
            stand_in = RemoteTaskError(f"{type(self.exception).__name__}: {self.exception}")
            return dumps(TaskFailure(stand_in, self.traceback, self.executor))

    @staticmethod
    def decode(data: bytes) -> TaskFailure:
        return loads(data)

    def exception_for(self, key: object) -> BaseException:
        """The exception to raise on the client, naming the task and carrying the remote
        traceback, with its original type."""
        exc = self.exception
        if isinstance(exc, ExecutorDied):
            exc = ExecutorDied(f"{exc} It was running task {key!r}.")
        else:
            _add_note(exc, f"Raised by task {key!r} in Wukong executor {self.executor}.")
        if self.traceback:
            _add_note(exc, f"Remote traceback:\n{self.traceback.format()}")
        return exc


def _add_note(exc: BaseException, note: str) -> None:
    """`BaseException.add_note` (3.11+); on 3.10 the notes list is kept, as exceptiongroup does."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]
