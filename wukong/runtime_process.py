"""Start the local runtime (`executor_lambda.platforms.local`) and the KV proxy (`kv_proxy`) as
child processes. Both print `ready` on stdout once they serve; their output is read for as
long as they run, their log records logged here under `wukong.*` (see `service_output`).

Their shards (URLs with passwords), TLS files and the deployment's signing key reach them in
their environment, which only their user can read, never on their command lines, which
every local user can; they run with umask 077 (`private_child`)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from executor_lambda.platforms.local.dispatcher import ENV_RUNTIME_REDIS_URLS
from executor_lambda.settings import ExecutorSettings
from storage_manager.connections import TlsFiles, urls_environ
from wukong.service_output import ServiceOutput
from wukong.subprocesses import private_child, stop_process


def environment_finding_us(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child must import the same code as we do, installed or not; and `extra`."""
    env = {**os.environ, **(extra or {})}
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
    service = "service"
    """Its part of the names it logs under: `wukong.<service>`."""

    def __init__(self, cmd: list[str], start_timeout: float, env: Mapping[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=private_child(),
            env=environment_finding_us(env),
        )
        self.output = ServiceOutput(self.process.stdout, self.service)
        if not self.output.wait_ready(start_timeout):
            self.stop()
            said = "\n".join(self.output.last_lines) or "nothing"
            raise RuntimeError(f"the {self.name} did not start within {start_timeout:g} s "
                               f"(exit code {self.process.poll()}); it said:\n{said}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process, before_closing=self.output.join)

    def kill(self) -> None:
        """Die at once, as a crash would: no clean shutdown."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        stop_process(self.process)


class LocalRuntimeProcess(ServiceProcess):
    name = "local runtime"
    service = "runtime"

    def __init__(self, executor: ExecutorSettings, own_urls: Sequence[str], *,
                 concurrency: int, idle_timeout: float, timeout: float,
                 memory_limit: int | None, keep_freed_bytes: int, start_timeout: float,
                 cold_start_seconds: float = 0.0, preload: Sequence[str] = (),
                 log_level: str = "WARNING", lambda_api: str | None = None,
                 interface_client: str | None = None, memory_mb: int = 2048):
        """`executor`: what its workers run with; `own_urls`: the shards as its own user;
        `lambda_api`: where to serve Lambda's APIs (host:port), if anywhere."""
        cmd = ["-m", "executor_lambda.platforms.local",
               "--concurrency", str(concurrency), "--idle-timeout", str(idle_timeout),
               "--timeout", str(timeout), "--cold-start-seconds", str(cold_start_seconds),
               "--keep-freed-bytes", str(keep_freed_bytes), "--log-level", log_level]
        for module in preload:
            cmd += ["--preload", module]
        if memory_limit:
            cmd += ["--memory-limit", str(memory_limit)]
        if lambda_api:
            cmd += ["--lambda-api", lambda_api, "--memory", str(memory_mb)]
        if interface_client:
            cmd += ["--interface-client", interface_client]
        env = {**executor.environ(), **urls_environ(own_urls, ENV_RUNTIME_REDIS_URLS)}
        super().__init__(cmd, start_timeout, env)


class ProxyProcess(ServiceProcess):
    name = "KV proxy"
    service = "proxy"

    def __init__(self, redis_url: str, tls: TlsFiles, function: str, *, concurrency: int,
                 invoke_seconds: float, start_timeout: float, log_level: str = "WARNING",
                 platform: str = "local", environ: Mapping[str, str] | None = None):
        """`redis_url`: the shard holding the function's queue, as the proxy's user;
        `platform`: where it invokes the function, configured by `environ` (boto3's
        chain on `aws`)."""
        super().__init__(["-m", "kv_proxy", "serve", "--function", function,
                          "--concurrency", str(concurrency),
                          "--invoke-seconds", str(invoke_seconds), "--log-level", log_level,
                          "--platform", platform],
                         start_timeout, {**urls_environ([redis_url]), **tls.environ(),
                                         **(environ or {})})
