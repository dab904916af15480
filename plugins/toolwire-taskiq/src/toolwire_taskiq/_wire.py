"""What host and workers agree on: the broker, the task, the Redis keys and the reply shape.

A call travels as one taskiq message of the task ``toolwire.call`` on the list ``queue``
(taken by one worker: at most once), its task id a fresh random id. Beside it, under the
queue's name as a prefix:

- ``taken:ID`` holds the id of the worker that took call ``ID``;
- ``alive:WORKER`` is the worker's heartbeat, refreshed four times per interval and expiring
  after half of one;
- ``cancel:ID`` and a message on the channel ``cancel`` ask the worker to stop call ``ID``;
- a message on the channel ``done`` says that call ``ID``'s result is in the result backend.
"""

from __future__ import annotations

from typing import Any, Final

from taskiq.serializers import JSONSerializer
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

from ._settings import Settings

TASK_NAME: Final = "toolwire.call"


class Keys:
    """The Redis names one executor's host and workers use."""

    def __init__(self, settings: Settings) -> None:
        prefix = settings.prefix
        self.done = f"{prefix}done"
        self.cancel_channel = f"{prefix}cancel"
        self._prefix = prefix

    def taken(self, call: str) -> str:
        return f"{self._prefix}taken:{call}"

    def alive(self, worker: str) -> str:
        return f"{self._prefix}alive:{worker}"

    def cancel(self, call: str) -> str:
        return f"{self._prefix}cancel:{call}"


def make_broker(settings: Settings, *, keep_results: bool) -> ListQueueBroker:
    """The broker and result backend of one executor, JSON on both (never pickle over Redis)."""
    timeouts: dict[str, Any] = {"socket_connect_timeout": settings.connect_timeout}
    backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        settings.url,
        keep_results=keep_results,
        result_ex_time=settings.result_ttl,
        serializer=JSONSerializer(),
        prefix_str=f"{settings.prefix}result",
        **timeouts,
    )
    broker = ListQueueBroker(settings.url, queue_name=settings.queue, **timeouts)
    return broker.with_result_backend(backend).with_serializer(JSONSerializer())
