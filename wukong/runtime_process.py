"""Start the local runtime (`executor_lambda.platforms.local`) and the KV proxy (`kv_proxy`) as
child processes. Both print `ready` on stdout once they serve."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from wukong.subprocesses import die_with_parent, stop_process


def _environment_finding_us() -> dict[str, str]:
    """The child must import the same code as we do, installed or not."""
    env = dict(os.environ)
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@dataclass(frozen=True)
class Latency:
    """The latency model (`wukong.runtime.latency.*`); all zero: off."""

    invoke_seconds: float = 0.0
    cold_start_seconds: float = 0.0


class ServiceProcess:
    """A child Python service that says `ready` on stdout once it serves."""

    name = "service"

    def __init__(self, cmd: list[str], start_timeout: float):
        self.process = subprocess.Popen(
            [sys.executable, *cmd], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(), env=_environment_finding_us(),
        )
        self._wait_ready(start_timeout)

    def _wait_ready(self, timeout: float) -> None:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or line[0].strip() != b"ready":
            self.stop()
            raise RuntimeError(
                f"the {self.name} did not start within {timeout:g} s "
                f"(exit code {self.process.poll()}); see its log above"
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """Die at once, as a crash would: no clean shutdown."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        stop_process(self.process)


class LocalRuntimeProcess(ServiceProcess):
    name = "local runtime"

    def __init__(self, redis_urls: Sequence[str], function: str, *, concurrency: int,
                 idle_timeout: float, timeout: float, payload_limit: int,
                 memory_limit: int | None, keep_freed_bytes: int, start_timeout: float,
                 latency: Latency = Latency(), proxy_threshold: int = 0,
                 preload: Sequence[str] = ()):
        cmd = ["-m", "executor_lambda.platforms.local", "--function", function,
               "--concurrency", str(concurrency), "--idle-timeout", str(idle_timeout),
               "--timeout", str(timeout), "--payload-limit", str(payload_limit),
               "--invoke-seconds", str(latency.invoke_seconds),
               "--cold-start-seconds", str(latency.cold_start_seconds),
               "--proxy-threshold", str(proxy_threshold),
               "--keep-freed-bytes", str(keep_freed_bytes)]
        for url in redis_urls:
            cmd += ["--redis", url]
        for module in preload:
            cmd += ["--preload", module]
        if memory_limit:
            cmd += ["--memory-limit", str(memory_limit)]
        super().__init__(cmd, start_timeout)


class ProxyProcess(ServiceProcess):
    name = "KV proxy"

    def __init__(self, redis_url: str, function: str, *, concurrency: int,
                 invoke_seconds: float, start_timeout: float):
        super().__init__(["-m", "kv_proxy", "--redis", redis_url, "--function", function,
                          "--concurrency", str(concurrency),
                          "--invoke-seconds", str(invoke_seconds)], start_timeout)
