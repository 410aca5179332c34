"""Reading chunked values back: one pipeline per shard, the shards in parallel.

A chunked output's key holds only a manifest (see `chunking`); its chunks are spread over
the shards, so reading them shard by shard in parallel uses every server's bandwidth at once.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from storage_manager.chunking import Buffer, assemble, is_manifest, read_manifest
from storage_manager.errors import MissingOutput
from storage_manager.job_io import JobIO


class ChunkReader:
    def __init__(self, store: JobIO):
        self._store = store

    def resolve(self, outputs: dict[int, Buffer]) -> dict[int, Buffer]:
        """`outputs` with each manifest replaced by the value its chunks make up."""
        manifests = {t: read_manifest(d) for t, d in outputs.items() if is_manifest(d)}
        if not manifests:
            return outputs
        graph = self._store.graph
        wanted: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for task, (_, count) in manifests.items():
            for index in range(count):
                shard = graph.chunk_shard(task, index)
                wanted[shard].append((task, index))
        chunks: dict[tuple[int, int], Buffer] = {}
        if len(wanted) == 1:
            chunks.update(self._read_shard(*next(iter(wanted.items()))))
        else:
            with ThreadPoolExecutor(len(wanted)) as pool:
                for part in pool.map(lambda item: self._read_shard(*item), wanted.items()):
                    chunks.update(part)
        for shard, parts in wanted.items():
            self._store.stats.read_from(shard, sum(len(chunks[part]) for part in parts))
        resolved = dict(outputs)
        for task, (total, count) in manifests.items():
            resolved[task] = assemble(total, [chunks[task, i] for i in range(count)])
        return resolved

    def _read_shard(self, shard: int, parts: list[tuple[int, int]]
                    ) -> dict[tuple[int, int], Buffer]:
        store = self._store
        pipe = store.shards.shards[shard].values.pipeline(transaction=False)
        for task, index in parts:
            pipe.get(store.keys.chunk(task, index))
        values = store.timed(pipe.execute)
        for (task, _), value in zip(parts, values, strict=True):
            if value is None:
                raise MissingOutput(task)
        return dict(zip(parts, values, strict=True))
