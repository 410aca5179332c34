"""What the plan tells every executor of a job about pulling queued work and running tasks
that mostly wait (carried in the `JobGraph`; see `work_queue`)."""

from __future__ import annotations

from dataclasses import dataclass, field

WAITING_CPU_SHARE = 0.25
"""A task that keeps a CPU busy at most this share of its time mostly waits (a remote call,
I/O, a sleep): it needs an executor's thread, not its CPU."""


@dataclass(frozen=True)
class QueuePlan:
    """What the plan tells every executor of a job about pulling and running work."""

    workers: int = 0
    """Executors the plan started to pull from the queue (0: the job has no queue)."""
    threads: int = 1
    """Most tasks that mostly wait one executor runs at once (`wukong.scheduling.threads`)."""
    waiting: frozenset[str] = field(default_factory=frozenset)
    """Task prefixes learned in earlier jobs to mostly wait: run on threads from the start."""
    end: int = 0
    """The queue's end, counted in the depth-first order of the leaves that start alone or
    wait in it (those started first at the head come before the queue's head): a pull ends
    where a run of the leaves ends (see `work_queue`)."""
    tail: frozenset[int] = field(default_factory=frozenset)
    """The start leaves (last in the leaves' order) whose executors pull from the queue's
    tail; the others' pull from its head. So the two ends are taken apart, each as a run
    of whole subtrees, and two executors meet only where their runs do."""

    def __post_init__(self) -> None:
        if self.workers < 0 or self.threads < 1 or self.end < 0:
            raise ValueError(f"a queue plan needs workers >= 0, threads >= 1 and end >= 0, "
                             f"got {self}")
