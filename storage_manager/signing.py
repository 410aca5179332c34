"""Authenticating what is unpickled: keyed BLAKE3 tags under a deployment's key.

Unpickling runs code, so nothing read from Redis or from an invocation payload is unpickled
unless a party of the same deployment signed it. A serialized value (an output, a job's
graph, an executor's events, a task's failure) ends in its tag, `TAG_BYTES` computed over the
frames `serialization.dumps` builds, before they are joined, so signing copies no value; an
invocation carries its tag in its payload (`Invocation`). A reader checks the tag before
anything is unpickled and refuses what fails: `Unauthenticated`, logged and counted (by the
`Signer`, and in Redis where the process has named a counter, see `count_refusals_in`).

A deployment's key is generated per `LocalCluster` and handed to the processes it starts in
their environment, never on a command line; on AWS `wukong deploy` sets it in the function's
environment. Tags are BLAKE3 in its keyed (MAC) mode, under a 32-byte key derived from the
deployment's key (BLAKE3's key derivation, `MAC_KEY_CONTEXT`): as strong a MAC as HMAC-SHA256,
and several times faster on large values, which every output written and read pays for;
it releases the GIL while it hashes. The tag authenticates who wrote a value, not where it is
stored: whoever holds the key (and whoever runs Redis) is trusted.

`Signer(None)` signs nothing and checks nothing. It is insecure (anyone who can write to Redis
runs code in the executors) and exists only to measure what signing costs
(`wukong.security.sign-payloads: false`); every process of a deployment must agree.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import blake3

logger = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview

TAG_BYTES = 32
"""The length of a tag (BLAKE3's default output)."""
KEY_BYTES = 32
"""The length of a generated key."""
MAC_KEY_CONTEXT = "wukong 2026-12 tags of what is unpickled"
"""BLAKE3's key-derivation context: the MAC key is derived from the deployment's key under it."""
OFF = "off"
"""How a key is written when signing is off (`Signer.to_text`)."""


class Unauthenticated(ValueError):
    """Data whose tag is missing or wrong, refused before anything in it was unpickled."""


class Signer:
    """Signs and checks under one deployment's key (None: signing off, see the module)."""

    def __init__(self, key: bytes | None):
        if key is not None and len(key) < KEY_BYTES // 2:
            raise ValueError(f"a signing key must have at least {KEY_BYTES // 2} bytes, "
                             f"got {len(key)}")
        self._key = key
        self._mac_key = (None if key is None
                         else blake3.blake3(key, derive_key_context=MAC_KEY_CONTEXT).digest())
        self.refused = 0
        """How many times this process refused data under this key."""
        self._counter: tuple[Any, str] | None = None

    @classmethod
    def generate(cls) -> Signer:
        """A signer with a fresh random key."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str, name: str = "the signing key") -> Signer:
        """The signer `to_text` wrote (`name` says where the text came from, for errors)."""
        if text == OFF:
            return cls(None)
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise ValueError(f"{name} must be a hex key or {OFF!r}: {exc}") from None

    def to_text(self) -> str:
        """The key as hex, or `OFF`: what a process's environment carries."""
        return OFF if self._key is None else self._key.hex()

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def count_refusals_in(self, client: Any, key: str) -> None:
        """Also count refusals in Redis: INCR of `key` through `client` (best effort)."""
        self._counter = (client, key)

    def tag(self, frames: Iterable[Buffer]) -> bytes:
        """The tag of the frames' concatenation, fed to the MAC one by one (b"" when off)."""
        if self._mac_key is None:
            return b""
        mac = blake3.blake3(key=self._mac_key)
        for frame in frames:
            mac.update(frame)
        return mac.digest()

    def check(self, frames: Iterable[Buffer], tag: Buffer, what: str) -> None:
        """Raise `Unauthenticated` (naming `what`) unless `tag` is the frames' tag."""
        if self._key is not None and not hmac.compare_digest(self.tag(frames), bytes(tag)):
            raise self.refuse(what)

    def open(self, data: Buffer, what: str) -> Buffer:
        """`data` without its trailing tag, once the tag is checked (no copy is made)."""
        if self._key is None:
            return data
        view = memoryview(data)
        if view.nbytes < TAG_BYTES:
            raise self.refuse(what)
        self.check((view[:-TAG_BYTES],), view[-TAG_BYTES:], what)
        return view[:-TAG_BYTES]

    def refuse(self, what: str) -> Unauthenticated:
        """Log and count a refusal of `what`; the error to raise."""
        self.refused += 1
        logger.error("refused %s: its tag is missing or wrong under this deployment's key "
                     "(%d refused in this process)", what, self.refused)
        if self._counter is not None:
            client, key = self._counter
            with contextlib.suppress(Exception):
                client.incrby(key, 1)
        return Unauthenticated(
            f"{what} is not signed with this deployment's key (its tag is missing "
            "or wrong), so it was refused before unpickling: it was forged or altered, or "
            "signed by another deployment (a different wukong.security key, or "
            "wukong.security.sign-payloads set differently)")
