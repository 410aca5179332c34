"""How every process of a deployment connects to a Redis shard.

A shard is named by its URL, which carries the credentials: `redis://:PASSWORD@host:port`
(AUTH with a password), `redis://USER:PASSWORD@host:port` (an ACL user), and `rediss://...`
for TLS, checked against the CA in `TlsFiles.ca_file` (else the system's) and, where the
server asks for one, presenting `cert_file` and `key_file`. Because the URL holds a secret it
travels in environment variables (`ENV_REDIS_URLS`, `ENV_TLS_FILES`) and settings files,
never on a command line, and is shown only `redacted`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

TLS_SCHEME = "rediss"
SCHEMES = ("redis", "rediss", "unix")

ENV_REDIS_URLS = "WUKONG_REDIS_URLS"
"""The shards' URLs, comma-separated, with their credentials."""
ENV_TLS_FILES = {"ca_file": "WUKONG_REDIS_TLS_CA_FILE",
                 "cert_file": "WUKONG_REDIS_TLS_CERT_FILE",
                 "key_file": "WUKONG_REDIS_TLS_KEY_FILE"}
"""The variables holding the `TlsFiles`, by field."""


@dataclass(frozen=True)
class TlsFiles:
    """`wukong.redis.tls.*`: the files a `rediss://` connection uses (None: not used)."""

    ca_file: str | None = None
    """PEM certificates of the CAs the server's certificate is checked against (None: the
    system's)."""
    cert_file: str | None = None
    """A PEM client certificate, for a server that asks for one (`tls-auth-clients`)."""
    key_file: str | None = None
    """The client certificate's private key (None: it is in `cert_file`)."""

    def __post_init__(self) -> None:
        for name, path in (("ca-file", self.ca_file), ("cert-file", self.cert_file),
                           ("key-file", self.key_file)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"wukong.redis.tls.{name}: {path!r} is not a file")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("wukong.redis.tls.key-file is set without "
                             "wukong.redis.tls.cert-file: a key needs its certificate")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> TlsFiles:
        return cls(**{field: environ.get(name) or None for field, name in ENV_TLS_FILES.items()})

    def environ(self) -> dict[str, str]:
        """The variables that carry these files to a process (those that are set)."""
        return {ENV_TLS_FILES[f.name]: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name)}

    def options(self, url: str) -> dict[str, Any]:
        """What redis-py takes for these files on a connection to `url` (none unless it is
        a `rediss://` URL)."""
        if urlsplit(url).scheme != TLS_SCHEME:
            return {}
        options: dict[str, Any] = {}
        if self.ca_file:
            options["ssl_ca_certs"] = self.ca_file
        if self.cert_file:
            options["ssl_certfile"] = self.cert_file
        if self.key_file:
            options["ssl_keyfile"] = self.key_file
        return options


def urls_from_environ(environ: Mapping[str, str] = os.environ,
                      name: str = ENV_REDIS_URLS) -> tuple[str, ...]:
    """The URLs the variable `name` lists (none if it is unset)."""
    return tuple(url for url in environ.get(name, "").split(",") if url)


def urls_environ(urls: Sequence[str], name: str = ENV_REDIS_URLS) -> dict[str, str]:
    """The variable `name` listing `urls`, as `urls_from_environ` reads it."""
    return {name: ",".join(urls)}


def checked_url(url: str) -> str:
    """`url` if it is a Redis URL; `ValueError` naming the setting (and not the password) if
    not."""
    if urlsplit(url).scheme not in SCHEMES:
        raise ValueError(f"wukong.redis.urls: {redacted(url)!r} is not a redis://, rediss:// "
                         "or unix:// URL")
    return url


def redis_client(url: str, tls: TlsFiles, **options: Any) -> redis.Redis:
    """A client of the shard at `url`, with its credentials and TLS files."""
    return redis.Redis.from_url(checked_url(url), **tls.options(url), **options)


def async_redis_client(url: str, tls: TlsFiles, **options: Any) -> aioredis.Redis:
    """An asyncio client of the shard at `url` (the KV proxy's)."""
    return aioredis.Redis.from_url(checked_url(url), **tls.options(url), **options)


def redacted(url: str) -> str:
    """`url` as it may be shown: its password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


NO_TLS_FILES = TlsFiles()
"""No TLS files: a `rediss://` URL is checked against the system's CAs, with no client
certificate."""
