"""Another local user against a default LocalCluster, as a real process of another uid
(`setpriv` to nobody, 65534; skipped with the reason where that is impossible): it gets
NOAUTH from every shard, whatever it sends (reading keys, pushing an invocation that would
run code), finds none of the cluster's secrets in any process's command line, cannot read
the cluster's processes' environments, and finds no secret in any file it can read where a
cluster writes. The same holds for the command lines as the cluster's own user sees them,
and every process of the cluster creates its files private (umask 077).

The attacker is a standalone script on the system's Python (it needs nothing of ours: it
speaks RESP over a socket); the test hands it the secrets to look for on its stdin.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import stat
import subprocess

import psutil
import pytest

ATTACKER = r"""
import json, os, socket, sys

given = json.load(sys.stdin)
needles = [s.encode() for s in given["secrets"]]

def command(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out

def ask(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(command(*args))
        return s.recv(4096).decode(errors="replace").strip()

forged = json.dumps({"job": "j", "task": 0, "id": "attacker", "seed": given["seed"]})
replies = {str(port): [ask(port, "PING"), ask(port, "KEYS", "*"), ask(port, "SCAN", 0),
                       ask(port, "GET", "wk:job:graph"), ask(port, "CONFIG", "GET", "*"),
                       ask(port, "LPUSH", given["queue"], forged)]
           for port in given["ports"]}

def holds_secret(data):
    return any(n in data for n in needles)

in_cmdlines, environs = [], []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if holds_secret(f.read()):
                in_cmdlines.append(int(pid))
    except OSError:
        pass
for pid in given["pids"]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            f.read()
        environs.append(pid)
    except OSError:
        pass

in_files, read = [], 0
for root in given["roots"]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                if not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            read += 1
            if holds_secret(data):
                in_files.append(path)

print(json.dumps({"uid": os.getuid(), "replies": replies, "in_cmdlines": in_cmdlines,
                  "readable_environs": environs, "in_files": in_files, "files_read": read}))
"""

NOBODY = 65534


def cluster_secrets(cluster) -> list[str]:
    """Every secret of the session's cluster: its Redis users' passwords and its key."""
    passwords = cluster.redis_servers[0].users.passwords.values()
    return [*passwords, cluster.signer.to_text()]


def cluster_processes() -> list[psutil.Process]:
    """The cluster's processes: redis-servers, the runtime and its fork server and workers,
    the KV proxy (everything this test process started and is still running)."""
    return psutil.Process().children(recursive=True)


def written_places(processes: list[psutil.Process]) -> list[str]:
    """Where the cluster writes: the temporary directories, and the directories of every
    file its processes hold open."""
    places = {"/tmp", "/var/tmp", "/dev/shm"}
    for process in processes:
        try:
            places.update(os.path.dirname(f.path) for f in process.open_files())
        except psutil.Error:
            continue
    return sorted(places)


def attack(cluster, seed: str) -> dict:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("switching to another uid needs root (setpriv --reuid)")
    setpriv, python = shutil.which("setpriv"), shutil.which("python3", path="/usr/bin:/bin")
    if setpriv is None or python is None:
        pytest.skip("needs setpriv (util-linux) and the system's /usr/bin/python3")
    processes = cluster_processes()
    given = {"secrets": cluster_secrets(cluster), "seed": seed,
             "ports": [server.port for server in cluster.redis_servers],
             "queue": f"wk:fn:{cluster.function}:queue",
             "pids": [p.pid for p in processes], "roots": written_places(processes)}
    done = subprocess.run(
        [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python, "-I",
         "-c", ATTACKER], input=json.dumps(given), capture_output=True, text=True, cwd="/",
        env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_another_user_gets_nothing(cluster, tmp_path):
    marker = tmp_path / "ran"
    seed = base64.b64encode(pickle.dumps((os.mkdir, (str(marker),)))).decode()
    report = attack(cluster, seed)
    assert report["uid"] == NOBODY
    assert len(report["replies"]) == len(cluster.redis_servers) >= 2
    for port, replies in report["replies"].items():
        assert all(reply.startswith("-NOAUTH") for reply in replies), (port, replies)
    assert report["in_cmdlines"] == []
    assert report["readable_environs"] == []
    assert report["in_files"] == [] and report["files_read"] > 0
    assert not marker.exists()


def test_no_process_of_the_cluster_has_a_secret_on_its_command_line(cluster):
    secrets = cluster_secrets(cluster)
    processes = cluster_processes()
    assert len(processes) >= 4  # redis-servers, the runtime, its fork server, the proxy
    for process in processes:
        cmdline = " ".join(process.cmdline())
        assert not any(secret in cmdline for secret in secrets), cmdline


def test_what_the_cluster_writes_is_private(cluster):
    """Every process of the cluster runs with umask 077, so all it creates (sockets, logs,
    a task's files) is its user's alone; the servers' directories are 0700, and so is the
    directory of every Unix socket a process of the cluster listens on (the runtime's fork
    server's: never an abstract socket, which any local user could connect to)."""
    sockets = []
    for process in cluster_processes():
        with open(f"/proc/{process.pid}/status") as status:
            umask = next(line.split()[1] for line in status if line.startswith("Umask:"))
        assert int(umask, 8) == 0o077, (process.cmdline(), umask)
        sockets += [c.laddr for c in process.net_connections(kind="unix") if c.laddr]
    assert sockets, "the runtime's fork server listens on a Unix socket"
    for path in sockets:
        assert path.startswith("/"), f"an abstract socket: {path!r}"
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700, path
    for server in cluster.redis_servers:
        assert stat.S_IMODE(os.stat(server._dir.name).st_mode) == 0o700
