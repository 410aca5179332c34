"""How a failure travels from an executor (or the runtime) to the client that re-raises it."""

from __future__ import annotations

from dataclasses import dataclass

from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import dumps, loads
from storage_manager.signing import Signer, Unauthenticated


class ExecutorDied(RuntimeError):
    """The executor process running a task died or ran out of time."""


class RemoteTaskError(Exception):
    """Stands in for a user exception that could not be pickled back to the client."""


class UnserializableResult(TypeError):
    """A task's result cannot be pickled, so it can reach neither other executors nor the
    client; the message names the task and the type. `task` is its index in the job."""

    def __init__(self, message: str, task: int = -1):
        super().__init__(message)
        self.task = task


def dumps_result(value: object, task: int, key: object, signer: Signer) -> bytes:
    """`dumps(value, signer)`, or `UnserializableResult` naming the task and the value's
    type."""
    try:
        return dumps(value, signer)
    except MemoryError:
        raise
    except Exception as exc:
        kind = type(value)
        raise UnserializableResult(
            f"task {key!r} returned a {kind.__module__}.{kind.__qualname__} that cannot be "
            f"pickled to reach other executors or the client: {type(exc).__name__}: {exc}",
            task) from exc


@dataclass
class TaskFailure:
    exception: BaseException
    traceback: RemoteTraceback
    executor: str

    @classmethod
    def from_exception(cls, exc: BaseException, executor: str) -> TaskFailure:
        """The failure of `exc`, with its remote traceback, except for a result that could
        not be pickled: no user code failed there, and the message says all."""
        unpicklable = isinstance(exc, UnserializableResult)
        return cls(exc, RemoteTraceback() if unpicklable else RemoteTraceback.of(exc), executor)

    def encode(self, signer: Signer) -> bytes:
        try:
            data = dumps(self, signer)
            loads(data, signer)  # an exception may pickle but not unpickle (required args)
            return data
        except Unauthenticated:
            raise
        except Exception:
            stand_in = RemoteTaskError(f"{type(self.exception).__name__}: {self.exception}")
            return dumps(TaskFailure(stand_in, self.traceback, self.executor), signer)

    @staticmethod
    def decode(data: bytes, signer: Signer, task: object) -> TaskFailure:
        """The failure an executor reported for `task` (named if it is refused)."""
        return loads(data, signer, f"the failure reported for task {task!r}")

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
