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

With a `Signer`, a value ends in its tag (see `signing`), computed over the frames before
they are joined, or over the pickle in the buffer it was written to, so signing copies
nothing; `loads` with the signer checks the tag before it unpickles anything. What goes to
Redis or into a payload is signed; what only travels inside a signed value (a graph's task
nodes, the job's config) is not signed again.
"""

from __future__ import annotations

import functools
import io
import pickle
import re
import struct
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import cloudpickle

from storage_manager.code_origins import remember
from storage_manager.signing import Buffer, Signer

PROTOCOL = 5
MAGIC = b"WKB1"
_COUNTS = struct.Struct("<4sIQ")
ALIGN = 64
T = TypeVar("T")


def dumps(obj: Any, signer: Signer | None = None) -> bytes:
    """`obj` serialized; with `signer`, followed by its tag."""
    buffers: list[pickle.PickleBuffer] = []
    file = _pickle(obj, buffers.append)
    if buffers:
        try:
            views = [buffer.raw() for buffer in buffers]
        except BufferError:  # a non-contiguous buffer: keep everything in band
            file = _pickle(obj, None)
        else:
            with file.getbuffer() as body:
                return _framed(body, views, signer)
    if signer is not None:
        with file.getbuffer() as body:
            tag = signer.tag((body,))
        file.write(tag)
    return file.getvalue()  # the buffer itself, not a copy, once no view of it is left


def dumped_or_culprit(dump: Callable[[], T], items: Mapping[Any, Any],
                      culprit_error: Callable[[Any, Exception], Exception]) -> T:
    """`dump()` (which pickles `items` together); if it fails, `culprit_error(key, error)`
    for the first item `dumps` refuses on its own, raised from that error (the first
    failure again if every item pickles alone)."""
    try:
        return dump()
    except Exception:
        for key, value in items.items():
            try:
                dumps(value)
            except Exception as exc:
                raise culprit_error(key, exc) from exc
        raise


def _framed(body: memoryview, views: list[memoryview], signer: Signer | None) -> bytes:
    """The pickle `body` with its out-of-band buffers after it, aligned; and the tag."""
    header = _COUNTS.pack(MAGIC, len(views), len(body))
    sizes = struct.pack(f"<{len(views)}Q", *(view.nbytes for view in views))
    frames: list[Buffer] = [header, sizes, body]
    offset = len(header) + len(sizes) + len(body)
    for view in views:
        pad = _aligned(offset) - offset
        frames += [bytes(pad), view]
        offset += pad + view.nbytes
    if signer is not None:
        frames.append(signer.tag(frames))
    return b"".join(frames)


def _pickle(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], None] | None
            ) -> io.BytesIO:
    """The pickle of `obj`, in a buffer of its own. The C pickler when it is safe, else
    cloudpickle, as distributed does. The C pickler is several times faster on small values
    (an executor's events, a float), but it saves functions and classes by reference, which a
    reader resolves only if their module is importable there. What cloudpickle would save by
    value (from `__main__` or a module registered to go by value) or the C pickler refuses
    (lambdas, local functions) goes through cloudpickle. The names are searched in the
    pickle's bytes (out-of-band buffers are not in them): a false match only costs the slower
    path."""
    buffers: list[pickle.PickleBuffer] = []
    file = io.BytesIO()
    try:
        pickle.Pickler(file, protocol=PROTOCOL, buffer_callback=buffers.append).dump(obj)
        with file.getbuffer() as body:
            by_value = any(_literal(name).search(body) for name in _by_value_names())
        if not by_value:
            if buffer_callback is not None:
                for buffer in buffers:
                    buffer_callback(buffer)
            return file
    except Exception:
        pass
    file = io.BytesIO()
    _RememberingPickler(file, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(obj)
    return file


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


@functools.lru_cache(maxsize=256)
def _literal(name: bytes) -> re.Pattern[bytes]:
    """A pattern finding `name` in a buffer (`bytes.find` takes no memoryview to search)."""
    return re.compile(re.escape(name))


def _aligned(offset: int) -> int:
    """Buffers start on ALIGN-byte boundaries, so arrays read in place are aligned (numpy's
    fast loops and BLAS need that)."""
    return -(-offset // ALIGN) * ALIGN


def loads(data: Buffer, signer: Signer | None = None, what: str = "a value") -> Any:
    """The value `dumps` serialized; with `signer`, only once its tag is checked
    (`signing.Unauthenticated` naming `what` if not)."""
    if signer is not None:
        data = signer.open(data, what)
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
