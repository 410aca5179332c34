"""Redis servers of one's own that require authentication, reached through their URLs: a
password (`redis://:PASSWORD@`), an ACL user (`redis://USER:PASSWORD@`) and TLS with a client
certificate (`rediss://`, with `wukong.redis.tls.*`). A whole job runs through each, so the
client, the runtime, its workers and the KV proxy all connect so; wrong credentials fail at
the start, naming the shard without its password."""

from __future__ import annotations

import secrets

import dask
import pytest
from dask.utils_test import inc
from redis_tls import make_certificates, redis_server

import wukong
from storage_manager import ShardSet, StorageUnavailable
from storage_manager.connections import NO_TLS_FILES, TlsFiles
from storage_manager.protocol.roles import COMMANDS
from storage_manager.signing import Signer
from wukong.__main__ import main

DSK = {("x", i): (inc, i) for i in range(12)}
DSK["total"] = (sum, [("x", i) for i in range(12)])


def run_job_on(url: str, tls: TlsFiles = NO_TLS_FILES) -> None:
    """A job of leaves, a fan-in and enough invocations for the KV proxy, on `url` alone."""
    files = {"wukong.redis.tls.ca-file": tls.ca_file, "wukong.redis.tls.cert-file": tls.cert_file,
             "wukong.redis.tls.key-file": tls.key_file, "wukong.proxy.fanout-threshold": 4}
    with dask.config.set(files), wukong.LocalCluster(redis_urls=[url]) as cluster:
        assert cluster.get(DSK, "total") == sum(range(1, 13))
        assert cluster.proxy is not None and cluster.proxy.alive()
        assert "***" in repr(cluster) and url.split("@")[0] not in repr(cluster)


def test_a_password_url(tmp_path):
    password = secrets.token_urlsafe(16)
    url = f"redis://:{password}@127.0.0.1:{{port}}/0"
    with redis_server(["port {port}", f"requirepass {password}"], tmp_path, url,
                      NO_TLS_FILES) as port:
        run_job_on(url.format(port=port))
        wrong = f"redis://:not-{password}@127.0.0.1:{port}/0"
        with pytest.raises(StorageUnavailable, match="refused the credentials") as info:
            ShardSet([wrong], Signer.generate())
        assert password not in str(info.value) and ":***@" in str(info.value)
        with pytest.raises(StorageUnavailable, match="requires a password, and its URL gives"):
            ShardSet([f"redis://127.0.0.1:{port}/0"], Signer.generate())


def test_an_acl_user_with_only_the_roles_commands(tmp_path):
    """One ACL user allowed what the roles together may run, on `wk:` keys only: enough for
    every part of a job (the roles' command lists are complete)."""
    password = secrets.token_urlsafe(16)
    commands = " ".join(f"+{c}" for c in sorted({c for cs in COMMANDS.values() for c in cs}))
    user = f"user wukong on >{password} resetkeys ~wk:* resetchannels &wk:fn:* -@all {commands}"
    url = f"redis://wukong:{password}@127.0.0.1:{{port}}/0"
    with redis_server(["port {port}", "user default off", user], tmp_path, url,
                      NO_TLS_FILES) as port:
        run_job_on(url.format(port=port))


@pytest.mark.timeout(180)
def test_tls_with_a_client_certificate(tmp_path):
    """A server that speaks only TLS and wants a client certificate signed by its CA: with
    the CA and the client's certificate every part of a job connects; without the client
    certificate, or checking the server against the system's CAs, the shard is refused."""
    certs = make_certificates(tmp_path)
    password = secrets.token_urlsafe(16)
    url = f"rediss://:{password}@127.0.0.1:{{port}}/0"
    config = ["port 0", "tls-port {port}", f"tls-cert-file {certs.server_cert}",
              f"tls-key-file {certs.server_key}", f"tls-ca-cert-file {certs.ca}",
              "tls-auth-clients yes", f"requirepass {password}"]
    with redis_server(config, tmp_path, url, certs.client) as port:
        url = url.format(port=port)
        run_job_on(url, certs.client)
        for tls in (TlsFiles(ca_file=str(certs.ca)), NO_TLS_FILES):
            with pytest.raises(StorageUnavailable, match=r"wukong\.redis\.tls"):
                ShardSet([url], Signer.generate(), tls)


def test_tls_files_are_checked():
    with pytest.raises(ValueError, match=r"wukong\.redis\.tls\.ca-file"):
        TlsFiles(ca_file="/no/such/ca.pem")
    with pytest.raises(ValueError, match=r"key-file is set without"):
        TlsFiles(key_file=__file__)


def test_a_url_with_a_password_is_refused_on_the_command_line(capsys):
    """`wukong up --redis-url` would put it in /proc/PID/cmdline (and `--detach` in its
    child's too): it belongs in a config file."""
    assert main(["up", "--redis-url", "redis://:secret@127.0.0.1:1/0"]) == 1
    err = capsys.readouterr().err
    assert "--redis-url carries a password" in err and "secret" not in err
