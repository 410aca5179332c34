"""The locality switches a job runs with, read on the client and carried in its JobGraph.

Executors live in long-running processes, so they cannot read `dask.config` themselves: a
`dask.config.set(...)` around one `compute` must reach that job's executors, and only them.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_manager.chunking import check_chunk_bytes

MiB = 1024 * 1024


@dataclass(frozen=True)
class Locality:
    clustering: bool = True
    """Run every ready dependent of a large output in the executor that holds it."""
    delayed_io: bool = True
    """Hold a large output at a fan-in whose other parents are not done, for a while."""
    inline_inputs: bool = True
    """Send small inputs inside the invocation payload instead of through Redis."""
    grouping: bool = True
    """Start leaves whose large outputs meet in one executor (read by the static scheduler)."""
    large_object_bytes: int = 1 * MiB
    delay_seconds: float = 1.0
    inline_bytes: int = 64 * 1024
    chunk_bytes: int = 64 * MiB
    payload_limit: int = 256 * 1024

    def __post_init__(self) -> None:
        for name in ("large_object_bytes", "inline_bytes", "payload_limit"):
            if int(getattr(self, name)) < 0:
                setting = name.replace("_", "-")
                raise ValueError(f"wukong.locality.{setting} must be >= 0, "
                                 f"got {getattr(self, name)}")
        if self.delay_seconds < 0:
            raise ValueError(f"wukong.locality.delay-seconds must be >= 0, "
                             f"got {self.delay_seconds}")
        check_chunk_bytes(self.chunk_bytes)

    @property
    def inline_budget(self) -> int:
        """Raw bytes of inputs one payload may carry: base64 grows them by 4/3, and the rest
        of the payload needs room too."""
        if not self.inline_inputs:
            return 0
        return max(0, min(self.inline_bytes, (self.payload_limit - 4096) * 3 // 4))
