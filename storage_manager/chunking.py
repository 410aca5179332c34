"""Large values: stored as a small manifest under the output key plus numbered chunks, spread
over shards.

An output key lives on its reader's shard, so a fan-in's claim can return its small inputs in
the same call; large inputs it never returns, and with them on the reader's shard a fan-in
of many large inputs (a block sum of products) would put all of them on one shard. So a
value of `SPREAD_BYTES` or more is a manifest plus chunks: chunk `i` of a task lives on
the shard after the task's own, round-robin. Redis also refuses strings over 512 MB, so no
chunk is larger than the job's chunk size; a value's chunks spread evenly and are read back
in parallel.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

Buffer = bytes | bytearray | memoryview

MANIFEST_MAGIC = b"WKC1"
_MANIFEST = struct.Struct("<4sQI")
MAX_CHUNK_BYTES = 512 * 1024 * 1024
SPREAD_BYTES = 1024 * 1024
"""Values this large are placed by their task, behind a manifest: the extra round trip to
read them is small beside moving a megabyte."""


def check_chunk_bytes(chunk_bytes: int) -> int:
    if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"wukong.storage.chunk-bytes must be between 1 and {MAX_CHUNK_BYTES} "
                         f"(Redis refuses larger values), got {chunk_bytes}")
    return chunk_bytes


def chunk_count(total: int, chunk_bytes: int) -> int:
    return -(-total // chunk_bytes)


def manifest(total: int, count: int) -> bytes:
    return _MANIFEST.pack(MANIFEST_MAGIC, total, count)


def is_manifest(data: Buffer) -> bool:
    return len(data) == _MANIFEST.size and data[:4] == MANIFEST_MAGIC


def read_manifest(data: Buffer) -> tuple[int, int]:
    """(total bytes, number of chunks)."""
    _, total, count = _MANIFEST.unpack(data)
    return total, count


def split(data: bytes, chunk_bytes: int) -> Iterator[memoryview]:
    """Views of `data`, `chunk_bytes` each (the last may be shorter); nothing is copied."""
    view = memoryview(data)
    for start in range(0, len(view), chunk_bytes):
        yield view[start:start + chunk_bytes]


def assemble(total: int, chunks: list[Buffer]) -> Buffer:
    """One buffer holding the chunks in order: the only copy made on the way in, and none
    for a value in one chunk (every value from `SPREAD_BYTES` up to the chunk size)."""
    size = sum(map(len, chunks))
    if size != total:
        raise ValueError(f"chunked value is {size} bytes, its manifest says {total}")
    if len(chunks) == 1:
        return chunks[0]
    whole = bytearray(total)
    offset = 0
    for chunk in chunks:
        whole[offset:offset + len(chunk)] = chunk
        offset += len(chunk)
    return whole
