"""Redis servers of the tests' own with authentication and TLS: a certificate authority, server
and client certificates made with the openssl command, and a `redis-server` started with TLS
on them (Debian's build links OpenSSL), its configuration on stdin."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from storage_manager.connections import TlsFiles, redis_client
from wukong.redis_servers import find_redis_server, free_port
from wukong.subprocesses import private_child, stop_process


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @property
    def client(self) -> TlsFiles:
        return TlsFiles(str(self.ca), str(self.client_cert), str(self.client_key))


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _signed(directory: Path, name: str, ca: Path, ca_key: Path, extensions: str) -> None:
    key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "ext"))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN=wukong-test-{name}")
    ext.write_text(extensions + "\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-out", directory / f"{name}.crt", "-extfile", ext)


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj",
             "/CN=wukong-test-ca")
    _signed(directory, "server", ca, ca_key,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    _signed(directory, "client", ca, ca_key, "extendedKeyUsage=clientAuth")
    return Certificates(ca, directory / "server.crt", directory / "server.key",
                        directory / "client.crt", directory / "client.key")


@contextlib.contextmanager
def redis_server(config: Sequence[str], directory: Path, url: str,
                 tls: TlsFiles) -> Iterator[int]:
    """A redis-server with `config` (its port: `{port}` in `config` and `url`), stopped at
    the end; the port, once a client at `url` with `tls` gets a PONG."""
    port = free_port()
    lines = [line.format(port=port) for line in
             ("bind 127.0.0.1", 'save ""', "appendonly no", f"dir {directory}", *config)]
    process = subprocess.Popen([find_redis_server(), "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=private_child())
    process.stdin.write("\n".join(lines).encode() + b"\n")
    process.stdin.close()
    try:
        _wait_ready(process, url.format(port=port), tls)
        yield port
    finally:
        stop_process(process)


def _wait_ready(process: subprocess.Popen, url: str, tls: TlsFiles) -> None:
    client = redis_client(url, tls, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {process.stderr.read().decode()}")
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not start")
            time.sleep(0.02)
    finally:
        client.close()
