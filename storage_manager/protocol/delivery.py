"""Deliveries of an invocation: who owns a claim, and the ids of invocations made at fan-outs.

A platform may deliver one invocation more than once (Lambda's asynchronous invocations are
at least once), and retries a delivery that died with the next `attempt`. Each delivery
names itself `<invocation id>.<attempt>.<nonce>` (`owner`), with a nonce of its own (its
request id where the platform makes that unique per delivery, else fresh at its start):
claims (`lua/step.lua`) name that owner, and its lease `JobKeys.lease(owner)` says whether it
still runs (PX `Recovery.lease_ms`, refreshed), ended ("done": the job's TTL), or died
(gone). A retry names the deliveries it replaces (`Invocation.replaces`: the one that died
and those that one replaced), whose leases it ends: duplicates that still run keep theirs.

An invocation made at a fan-out gets an id derived from its parent's id and its task
(`child_id`), so a retried parent that invokes the same child again makes a duplicate of it,
not a new invocation.
"""

from __future__ import annotations

import hashlib
import uuid

DEFAULT_RETRIES = 2
"""How many times a delivery that died is retried, as Lambda's asynchronous retries."""

DEFAULT_LEASE_MS = 5000
"""How long a delivery's lease lives unless refreshed."""


def fresh_nonce() -> str:
    """A nonce for a delivery whose platform names it with nothing unique of its own."""
    return uuid.uuid4().hex[:12]


def owner(invocation_id: str, attempt: int, nonce: str | None = None) -> str:
    """The name of one delivery of an invocation; a fresh nonce unless given."""
    for name, part in (("invocation id", invocation_id), ("delivery nonce", nonce or "")):
        if "." in part:
            raise ValueError(f"{name} {part!r} must not contain '.'")
    return f"{invocation_id}.{attempt}.{nonce or fresh_nonce()}"


def child_id(parent_id: str, task: int) -> str:
    """The id of the invocation `parent_id` makes for `task`: the same every time."""
    return hashlib.blake2b(f"{parent_id}/{task}".encode(), digest_size=16).hexdigest()
