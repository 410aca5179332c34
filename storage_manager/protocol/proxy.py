"""What the KV proxy and the processes around it agree on: the batches callers hand it, one
stream entry each, and the stats hash it reports in.

A caller appends a batch with the `hand_off` script (only while the proxy's alive key
exists); the proxy reads the stream through the consumer group `PROXY_GROUP`. The proxy
writes `ProxyStats` into its stats hash; anyone may read it (`kv_proxy.proxy_status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

PROXY_GROUP = "proxy"
"""The consumer group the proxy reads its request stream with."""

BATCH_FIELD = "batch"
BATCH_SEPARATOR = b"\n"
"""Joins the payloads of one batch in one stream entry; JSON payloads hold no newline."""


def encode_batch(payloads: Iterable[bytes]) -> bytes:
    return BATCH_SEPARATOR.join(payloads)


def decode_batch(entry: Mapping[bytes, bytes]) -> list[bytes]:
    """The payloads of one stream entry (an empty entry holds one empty payload)."""
    return entry.get(BATCH_FIELD.encode(), b"").split(BATCH_SEPARATOR)


@dataclass
class ProxyStats:
    """What the proxy is doing, in invocations (batches only where named); the stats hash
    holds these fields, with `state`, `pid` and `updated_at`."""

    in_flight: int = 0
    queued: int = 0
    done: int = 0
    """Counted in the hash by the platform in the same step as the invocations themselves."""
    failed: int = 0
    batches: int = 0
    recovered_batches: int = 0

    @classmethod
    def counts(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))
