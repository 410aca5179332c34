"""Turning values into bytes and back: pickle (cloudpickle where needed), protocol 5, with
out-of-band buffers.

Large contiguous buffers (numpy arrays, bytes-like objects) are taken out of the pickle
stream and appended after it, so they are copied once when the frame is joined and never
when it is read: `loads` hands the buffers to pickle as views of the buffer it was given.
Every value `loads` returns is writable, as the values of Dask's own schedulers are (a task
may write into its input, the caller into its result): a writable buffer (a `bytearray`, as
shards return large values, see `writable_replies`) is used in place; a read-only one
(`bytes`: small values, inline inputs) is copied first.

A framed value starts with `MAGIC`; anything else is a plain pickle (which starts with
the PROTO opcode, b'\\x80'), so both read back through `loads`.
"""

from __future__ import annotations

import io
import pickle
import struct
import types
from collections.abc import Callable
from typing import Any

import cloudpickle

from storage_manager.code_origins import remember

PROTOCOL = 5
MAGIC = b"WKB1"
_COUNTS = struct.Struct("<4sIQ")
ALIGN = 64


def dumps(obj: Any) -> bytes:
    buffers: list[pickle.PickleBuffer] = []
    body = _pickle(obj, buffers.append)
    if not buffers:
        return body
    try:
        views = [buffer.raw() for buffer in buffers]
    except BufferError:  # a non-contiguous buffer: keep everything in band
        return _pickle(obj, None)
    header = _COUNTS.pack(MAGIC, len(views), len(body))
    sizes = struct.pack(f"<{len(views)}Q", *(view.nbytes for view in views))
    frames: list[bytes | memoryview] = [header, sizes, body]
    offset = len(header) + len(sizes) + len(body)
    for view in views:
        pad = _aligned(offset) - offset
        frames += [bytes(pad), view]
        offset += pad + view.nbytes
    return b"".join(frames)


def _pickle(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], None] | None) -> bytes:
    """The C pickler when it is safe, else cloudpickle, as distributed does. The C pickler is
    several times faster on small values (an executor's events, a float), but it saves
    functions and classes by reference, which a reader resolves only if their module
    is importable there. What cloudpickle would save by value (from `__main__` or a module
    registered to go by value) or the C pickler refuses (lambdas, local functions) goes
    through cloudpickle. The names are searched in the pickle's bytes (out-of-band buffers
    are not in them): a false match only costs the slower path."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        body = pickle.dumps(obj, protocol=PROTOCOL, buffer_callback=buffers.append)
        if not any(name in body for name in _by_value_names()):
            if buffer_callback is not None:
                for buffer in buffers:
                    buffer_callback(buffer)
            return body
    except Exception:
        pass
    with io.BytesIO() as file:
        _RememberingPickler(file, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(obj)
        return file.getvalue()


class _RememberingPickler(cloudpickle.Pickler):
    """cloudpickle, noting the file of every code object it saves by value (see
    `code_origins`), so a remote traceback through that code can name it."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.CodeType:
            remember(obj)
        return super().reducer_override(obj)


def _by_value_names() -> list[bytes]:
    """Module names whose functions cloudpickle saves by value, as they appear in a pickle."""
    return [b"__main__", *(name.encode() for name in cloudpickle.list_registry_pickle_by_value())]


def _aligned(offset: int) -> int:
    """Buffers start on ALIGN-byte boundaries, so arrays read in place are aligned (numpy's
    fast loops and BLAS need that)."""
    return -(-offset // ALIGN) * ALIGN


def loads(data: bytes | bytearray | memoryview) -> Any:
    if data[:4] != MAGIC:
        return pickle.loads(data)
    view = memoryview(data)
    if view.readonly:
        view = memoryview(bytearray(view))
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
