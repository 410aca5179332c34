"""What tasks print reaches the client's terminal, prefixed with the task's key, and never
blocks a task; the runtime's and the proxy's logs reach the client's `logging` under
`wukong.*`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import dask
import pytest

import wukong
from executor_lambda import ExecutorDied
from executor_lambda.measurement import task_output

MEGABYTE_LINES = 10_000
"""Lines of 100 characters: about 1 MB."""


def logged(caplog, wanted, timeout: float = 30.0) -> list[logging.LogRecord]:
    """The records `wanted` picks, once there are any (a service's output is read by a
    thread of its own, so its lines may come in after the job's result)."""
    deadline = time.monotonic() + timeout
    while not (found := [r for r in caplog.records if wanted(r)]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return found


def chatty(i):
    for line in range(MEGABYTE_LINES):
        print(f"{i}:{line:05d}:" + "x" * 92)
    print(f"{i} is done", file=sys.stderr)
    return i


@pytest.mark.timeout(120)
def test_four_tasks_printing_a_megabyte_each_finish_with_their_output_shown(cluster, capsys):
    dsk = {f"chatty-{i}": (chatty, i) for i in range(4)}
    assert wukong.get(dsk, list(dsk)) == (0, 1, 2, 3)
    out, err = capsys.readouterr()
    for i in range(4):
        lines = [line for line in out.splitlines() if line.startswith(f"[chatty-{i}] ")]
        assert len(lines) == MEGABYTE_LINES
        assert lines[-1] == f"[chatty-{i}] {i}:{MEGABYTE_LINES - 1:05d}:" + "x" * 92
        assert f"[chatty-{i}] {i} is done" in err.splitlines()
    assert all(not t.printed for t in wukong.last_job().tasks), "kept only if asked"


def test_output_is_kept_in_the_report_if_asked_and_hidden_if_asked(cluster, capsys):
    dsk = {"hello": (print, "hi there"), "quiet": (len, "abc")}
    with dask.config.set({"wukong.output.keep": True, "wukong.output.show": False}):
        assert wukong.get(dsk, ["hello", "quiet"]) == (None, 3)
    printed = {t.key: t.printed for t in wukong.last_job().tasks}
    assert printed["hello"].stdout == "hi there\n" and printed["hello"].stderr == ""
    assert not printed["quiet"]
    assert "hi there" not in capsys.readouterr().out


def write_to_descriptor(size):
    """Bypasses `sys.stdout`, as C code or a subprocess would."""
    line = b"d" * 99 + b"\n"
    for _ in range(size // len(line)):
        os.write(1, line)
    return size


@pytest.mark.timeout(120)
def test_output_written_to_the_descriptor_never_blocks_and_is_logged(cluster, caplog):
    caplog.set_level(logging.WARNING, logger="wukong.runtime")
    size = 1_000_000  # far more than a pipe holds
    assert wukong.get({"raw": (write_to_descriptor, size)}, "raw") == size
    lines = logged(caplog, lambda r: r.name == "wukong.runtime" and r.getMessage() == "d" * 99)
    assert lines, "the runtime's output reaches the client's logging"


def test_a_capture_keeps_at_most_its_limit_and_says_how_much_more(monkeypatch):
    monkeypatch.setattr(task_output, "LIMIT_CHARS", 10)
    stream = task_output._TaskStream(0, sys.__stdout__)
    with task_output.capturing() as printed:
        stream.write("0123456")
        stream.write("789abcdef")
    assert printed[0].stdout == "0123456789\n[6 more characters not kept]\n"
    assert printed[0].stderr == ""


def kill_myself(x):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.timeout(60)
def test_the_runtimes_log_records_reach_the_client_under_wukong(cluster, caplog):
    caplog.set_level(logging.WARNING, logger="wukong")
    with pytest.raises(ExecutorDied):
        wukong.get({"doomed": (kill_myself, 1)}, "doomed")
    died = logged(caplog, lambda r: r.name == "wukong.runtime"
                  and "died with exit code -9" in r.getMessage())
    assert died and died[0].levelno == logging.WARNING
    assert died[0].filename == "dispatcher.py"


def test_the_proxy_command_lists_its_subcommands():
    usage = subprocess.run([sys.executable, "-m", "kv_proxy", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert "serve" in usage and "status" in usage
