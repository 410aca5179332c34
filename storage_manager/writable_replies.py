"""Redis replies whose large bulk strings arrive in writable buffers, received in place.

Values are unpickled with their out-of-band buffers as views of the bytes read from Redis
(see `serialization`), so an array is writable exactly when those bytes are. hiredis hands
back immutable `bytes`, and copies each value twice on the way (into its own buffer, then
into the `bytes`). This parser, redis-py's own pure-Python one otherwise, receives every
bulk string of `WRITABLE_BYTES` or more straight from the socket into a `bytearray`
(`recv_into`): one copy, from the kernel, and the values loaded from it are writable like
the values of Dask's own schedulers. Shards read values (GET, MGET) through a connection
pool of this parser; everything else keeps hiredis.

A large value is read with the connection's socket timeout (GET and MGET set no other). An
error mid-value leaves the stream unusable; redis-py drops a connection on any error in a
read anyway.
"""

from __future__ import annotations

from redis._parsers import _RESP3Parser
from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR, SocketBuffer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.utils import SENTINEL

WRITABLE_BYTES = 64 * 1024
"""Bulk strings this large are received into a bytearray; smaller ones come as `bytes`
(`serialization.loads` copies those it must make writable, which costs little at this size)."""


class _ReceivingBuffer(SocketBuffer):
    def read(self, length: int, timeout: object = SENTINEL) -> bytes | bytearray:
        if length < WRITABLE_BYTES:
            return super().read(length, timeout)  # type: ignore[arg-type]
        value = bytearray(length + 2)  # the value and its CRLF
        with memoryview(value) as view:
            got = self._buffer.readinto(view)  # what the last recv already took
            while got < len(view):
                received = self._sock.recv_into(view[got:])
                if not received:
                    raise RedisConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
                got += received
        del value[length:]
        return value


class WritableBulkParser(_RESP3Parser):
    """redis-py's RESP3 parser (which reads RESP2 too), receiving large bulk strings into
    bytearrays (`parser_class` of a connection pool)."""

    def on_connect(self, connection) -> None:
        super().on_connect(connection)
        self._buffer = _ReceivingBuffer(self._sock, self.socket_read_size,
                                        connection.socket_timeout)
