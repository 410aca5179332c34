"""The jobs cancelled while this executor process is warm, as a local set a thread fills:
checking whether a job is cancelled costs no Redis round trip.

The thread listens on the function's cancel channel (`FunctionKeys.cancel`, on the first
shard), where a client publishes the id of a job it cancels (`wukong.cancellation`). It
subscribes when the process's environment is made, before its first invocation runs; a
cancel published before that is not heard, and those invocations stop at their first step
instead (the live flag is gone). If the channel is refused (an ACL without it) the process
goes on without it, logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import redis

from storage_manager.protocol import FunctionKeys

logger = logging.getLogger(__name__)

MOST_KEPT = 1024
RETRY_SECONDS = 0.5


class CancelWatch:
    def __init__(self, client: redis.Redis, function: str):
        self._jobs: OrderedDict[str, None] = OrderedDict()
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(FunctionKeys(function).cancel)
        threading.Thread(target=self._listen, name="cancel-watch", daemon=True).start()

    def cancelled(self, job_id: str) -> bool:
        return job_id in self._jobs

    def _listen(self) -> None:
        while True:
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except redis.ResponseError as exc:
                logger.warning("not told of cancelled jobs: %s", exc)
                return
            except redis.RedisError as exc:  # reconnects and subscribes again next time
                logger.debug("cancel channel: %s", exc)
                time.sleep(RETRY_SECONDS)
                continue
            if message is not None and message.get("type") == "message":
                self._jobs[message["data"].decode()] = None
                while len(self._jobs) > MOST_KEPT:
                    self._jobs.popitem(last=False)
