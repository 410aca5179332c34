"""The clusters a process's `with` blocks entered, innermost last: `compute` inside a block
runs on its cluster (see `wukong.cluster.current_cluster`)."""

from __future__ import annotations

import contextlib
import threading

from wukong.cluster_protocol import Cluster

lock = threading.RLock()
_entered: list[Cluster] = []


def enter(cluster: Cluster) -> None:
    with lock:
        _entered.append(cluster)


def leave(cluster: Cluster) -> None:
    """`cluster` closed or its block ended (whether it was entered or not)."""
    with lock, contextlib.suppress(ValueError):
        _entered.remove(cluster)


def innermost() -> Cluster | None:
    with lock:
        return _entered[-1] if _entered else None
