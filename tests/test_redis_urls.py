"""A Redis URL that leads nowhere useful fails when the shards are opened, within seconds,
with a `StorageUnavailable` naming the URL and the setting: against real sockets that
refuse, never answer, answer HTTP or answer garbage."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

import wukong
from storage_manager import ShardSet, StorageUnavailable
from storage_manager.shards import HANDSHAKE_TIMEOUT_SECONDS
from storage_manager.signing import Signer

HTTP_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request")


@contextlib.contextmanager
def tcp_server(reply: bytes | None) -> Iterator[str]:
    """A TCP server on a free port that accepts every connection and answers whatever it
    receives with `reply` (None: never answers, holding the connection open); its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            if reply is not None:
                conn.recv(65536)
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


def assert_names_url_and_setting(error: StorageUnavailable, url: str) -> None:
    assert url in str(error)
    assert "wukong.redis.urls" in str(error)
    assert isinstance(error, ConnectionError)


def test_redis_unreachable():
    """A port nobody listens on."""
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(StorageUnavailable, match="cannot be reached") as info:
        ShardSet([url], Signer.generate())
    assert_names_url_and_setting(info.value, url)


@pytest.mark.timeout(60)
def test_server_that_never_answers():
    """A server that accepts and stays silent fails at the handshake's short timeout, not
    after a job waited for the long socket timeout of calls."""
    with tcp_server(None) as url, pytest.raises(StorageUnavailable) as info:
        ShardSet([url], Signer.generate())
    assert f"did not answer within {HANDSHAKE_TIMEOUT_SECONDS:g} s" in str(info.value)
    assert_names_url_and_setting(info.value, url)


@pytest.mark.parametrize("reply", [HTTP_REPLY, b"\x00\x17garbage\xff\n"], ids=["http", "garbage"])
def test_server_that_is_not_redis(reply):
    """An HTTP server, or anything answering what Redis would not, is named as not Redis
    instead of surfacing as a raw protocol error."""
    with tcp_server(reply) as url, pytest.raises(StorageUnavailable) as info:
        ShardSet([url], Signer.generate())
    assert "does not answer as a Redis server does" in str(info.value)
    assert_names_url_and_setting(info.value, url)


@pytest.mark.timeout(60)
def test_cluster_on_a_silent_url_fails_at_start():
    """`LocalCluster(redis_urls=...)` opens the shards before it starts anything."""
    with tcp_server(None) as url, pytest.raises(StorageUnavailable) as info:
        wukong.LocalCluster(redis_urls=[url])
    assert_names_url_and_setting(info.value, url)
