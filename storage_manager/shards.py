"""N independent Redis servers used as one store: connections, placement, and the Lua scripts.

Shards are plain Redis servers (not Redis Cluster), so a Lua script may touch any keys on its
own shard. Placement is a pure function of (job, task), computable by every party without
asking anyone.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from urllib.parse import urlsplit

import hiredis
import redis
from redis.backoff import NoBackoff
from redis.connection import Encoder, HiredisRespSerializer, PythonRespSerializer
from redis.retry import Retry

from storage_manager.connections import NO_TLS_FILES, TlsFiles, redacted, redis_client
from storage_manager.protocol.scripts import script
from storage_manager.signing import Signer
from storage_manager.writable_replies import WritableBulkParser

SCRIPT_NAMES = ("step", "pull")
"""The scripts every shard has loaded (see `protocol.scripts`)."""

SOCKET_TIMEOUT_SECONDS = 120.0
"""How long one call may wait for its reply. redis-py 8 defaults to 5 s, which moving large
values through a busy shard can exceed; a shard silent for two minutes counts as lost."""

CONNECT_TIMEOUT_SECONDS = 5.0
"""How long opening a connection to a shard may take."""

HANDSHAKE_TIMEOUT_SECONDS = 5.0
"""How long a shard has to answer when it is opened (a PING, then loading the scripts): a
server that accepts connections and never answers fails within seconds, not at the first
call's `SOCKET_TIMEOUT_SECONDS`."""


LARGE_VALUE_BYTES = 64 * 1024
"""Where copying a value starts to cost more than a command: values larger than this never
pass through Lua, in either direction (Lua copies every argument and reply string on Redis's
single thread, where every other client waits), so they are written with plain SETs before
the step script and read with MGET by whoever needs them; and they are packed for the wire
without copies (`ValuePacker`). Smaller ones ride inside the script call and its claim
replies, saving round trips."""


class ValuePacker:
    """Packs commands for the wire without copying large values.

    redis-py's hiredis packer copies every argument twice (into `bytes`, then into one
    command buffer); its pure-Python packer sends arguments over a size cutoff as they are,
    memoryviews included, but is slower on small commands. So: hiredis for small commands,
    Python for any with a large argument (an output or a chunk of one). A command of names
    and numbers alone (a cleanup's UNLINK of thousands of keys, a queue's RPUSH) goes to
    hiredis directly, without redis-py's per-argument pass, which costs more than the
    packing itself."""

    def __init__(self) -> None:
        self._small = HiredisRespSerializer()
        self._large = PythonRespSerializer(LARGE_VALUE_BYTES,
                                           Encoder("utf-8", "strict", False).encode)

    def pack(self, *args):
        if _plain(args):
            return [hiredis.pack_command(args)]
        for arg in args:
            if isinstance(arg, (bytes, bytearray, memoryview)) and len(arg) > LARGE_VALUE_BYTES:
                return self._large.pack(*args)
        return self._small.pack(*args)


def _plain(args: tuple) -> bool:
    """Whether a command has only str, int and small bytes arguments, and a one-word name
    (redis-py splits a name like "SCRIPT LOAD" into its words)."""
    for arg in args:
        kind = type(arg)
        if kind is not str and kind is not int and (
                kind is not bytes or len(arg) > LARGE_VALUE_BYTES):
            return False
    name = args[0]
    return (" " if type(name) is str else b" ") not in name


class StorageUnavailable(ConnectionError):
    """A Redis shard cannot be reached; the message names the shard and the setting."""


def job_shard(job_id: str, num_shards: int) -> int:
    """Where a job's graph and log live."""
    return zlib.crc32(job_id.encode()) % num_shards


def task_shard(job_id: str, task: int, num_shards: int) -> int:
    """Where a task's done set and claim live: consecutive tasks go round-robin."""
    return (zlib.crc32(job_id.encode()) + task) % num_shards


class Shard:
    """One Redis server with the job scripts loaded."""

    def __init__(self, url: str, tls: TlsFiles = NO_TLS_FILES):
        self.url = url
        """The shard's URL, with its credentials: never shown but `redacted`."""
        self.tls = tls
        options = {"socket_keepalive": True, "socket_timeout": SOCKET_TIMEOUT_SECONDS,
                   "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS}
        self.client = redis_client(url, tls, command_packer=ValuePacker(), **options)
        self.values = redis_client(url, tls, parser_class=WritableBulkParser, **options)
        """Reads values (GET, MGET): large ones arrive writable (see `writable_replies`)."""
        self.sha: dict[str, str] = {}
        self.quick = redis_client(url, tls, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                  socket_timeout=HANDSHAKE_TIMEOUT_SECONDS,
                                  retry=Retry(NoBackoff(), 1))
        """For checks that must fail within seconds: short timeouts, one retry (a stale
        connection after a restart), where `client` backs off for seconds."""

    def open(self) -> None:
        """Check, within seconds, that the shard is a Redis server that answers, and load
        the scripts; `StorageUnavailable` naming the shard and the setting if not. The check
        uses a connection of its own, with short timeouts and no retries."""
        probe = redis_client(self.url, self.tls, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                             socket_timeout=HANDSHAKE_TIMEOUT_SECONDS,
                             retry=Retry(NoBackoff(), 0))
        try:
            probe.ping()
            self.load_scripts(probe)
        except redis.AuthenticationError as exc:
            given = "refused the credentials its URL gives" if urlsplit(self.url).password \
                else "requires a password, and its URL gives none"
            raise self._unavailable(f"{given} ({exc})") from exc
        except redis.exceptions.NoPermissionError as exc:
            raise self._unavailable(
                f"does not let its URL's user run the commands Wukong needs ({exc})") from exc
        except redis.TimeoutError as exc:
            raise self._unavailable(
                f"did not answer within {HANDSHAKE_TIMEOUT_SECONDS:g} s ({exc})") from exc
        except redis.ConnectionError as exc:
            raise self._unavailable(f"cannot be reached: {exc}") from exc
        except redis.RedisError as exc:
            raise self._unavailable(
                f"does not answer as a Redis server does ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            probe.close()

    def _unavailable(self, why: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"Redis shard {redacted(self.url)} {why}. Check wukong.redis.urls (and "
            "wukong.redis.tls.* for rediss://), or leave it empty so LocalCluster starts its "
            "own redis-server")

    def load_scripts(self, client: redis.Redis | None = None) -> None:
        """Load the job scripts (again, when a shard forgot them) through `client`, by
        default the shard's own."""
        pipe = (client or self.client).pipeline(transaction=False)
        for name in SCRIPT_NAMES:
            pipe.script_load(script(name))
        shas = pipe.execute()
        self.sha = dict(zip(SCRIPT_NAMES, (s.decode() if isinstance(s, bytes) else s
                                           for s in shas), strict=True))

    def close(self) -> None:
        self.client.close()
        self.values.close()
        self.quick.close()


class ShardSet:
    """All shards of a deployment, how to reach them, and the key what is stored there is
    signed with (see `signing`)."""

    def __init__(self, urls: Sequence[str], signer: Signer, tls: TlsFiles = NO_TLS_FILES):
        if not urls:
            raise ValueError("wukong.redis.urls is empty: at least one Redis URL is needed")
        self.signer = signer
        self.tls = tls
        self.shards = [Shard(url, tls) for url in urls]
        for shard in self.shards:
            shard.open()

    def __len__(self) -> int:
        return len(self.shards)

    @property
    def urls(self) -> list[str]:
        """The shards' URLs, with their credentials (see `connections.redacted`)."""
        return [s.url for s in self.shards]

    def close(self) -> None:
        for shard in self.shards:
            shard.close()
