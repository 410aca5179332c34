"""Where a cluster that outlives a script (`wukong up`) lives, and what a client needs to reach
it.

The cluster keeps a directory of its own, private to its user (0700):

- `address.json` (0600): the address, everything a client needs to connect (`Address`):
  the shards' URLs (with the client's Redis password), the TLS files, the key what the
  cluster unpickles is signed with, the executor function's name and the settings the
  cluster's processes were started with. Jobs on the cluster are the jobs of that
  function on those shards: the function's name is part of the address.
- `pid`: the `wukong up` process, which `wukong down` stops.
- `cluster.log`: what the cluster's processes logged.

A client names the cluster by the directory or its address file (`wukong.connect(path)`,
`wukong.address`); `~/.wukong/cluster` is the default.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from dataclasses import asdict, dataclass, field

from storage_manager import ShardSet
from storage_manager.connections import NO_TLS_FILES, TlsFiles
from storage_manager.protocol import FunctionKeys
from storage_manager.signing import Signer

DEFAULT_DIRECTORY = "~/.wukong/cluster"
ADDRESS_FILE = "address.json"
PID_FILE = "pid"
LOG_FILE = "cluster.log"
VERSION = 2


@dataclass(frozen=True)
class Address:
    """What a client needs to run jobs on a cluster it did not start."""

    function: str
    redis_urls: tuple[str, ...] = field(repr=False)
    """With the client's Redis password."""
    payload_limit: int
    proxy_threshold: int
    """The smallest batch handed to the KV proxy (0: it runs none)."""
    invoke_seconds: float
    """The latency model's cost of one invocation to its caller."""
    concurrency: int
    cores: int
    """Cores one executor can use."""
    signing_key: str = field(repr=False)
    """The cluster's signing key as text (`Signer.to_text`)."""
    tls: TlsFiles = NO_TLS_FILES
    platform: str = "local"

    def open_shards(self) -> ShardSet:
        """The cluster's shards, as its clients reach them (refusals counted there too)."""
        signer = Signer.from_text(self.signing_key, "the address's signing key")
        shards = ShardSet(self.redis_urls, signer, self.tls)
        signer.count_refusals_in(shards.shards[0].client, FunctionKeys(self.function).refused)
        return shards

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str, where: str) -> Address:
        try:
            fields = json.loads(text)
            if fields.pop("version", None) != VERSION:
                raise ValueError(f"not version {VERSION}")
            fields["redis_urls"] = tuple(fields["redis_urls"])
            fields["tls"] = TlsFiles(**fields.get("tls", {}))
            return cls(**fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where} is not a Wukong cluster's address ({exc})") from None


class ClusterDirectory:
    def __init__(self, path: str | os.PathLike | None = None):
        """The directory `path` names: a cluster's directory or its address file (default
        `DEFAULT_DIRECTORY`)."""
        where = pathlib.Path(path or DEFAULT_DIRECTORY).expanduser()
        self.path = where.parent if where.name == ADDRESS_FILE else where

    @property
    def address_file(self) -> pathlib.Path:
        return self.path / ADDRESS_FILE

    @property
    def pid_file(self) -> pathlib.Path:
        return self.path / PID_FILE

    @property
    def log_file(self) -> pathlib.Path:
        return self.path / LOG_FILE

    def create(self) -> None:
        """Make the directory, private to this user, even if it existed."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.chmod(0o700)

    def address(self) -> Address:
        """The cluster's address; `FileNotFoundError` names the directory if none is up."""
        try:
            text = self.address_file.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no Wukong cluster is up in {self.path} (no {ADDRESS_FILE}): start one with "
                "`wukong up`") from None
        return Address.from_json(text, str(self.address_file))

    def write(self, address: Address, pid: int) -> None:
        """Publish the cluster: its pid, then its address (0600, written whole, so a
        reader never sees half of it)."""
        _write_private(self.pid_file, f"{pid}\n")
        _write_private(self.address_file, address.to_json() + "\n")

    def pid(self) -> int | None:
        """The `wukong up` process's pid, if it still runs."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_wukong_up(pid) else None

    def clear(self) -> None:
        """The cluster is down: its address and pid go (its log stays)."""
        for file in (self.address_file, self.pid_file):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()


def _write_private(path: pathlib.Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def _is_wukong_up(pid: int) -> bool:
    """`pid` runs `wukong up` (not some process that reused the number; without /proc,
    only that it runs)."""
    if not pathlib.Path("/proc/self").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"up" in argv and any(b"wukong" in arg for arg in argv)
