"""What a caller hands the KV proxy: one stream entry per batch of encoded invocations.

The caller appends the entry with the `hand_off` script (only while the proxy's alive key
exists); the proxy reads the stream through the consumer group `PROXY_GROUP`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PROXY_GROUP = "proxy"
"""The consumer group the proxy reads its request stream with."""

BATCH_FIELD = "batch"
BATCH_SEPARATOR = b"\n"
"""Joins the payloads of one batch in one stream entry; JSON payloads hold no newline."""


def encode_batch(payloads: Iterable[bytes]) -> bytes:
    return BATCH_SEPARATOR.join(payloads)


def decode_batch(fields: Mapping[bytes, bytes]) -> list[bytes]:
    """The payloads of one stream entry (an empty entry holds one empty payload)."""
    return fields.get(BATCH_FIELD.encode(), b"").split(BATCH_SEPARATOR)
