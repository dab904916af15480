"""The rate-limit middleware: one hit per attempt, against the tool's limit for this role and principal."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import limits
import toolwire
from toolwire.middleware import Order
from toolwire.types import CallNext

from ._backends import Backend, MemoryBackend, create_backend
from ._settings import Settings, parse_limit

_log = toolwire.get_logger("toolwire.ratelimit")

#: Stands for "no role" or "no principal" in a key; ``quote`` escapes a real ``*``.
_NOBODY: Final = "*"


class RateLimit:
    """Ends a call with ``rate_limited`` once its tool's ``rate_limit`` is used up.

    Only put on tools whose effective policy has a ``rate_limit``. The count is kept per tool,
    per role (unless ``per_role = false``) and, with ``principal_key`` set, per value of that
    key in the host's ``state``. Each attempt counts: a call retried by the policy middleware
    hits the limit once per run of the function.

    Args:
        settings: The ``[plugins.ratelimit]`` settings.
    """

    #: Inside retries (each attempt counts), before the concurrency slot (a refused call
    #: never waits for one).
    order = Order.ADMIT

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings: Final = settings if settings is not None else Settings()
        self._backend: Backend = create_backend(self.settings)
        self._items: dict[str, limits.RateLimitItem | None] = {}
        #: A valid ``rate_limit`` text's item, and its calls and seconds, read once.
        self._figures: dict[str, tuple[limits.RateLimitItem, int, int]] = {}
        #: With in-process storage a hit never waits, so the count is a plain check that the
        #: dispatcher runs next to its own policy layers, without a coroutine of its own
        #: (``toolwire.types.Middleware``); with Redis there is none, the call awaits the hit.
        self.admit: Callable[[toolwire.ToolCall, toolwire.CallContext], None] | None = (
            self._admit_now if isinstance(self._backend, MemoryBackend) else None
        )

    def applies_to(self, tool: toolwire.Tool, policy: toolwire.ToolPolicy) -> bool:
        return "rate_limit" in policy.options

    async def __call__(
        self, call: toolwire.ToolCall, context: toolwire.CallContext, call_next: CallNext
    ) -> Any:
        if self.admit is not None:
            self.admit(call, context)
            return await call_next(call, context)
        item = self._limit_of(context)
        try:
            async with asyncio.timeout(self.settings.storage_timeout):
                retry_after = await self._backend.hit(item, *self.identifiers(context))
        except Exception as exc:  # noqa: BLE001 - whatever the storage raises, the call answers
            self._storage_failed(context, exc)
            retry_after = None
        if retry_after is not None:
            raise self._refused(context, item, retry_after)
        return await call_next(call, context)

    def _admit_now(self, call: toolwire.ToolCall, context: toolwire.CallContext) -> None:
        """One hit in process: returns when the call may go on.

        Raises:
            ToolError: ``rate_limited`` (the limit is used up), or ``internal_error`` (an
                invalid limit; or the storage failed and ``fail_open`` is off).
        """
        assert context.policy is not None
        try:
            item, amount, expiry = self._figures[context.policy.options["rate_limit"]]
        except KeyError:
            item = self._limit_of(context)
            item, amount, expiry = self._figures.setdefault(
                context.policy.options["rate_limit"], (item, item.amount, item.get_expiry())
            )
        backend: MemoryBackend = self._backend  # type: ignore[assignment]  # admit: in process
        try:
            retry_after = backend.count(amount, expiry, self.identifiers(context))
        except Exception as exc:  # noqa: BLE001 - whatever the storage raises, the call answers
            self._storage_failed(context, exc)
            return
        if retry_after is not None:
            raise self._refused(context, item, retry_after)

    def _limit_of(self, context: toolwire.CallContext) -> limits.RateLimitItem:
        assert context.policy is not None and context.tool is not None
        item = self._item(context.policy.options["rate_limit"])
        if item is None:
            raise toolwire.ToolError(
                f"{context.tool.name} has an invalid rate limit; the call was not run",
                kind="internal_error",
            )
        return item

    def _refused(
        self, context: toolwire.CallContext, item: limits.RateLimitItem, retry_after: int
    ) -> toolwire.ToolError:
        assert context.tool is not None
        return toolwire.ToolError(
            f"{context.tool.name} is limited to {item}; retry after {retry_after} s",
            kind="rate_limited",
            retryable=True,
            details={"retry_after": retry_after},
        )

    def identifiers(self, context: toolwire.CallContext) -> tuple[str, str, str]:
        """The parts of the key this call counts under: tool, role, principal (each quoted)."""
        assert context.tool is not None
        settings = self.settings
        role = context.role if settings.per_role else None
        principal = (
            context.state.get(settings.principal_key)
            if settings.principal_key is not None
            else None
        )
        try:
            return _key(context.tool.name, role, principal)
        except TypeError:  # a principal that cannot be a cache key
            return (_part(context.tool.name), _part(role), _part(principal))

    def _item(self, text: str) -> limits.RateLimitItem | None:
        try:
            return self._items[text]
        except KeyError:
            pass
        try:
            item: limits.RateLimitItem | None = parse_limit(text)
        except ValueError:
            item = None
        self._items[text] = item
        return item

    def _storage_failed(self, context: toolwire.CallContext, exc: Exception) -> None:
        """Fail open (log, and the call goes on) or closed (raise), as configured."""
        assert context.tool is not None
        error = (
            f"no answer within {self.settings.storage_timeout:g} s"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        fail_open = self.settings.fail_open
        (_log.warning if fail_open else _log.error)(
            "toolwire_ratelimit.storage_unavailable",
            tool=context.tool.name,
            call_id=context.call_id,
            error=error,
            fail_open=fail_open,
        )
        if fail_open:
            return
        raise toolwire.ToolError(
            "rate limit storage unavailable", kind="internal_error", retryable=True
        ) from None


@functools.lru_cache(maxsize=4096)
def _key(tool: str, role: str | None, principal: object) -> tuple[str, str, str]:
    return (_part(tool), _part(role), _part(principal))


def _part(value: object) -> str:
    return _NOBODY if value is None else quote(str(value), safe="")
