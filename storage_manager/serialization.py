"""Turning values into bytes and back: cloudpickle, protocol 5, with out-of-band buffers.

Large contiguous buffers (numpy arrays, bytes-like objects) are taken out of the pickle
stream and appended after it, so they are copied once when the frame is joined and never
when it is read: `loads` hands the buffers to pickle as views of the bytes it was given.
(Arrays read that way are read-only views when the bytes are immutable, as Dask expects
task inputs to be treated anyway.)

A framed value starts with `MAGIC`; anything else is a plain pickle (which starts with
the PROTO opcode, b'\\x80'), so both read back through `loads`.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import cloudpickle

PROTOCOL = 5
MAGIC = b"WKB1"
_COUNTS = struct.Struct("<4sIQ")
ALIGN = 64


def dumps(obj: Any) -> bytes:
    buffers: list[pickle.PickleBuffer] = []
    body = cloudpickle.dumps(obj, protocol=PROTOCOL, buffer_callback=buffers.append)
    if not buffers:
        return body
    try:
        views = [buffer.raw() for buffer in buffers]
    except BufferError:  # a non-contiguous buffer: keep everything in band
        return cloudpickle.dumps(obj, protocol=PROTOCOL)
    header = _COUNTS.pack(MAGIC, len(views), len(body))
    sizes = struct.pack(f"<{len(views)}Q", *(view.nbytes for view in views))
    frames: list[bytes | memoryview] = [header, sizes, body]
    offset = len(header) + len(sizes) + len(body)
    for view in views:
        pad = _aligned(offset) - offset
        frames += [bytes(pad), view]
        offset += pad + view.nbytes
    return b"".join(frames)


def _aligned(offset: int) -> int:
    """Buffers start on ALIGN-byte boundaries, so arrays read in place are aligned (numpy's
    fast loops and BLAS need that)."""
    return -(-offset // ALIGN) * ALIGN


def loads(data: bytes | bytearray | memoryview) -> Any:
    if data[:4] != MAGIC:
        return pickle.loads(data)
    view = memoryview(data)
    _, count, body_len = _COUNTS.unpack_from(view)
    offset = _COUNTS.size
    sizes = struct.unpack_from(f"<{count}Q", view, offset)
    offset += 8 * count
    body = view[offset:offset + body_len]
    offset += body_len
    buffers = []
    for size in sizes:
        offset = _aligned(offset)
        buffers.append(view[offset:offset + size])
        offset += size
    return pickle.loads(body, buffers=buffers)
