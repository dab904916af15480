"""Where hits are counted: one in-process storage for every loop, or Redis with a client per loop."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import limits
import limits.aio.storage
import limits.aio.strategies
import toolwire

from ._settings import Settings, Strategy

if TYPE_CHECKING:
    import redis.asyncio

_log = toolwire.get_logger("toolwire.ratelimit")

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
    """Counts kept in this process, under one short ``threading`` lock: shared by every event
    loop and thread the dispatcher serves.

    Each strategy counts as ``limits``' own in-memory storage does (its tests prove the two
    agree, hit by hit), without what that storage costs a call: a list that grows by one entry
    at its front per call in a moving window (every hit moves the whole list), and a
    ``threading.Timer`` thread started every 10 ms to drop old entries. Here a moving window
    keeps the last ``N`` calls' times in a ``deque`` of at most ``N``, and counts nobody calls
    any more are dropped once a second, on a call.

    Not ``limits.aio``'s memory storage: its per-key ``asyncio.Lock`` belongs to the loop that
    first used it, and one dispatcher serves several loops (its own, for the sync twins, and
    each loop a host awaits ``dispatch`` on). One storage per loop is no answer either: the
    loops would each count apart, and the limit would be reached late or never.
    """

    def __init__(self, strategy: Strategy) -> None:
        self._count: Final = _COUNTERS[strategy]
        self._lock = threading.Lock()
        #: A limit and its key's identifiers, to its count: ``[forget_after, ...]``.
        self._counts: dict[tuple[Any, ...], list[Any]] = {}
        self._next_sweep = 0.0

    async def hit(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        return self.hit_now(item, *identifiers)

    def hit_now(self, item: limits.RateLimitItem, *identifiers: str) -> int | None:
        """``hit``, without a coroutine: an in-process count never waits."""
        return self.count(item.amount, item.get_expiry(), identifiers)

    def count(self, amount: int, expiry: int, identifiers: tuple[str, ...]) -> int | None:
        """One hit against ``amount`` calls per ``expiry`` seconds: ``hit_now``, for a caller
        that read the limit's figures once."""
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            reset = self._count(self._counts, (expiry, *identifiers), amount, expiry, now)
        return None if reset is None else max(0, math.ceil(reset - now))

    def _sweep(self, now: float) -> None:
        """Forget the counts whose windows hold no call any more."""
        for key in [key for key, count in self._counts.items() if count[0] <= now]:
            del self._counts[key]
        self._next_sweep = now + _SWEEP_EVERY


#: Seconds between two sweeps of the counts nobody hit within their window.
_SWEEP_EVERY: Final = 1.0

#: One hit: ``None`` when it fits in the limit, else when (epoch seconds) one more would.
_Counter = Callable[
    [dict[tuple[Any, ...], list[Any]], tuple[Any, ...], int, int, float], float | None
]


def _moving_window(
    counts: dict[tuple[Any, ...], list[Any]],
    key: tuple[Any, ...],
    limit: int,
    expiry: int,
    now: float,
) -> float | None:
    """At most ``limit`` calls in any ``expiry`` seconds: the last ``limit`` calls' times."""
    count = counts.get(key)
    if count is None:
        count = counts[key] = [0.0, deque(maxlen=limit)]
    times: deque[float] = count[1]
    if len(times) == limit and times[0] >= now - expiry:
        return times[0] + expiry
    times.append(now)
    count[0] = now + expiry
    return None


def _fixed_window(
    counts: dict[tuple[Any, ...], list[Any]],
    key: tuple[Any, ...],
    limit: int,
    expiry: int,
    now: float,
) -> float | None:
    """At most ``limit`` calls in a window of ``expiry`` seconds from the window's first call."""
    count = counts.get(key)
    if count is None or count[0] <= now:
        counts[key] = [now + expiry, 1]
        return None
    count[1] += 1  # a refused call counts too, as in limits: the window stays full
    return None if count[1] <= limit else count[0]


def _sliding_window_counter(
    counts: dict[tuple[Any, ...], list[Any]],
    key: tuple[Any, ...],
    limit: int,
    expiry: int,
    now: float,
) -> float | None:
    """The current clock-aligned window's count plus the previous one's, weighted by how much of
    it the last ``expiry`` seconds still cover."""
    window = int(now / expiry)
    count = counts.get(key)  # [forget_after, window, its count, the previous window's count]
    if count is None or count[1] < window - 1:
        count = counts[key] = [(window + 2) * expiry, window, 0, 0]
    elif count[1] == window - 1:
        count[:] = [(window + 2) * expiry, window, 0, count[2]]
    current, previous = count[2], count[3]
    previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
    if math.floor(previous * previous_ttl / expiry + current) + 1 <= limit:
        count[2] += 1
        return None
    current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
    return now + min(
        previous_ttl % (expiry / previous) if previous else math.inf,
        current_ttl % expiry if current else math.inf,
    )


_COUNTERS: Final[Mapping[Strategy, _Counter]] = {
    "moving-window": _moving_window,
    "fixed-window": _fixed_window,
    "sliding-window-counter": _sliding_window_counter,
}


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
