"""``Retry``: transient failures run again, with exponential backoff and jitter."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Final

from .._errors import ToolError, TransientError
from .._values import CallContext, ToolCall
from ..types import CallNext
from ._order import Order

if TYPE_CHECKING:
    from .._policy import ToolPolicy
    from .._tools import Tool

DEFAULT_RETRY_ON: Final[tuple[type[BaseException], ...]] = (
    TimeoutError,
    ConnectionError,
    TransientError,
)


class Retry:
    """Retries transient failures with exponential backoff and jitter (tenacity).

    Only exceptions of ``retry_on`` types are retried (a deadline missed counts as
    ``TimeoutError``); validation, permission and unknown-tool errors end the call before
    middleware runs, so they never are. An executor that could not take the call
    (``executor_unavailable``: nothing ran) is retried; a worker lost mid-call
    (``executor_lost``) only for a tool marked ``idempotent``, since the call may have run.
    """

    order = Order.RETRY

    def __init__(self, initial_delay: float = 0.2, max_delay: float = 5.0) -> None:
        self.initial_delay = initial_delay
        self.max_delay = max_delay

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return bool(policy.retries)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        # Most calls succeed the first time: only a transient failure pays for tenacity.
        try:
            return await call_next(call, context)
        except Exception as exc:
            if not transient(exc, context):
                raise
            failure = exc
        return await self.again(failure, call, context, call_next)

    async def again(
        self, failure: Exception, call: ToolCall, context: CallContext, call_next: CallNext
    ) -> Any:
        """The attempts after a first one failed with the transient ``failure``."""
        import tenacity  # only calls that are retried pay for the import

        assert context.policy is not None
        # The first retry waits what tenacity's exponential backoff waits after attempt 1;
        # tenacity then runs the remaining attempts, doubling from there.
        delay = min(self.initial_delay, self.max_delay)
        await asyncio.sleep(delay + random.uniform(0, self.initial_delay))
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(context.policy.retries or 0),
            # wait_exponential plus wait_random, not wait_exponential_jitter: its ``initial``
            # argument is deprecated from tenacity 9.2, and ``multiplier`` is missing before it.
            wait=tenacity.wait_exponential(multiplier=self.initial_delay * 2, max=self.max_delay)
            + tenacity.wait_random(0, self.initial_delay),
            retry=tenacity.retry_if_exception(lambda exc: transient(exc, context)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call_next(call, context)
        raise AssertionError("unreachable: tenacity re-raises the last failure")


def transient(exc: BaseException, context: CallContext) -> bool:
    """Whether ``exc`` is worth another attempt under the call's ``retry_on``.

    A missed deadline (``ToolError`` of kind ``timeout``) counts as ``TimeoutError``; an
    executor that could not take the call is worth another try, and a lost one only for a
    tool marked ``idempotent``.
    """
    assert context.policy is not None
    retry_on = context.policy.retry_on or DEFAULT_RETRY_ON
    if isinstance(exc, ToolError):
        if exc.kind == "executor_unavailable":
            return exc.retryable  # nothing ran
        if exc.kind == "executor_lost":
            return bool(context.policy.idempotent)  # it may have run partly
        return exc.kind == "timeout" and issubclass(TimeoutError, retry_on)
    return isinstance(exc, retry_on)
