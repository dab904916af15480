"""Where hits are counted: one in-process storage for every loop, or Redis with a client per loop."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
import toolwire

from ._settings import Settings, Strategy

if TYPE_CHECKING:
    import redis.asyncio

_log = toolwire.get_logger("toolwire.ratelimit")

_SYNC_STRATEGIES: Final[Mapping[Strategy, type[limits.strategies.RateLimiter]]] = {
    "moving-window": limits.strategies.MovingWindowRateLimiter,
    "fixed-window": limits.strategies.FixedWindowRateLimiter,
    "sliding-window-counter": limits.strategies.SlidingWindowCounterRateLimiter,
}
_ASYNC_STRATEGIES: Final[Mapping[Strategy, type[limits.aio.strategies.RateLimiter]]] = {
    "moving-window": limits.aio.strategies.MovingWindowRateLimiter,
    "fixed-window": limits.aio.strategies.FixedWindowRateLimiter,
    "sliding-window-counter": limits.aio.strategies.SlidingWindowCounterRateLimiter,
}


class Backend(Protocol):
    """Counts one hit against a limit."""

    async def hit(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        """``None`` when the hit fits in the limit, else the seconds until one more would."""
        ...


def create_backend(settings: Settings) -> Backend:
    """The backend the ``storage`` setting names."""
    if settings.uses_redis:
        return RedisBackend(settings)
    return MemoryBackend(settings.strategy)


def seconds_until(reset_time: float) -> int:
    """Whole seconds from now until ``reset_time`` (an epoch time), rounded up, never negative."""
    return max(0, math.ceil(reset_time - time.time()))


class MemoryBackend:
    """``limits``' thread-safe in-process storage, shared by every event loop and thread.

    Not ``limits.aio``'s memory storage: its per-key ``asyncio.Lock`` and expiry task belong to
    the loop that first used them, and one dispatcher serves several loops (its own, for the
    sync twins, and each loop a host awaits ``dispatch`` on), where it then fails with "bound
    to a different event loop" or hangs. The sync storage only does in-memory work under a
    short ``threading`` lock, so calling it from a coroutine does not hold the loop up. One
    storage per loop is no answer either: the loops would each count apart, and the limit
    would be reached late or never.
    """

    def __init__(self, strategy: Strategy) -> None:
        self._limiter = _SYNC_STRATEGIES[strategy](limits.storage.MemoryStorage())

    async def hit(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        return self.hit_now(item, *identifiers)

    def hit_now(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        """``hit``, without a coroutine: an in-process count never waits."""
        if self._limiter.hit(item, *identifiers):
            return None
        return seconds_until(self._limiter.get_window_stats(item, *identifiers).reset_time)


@dataclass(slots=True)
class _LoopClient:
    """One event loop's Redis connections, and the task that closes them when the loop ends."""

    limiter: limits.aio.strategies.RateLimiter
    closer: asyncio.Task[None]


class RedisBackend:
    """``limits.aio`` on Redis (redis-py's asyncio client), with one connection pool per event loop.

    An asyncio connection belongs to the loop that opened it, and one dispatcher serves several
    loops (its own, for the sync twins, and each loop a host awaits ``dispatch`` on), so each
    running loop gets its own pool. A parked task per loop closes that
    pool when the loop shuts down (``asyncio.run`` and ``asyncio.Runner`` cancel leftover tasks
    on exit), so no socket outlives its loop. The count itself lives in Redis, shared by every
    loop, process and machine that names the same server and ``key_prefix``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()  # several threads may each run a loop (sync twins)
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}

    async def hit(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        limiter = self._limiter()
        if await limiter.hit(item, *identifiers):
            return None
        stats = await limiter.get_window_stats(item, *identifiers)
        return seconds_until(stats.reset_time)

    def _limiter(self) -> limits.aio.strategies.RateLimiter:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                # A loop closed without cancelling its tasks never ran its closer: forget it.
                for stale in [other for other in self._clients if other.is_closed()]:
                    del self._clients[stale]
                client = self._clients[loop] = self._connect(loop)
        return client.limiter

    def _connect(self, loop: asyncio.AbstractEventLoop) -> _LoopClient:
        import redis.asyncio
        import redis.backoff

        timeout = self._settings.storage_timeout
        pool = redis.asyncio.ConnectionPool.from_url(
            self._settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry replaces a pooled connection that went stale (Redis restarted);
            # the client's default backs off for seconds, far past our storage timeout.
            retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1),
        )
        options: dict[str, Any] = {"connection_pool": pool}
        storage = limits.aio.storage.RedisStorage(
            self._settings.async_storage_uri,
            implementation="redispy",
            key_prefix=self._settings.key_prefix,
            **options,
        )
        limiter = _ASYNC_STRATEGIES[self._settings.strategy](storage)
        closer = loop.create_task(self._close_with_loop(loop, pool), name="toolwire-ratelimit")
        return _LoopClient(limiter, closer)

    async def _close_with_loop(
        self, loop: asyncio.AbstractEventLoop, pool: redis.asyncio.ConnectionPool
    ) -> None:
        try:
            await loop.create_future()  # parked until the loop cancels its leftover tasks
        finally:
            with self._lock:
                self._clients.pop(loop, None)
            try:
                async with asyncio.timeout(self._settings.storage_timeout):
                    await pool.disconnect()
            except Exception as exc:  # noqa: BLE001 - a dead Redis must not spoil a loop's exit
                _log.debug("toolwire_ratelimit.close_failed", error=repr(exc))
