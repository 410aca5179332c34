"""The KV proxy: a long-running asyncio service beside Redis that invokes executors in parallel
for callers that would otherwise pay one invocation's latency per child, one after another.

Delivery. Callers append batches to the function's request stream (`ProxyInvoker`). The proxy
reads it through a consumer group, makes every invocation of a batch through the platform
(`PayloadInvoker`) with up to `concurrency` invocations in flight across all batches (the
function's concurrency limit), and acknowledges and deletes the entry only once all of its
invocations are made. An entry taken by a proxy that died stays pending in the group; the next
proxy claims it when it starts (XAUTOCLAIM) and invokes it whole. So every invocation is made
at least once; those the dead proxy had already made run twice, which the job protocol
tolerates (idempotent writes and marks, fan-in claims owned by the invocation id, duplicate
announcements ignored by the client).

Liveness. The proxy keeps a heartbeat key alive while it serves; callers hand off a batch only
in the same atomic step that sees the key. While its Redis cannot be reached the proxy retries;
when it is back empty (a restart) the heartbeat raises the key again and the proxy creates
its request stream and group again (on NOGROUP); batches lost with the stream are lost with
the jobs they belong to, which their clients fail. On SIGTERM the proxy deletes the key
first (callers invoke directly from then on), takes what was appended before that, finishes
every batch it holds, and exits with nothing pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict

import redis.asyncio as aioredis

from executor_lambda.platforms import make_payload_invoker
from kv_proxy.outbox import Outbox
from storage_manager.connections import NO_TLS_FILES, TlsFiles, async_redis_client
from storage_manager.protocol import PROXY_GROUP, FunctionKeys, ProxyStats, decode_batch
from storage_manager.shards import SOCKET_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5
ALIVE_TTL_MS = 2000
READ_BLOCK_MS = 500
READ_COUNT = 64
RETRY_SECONDS = 0.1


class Proxy:
    def __init__(self, redis_url: str, function: str, concurrency: int,
                 invoke_seconds: float = 0.0, consumer: str = "proxy", platform: str = "local",
                 tls: TlsFiles = NO_TLS_FILES):
        if concurrency < 1:
            raise ValueError(f"the proxy's concurrency must be at least 1, not {concurrency}")
        self.client = async_redis_client(redis_url, tls, socket_timeout=SOCKET_TIMEOUT_SECONDS)
        self.function = function
        self.invoke_seconds = invoke_seconds
        self.consumer = consumer
        self.stats = ProxyStats()
        self.running = True
        self._keys = FunctionKeys(function)
        self._requests = self._keys.proxy_requests
        self._outbox = Outbox(make_payload_invoker(platform, self.client, function),
                              (self._keys.proxy_stats, "done"))
        self._slots = asyncio.Semaphore(concurrency)
        self._held: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.running = False
        self._stopping.set()

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        await self._create_group()
        await self._beat(with_done=True)
        heartbeat = asyncio.create_task(self._heartbeat())
        await self._recover()
        if on_ready is not None:
            on_ready()
        lost = False
        while self.running:
            try:
                await self._read(READ_BLOCK_MS)
                lost = False
            except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
                if not lost:
                    logger.warning("proxy for %s lost Redis (%s); reading again",
                                   self.function, exc)
                lost = True
                await asyncio.sleep(RETRY_SECONDS)
            except aioredis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                logger.warning("proxy for %s: its request stream is gone (Redis restarted "
                               "empty?); creating it again", self.function)
                await self._create_group()
        await heartbeat  # ends between beats: a beat in flight would raise the key again
        await self.client.delete(self._keys.proxy_alive)
        await self._read(None)  # what callers appended before the key went
        while self._held:
            await asyncio.gather(*self._held)
        pipe = self.client.pipeline(transaction=False)
        self._stats_into(pipe, "stopped", with_done=True)
        await pipe.execute()
        await self.client.aclose()
        logger.info("proxy for %s stopped: %s", self.function, self.stats)

    async def _create_group(self) -> None:
        """The request stream and its consumer group, unless they exist."""
        try:
            await self.client.xgroup_create(self._requests, PROXY_GROUP, id="0", mkstream=True)
        except aioredis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _recover(self) -> None:
        """Claim every batch a previous proxy took and did not finish."""
        start: bytes | str = "0-0"
        while True:
            start, entries, _ = await self.client.xautoclaim(
                self._requests, PROXY_GROUP, self.consumer, 0, start_id=start, count=READ_COUNT)
            entries = [(entry_id, fields) for entry_id, fields in entries if fields]
            self.stats.recovered_batches += len(entries)
            self._take(entries)
            if start in (b"0-0", "0-0"):
                break
        if self.stats.recovered_batches:
            logger.warning("proxy for %s recovered %d unfinished batches", self.function,
                           self.stats.recovered_batches)

    async def _read(self, block_ms: int | None) -> None:
        reply = await self.client.xreadgroup(PROXY_GROUP, self.consumer, {self._requests: ">"},
                                             count=READ_COUNT, block=block_ms)
        for _, entries in reply or ():
            self._take(entries)

    def _take(self, entries: list) -> None:
        for entry_id, fields in entries:
            payloads = decode_batch(fields)
            self.stats.batches += 1
            self.stats.queued += len(payloads)
            task = asyncio.create_task(self._serve_batch(entry_id, payloads))
            self._held.add(task)
            task.add_done_callback(self._held.discard)

    async def _serve_batch(self, entry_id: bytes, payloads: list[bytes]) -> None:
        """Make a batch's invocations, then acknowledge it. While Redis cannot be reached
        (a restart: the first use of a pooled connection fails) the batch is made again
        every `RETRY_SECONDS` as long as the proxy runs, so no batch waits for the next
        proxy meanwhile; an invocation made twice is a duplicate delivery, which claims
        absorb."""
        while True:
            try:
                if self.invoke_seconds <= 0:
                    await self._invoke_at_once(payloads)
                else:
                    await asyncio.gather(*(self._invoke(p) for p in payloads))
                break
            except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
                if not self.running:
                    logger.warning("proxy for %s stops with a batch of %d not made (%s); it "
                                   "stays pending for the next proxy", self.function,
                                   len(payloads), exc)
                    return
                logger.warning("proxy for %s could not invoke a batch of %d (%s); trying "
                               "again", self.function, len(payloads), exc)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                logger.exception("proxy for %s could not invoke a batch of %d; it stays "
                                 "pending for the next proxy", self.function, len(payloads))
                return
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self._requests, PROXY_GROUP, entry_id)
        pipe.xdel(self._requests, entry_id)
        try:
            await pipe.execute()
        except aioredis.RedisError as exc:  # lost with the stream, or made again: at least once
            logger.warning("proxy for %s could not acknowledge a batch: %s", self.function, exc)

    async def _invoke_at_once(self, payloads: list[bytes]) -> None:
        """Without the latency model an invocation costs nothing but its push: one for all."""
        self.stats.queued -= len(payloads)
        self.stats.in_flight += len(payloads)
        try:
            await self._outbox.push_all(payloads)
        except Exception:
            self.stats.failed += len(payloads)
            raise
        finally:
            self.stats.in_flight -= len(payloads)
        self.stats.done += len(payloads)

    async def _invoke(self, payload: bytes) -> None:
        """One invocation under the latency model: many of these wait at once."""
        async with self._slots:
            self.stats.queued -= 1
            self.stats.in_flight += 1
            try:
                await asyncio.sleep(self.invoke_seconds)
                await self._outbox.push(payload)
            except Exception:
                self.stats.failed += 1
                raise
            finally:
                self.stats.in_flight -= 1
            self.stats.done += 1

    async def _heartbeat(self) -> None:
        """Refresh the alive key until stopped. It is never cancelled: a redis-py asyncio
        command cancelled in flight can leave its connection unusable for the next one."""
        while self.running:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), HEARTBEAT_SECONDS)
            if self.running:
                try:
                    await self._beat()
                except aioredis.RedisError as exc:  # the shard restarts: beat again later
                    logger.warning("proxy for %s: heartbeat failed: %s", self.function, exc)

    async def _beat(self, with_done: bool = False) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self._keys.proxy_alive, os.getpid(), px=ALIVE_TTL_MS)
        self._stats_into(pipe, "serving", with_done)
        await pipe.execute()

    def _stats_into(self, pipe, state: str, with_done: bool) -> None:
        """`done` is counted in Redis as invocations are pushed (see `Outbox`); it is only
        written whole when nothing is being pushed: at start and at stop."""
        fields = {**asdict(self.stats), "state": state, "pid": os.getpid(),
                  "updated_at": time.time()}
        if not with_done:
            del fields["done"]
        pipe.hset(self._keys.proxy_stats, mapping=fields)
