"""The record that cancels a job on the local runtime, and the log entry that says so.

A client cancels a job by pushing a `cancel_record` onto the right end of the function's
queue (`wk:fn:{function}:queue`, RPUSH), the end the runtime takes from, so it is taken
before any invocation still waiting there. An invocation payload is JSON (it starts with
`{`); a cancel record starts with `CANCEL_PREFIX`, then the job id, then the hex tag of
`cancel:{job}` under the deployment's key, so only a holder of the key can stop a job.

Once the runtime has stopped the job's executors and dropped its invocations, it appends a
`LogEntry` of kind `CANCELLED` with data `STOPPED` to the job's log: the client waits for it
(briefly) before cleaning up, so no task of the job starts after the client gets control
back. The client's own `CANCELLED` entry (empty data) only wakes its follower.
"""

from __future__ import annotations

from storage_manager.signing import Signer

CANCEL_PREFIX = b"cancel:"
STOPPED = b"stopped"
"""The data of the runtime's `CANCELLED` log entry: the job's executors are stopped."""


def cancel_record(job_id: str, signer: Signer) -> bytes:
    body = CANCEL_PREFIX + job_id.encode()
    return body + b":" + signer.tag((body,)).hex().encode()


def cancelled_job(payload: bytes, signer: Signer) -> str | None:
    """The job a cancel record names, None for an invocation; `Unauthenticated` for a
    cancel record with a wrong tag."""
    if not payload.startswith(CANCEL_PREFIX):
        return None
    body, _, tag = payload.rpartition(b":")
    try:
        raw_tag = bytes.fromhex(tag.decode())
    except ValueError:
        raw_tag = b""
    signer.check((body,), raw_tag, "a cancel record")
    return body[len(CANCEL_PREFIX):].decode()
