"""Start the local runtime (`executor_lambda.local_runtime`) as a child process."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Sequence

import executor_lambda
from wukong.subprocesses import die_with_parent, stop_process


def _environment_finding_us() -> dict[str, str]:
    """The child must import the same code as we do, installed or not."""
    env = dict(os.environ)
    root = str(pathlib.Path(executor_lambda.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class LocalRuntimeProcess:
    def __init__(self, redis_urls: Sequence[str], function: str, *, concurrency: int,
                 idle_timeout: float, timeout: float, payload_limit: int,
                 memory_limit: int | None, start_timeout: float):
        cmd = [sys.executable, "-m", "executor_lambda.local_runtime", "--function", function,
               "--concurrency", str(concurrency), "--idle-timeout", str(idle_timeout),
               "--timeout", str(timeout), "--payload-limit", str(payload_limit)]
        for url in redis_urls:
            cmd += ["--redis", url]
        if memory_limit:
            cmd += ["--memory-limit", str(memory_limit)]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
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
                f"the local runtime did not start within {timeout:g} s "
                f"(exit code {self.process.poll()}); see its log above"
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)
