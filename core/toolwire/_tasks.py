"""Awaiting an ``async def`` tool so that one that ignores its cancellation cannot hold its call.

Used for tools with a timeout (the others are awaited plainly: a cheaper first step).

A call is cancelled at its deadline, or by its caller. A tool that catches the
``CancelledError`` and goes on (a bare ``except:``, a ``while True`` around a retry) would
keep its call from ever answering if the call simply awaited it. So the call awaits the tool
through a thin driver that passes everything through as ``await`` does (the tool runs in the
call's own task; one that never suspends costs no more than a plain ``await``), and watches
for one thing: once the call is cancelled, the tool has ``CANCEL_GRACE`` seconds to finish.
If it is still running then, the driver hands it to a task of its own, where it is left to
finish (counted by ``TaskRunner.abandoned`` until it does), and the call goes on without it:
a deadline answers ``timeout``, a caller's cancellation reaches the caller. A tool that
catches the cancellation and returns a value does not undo it: the cancellation stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Final

from ._logging import log as _log

#: Seconds a cancelled tool has to finish (its ``finally`` blocks, its cleanup) before its
#: call goes on without it.
CANCEL_GRACE: Final = 0.5


class TaskRunner:
    """Runs ``async def`` tools for one dispatcher; keeps those left running after a cancel."""

    __slots__ = ("_abandoned", "grace")

    def __init__(self, grace: float = CANCEL_GRACE) -> None:
        self.grace = grace
        self._abandoned: set[asyncio.Task[Any]] = set()

    def abandoned(self) -> int:
        """Tools that ignored their call's cancellation past the grace and still run."""
        return len(self._abandoned)

    async def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """``await function(**kwargs)``, except that a tool which swallows its call's
        cancellation is left behind ``grace`` seconds after it. (A route's innermost layer
        inlines the same first step.)

        Raises:
            Whatever the tool raises; ``CancelledError`` when the call was cancelled and the
            tool had not finished within the grace.
        """
        coroutine = function(**kwargs)
        try:
            pending = coroutine.send(None)
        except StopIteration as done:
            return done.value  # finished without suspending: the common case, and the fast one
        return await self.drive(coroutine, pending)

    def drive(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> _Drive:
        """Await the rest of a tool's coroutine that took its first step and now waits on
        ``pending`` (what ``coroutine.send(None)`` returned)."""
        return _Drive(self, coroutine, pending)

    def _abandon(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> None:
        task = asyncio.get_running_loop().create_task(_go_on(coroutine, pending))
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:  # its call was answered long ago: only the log can tell
            _log.warning("toolwire.abandoned_tool_failed", exc_info=failure)


class _Drive:
    """Drives a tool's coroutine that has taken its first step and is waiting on ``pending``,
    in the awaiting task, as ``await`` does, until the grace after a cancellation runs out."""

    __slots__ = ("coroutine", "pending", "runner")

    def __init__(
        self, runner: TaskRunner, coroutine: Coroutine[Any, Any, Any], pending: Any
    ) -> None:
        self.runner = runner
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, pending = self.coroutine, self.pending
        task = asyncio.current_task()
        assert task is not None
        base = task.cancelling()  # cancels asked of the task before the tool: not its call's
        late: _Late | None = None
        try:
            while True:
                try:
                    sent = yield pending
                except GeneratorExit:
                    coroutine.close()
                    raise
                except asyncio.CancelledError as cancel:
                    if late is not None and late.due:
                        task.uncancel()  # the cancel that said the grace was over
                        self.runner._abandon(coroutine, pending)
                        raise
                    if late is None or late.fired:
                        late = _Late(task, base, self.runner.grace)
                    pending = _step(coroutine.throw, cancel)
                except BaseException as exc:  # noqa: BLE001 - a failed future: the tool's to see
                    pending = _step(coroutine.throw, exc)
                else:
                    pending = _step(coroutine.send, sent)
        except _Returned as done:
            if late is not None and task.cancelling() > base:
                # The call was cancelled (its deadline, its caller) and the tool answered all
                # the same: the cancellation stands, as it does for a tool that stops.
                raise asyncio.CancelledError from None
            return done.value
        finally:
            if late is not None:
                late.handle.cancel()


class _Returned(Exception):
    """Not an error: carries a finished tool's value out of the driver's loop."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _step(advance: Callable[[Any], Any], value: Any) -> Any:
    """One step of the tool: what it awaits next; ``_Returned`` when it finished."""
    try:
        return advance(value)
    except StopIteration as done:
        raise _Returned(done.value) from None


class _Late:
    """The grace after a cancellation reached the tool. When it ends with the cancellation
    still standing (``task.cancelling()`` above what it was when the tool started; a tool's
    own ``asyncio.timeout`` takes its cancel back), the task is cancelled again, and the
    driver, seeing ``due``, leaves the tool behind."""

    __slots__ = ("base", "due", "fired", "handle", "task")

    def __init__(self, task: asyncio.Task[Any], base: int, grace: float) -> None:
        self.task = task
        self.base = base
        self.due = self.fired = False
        self.handle = task.get_loop().call_later(grace, self._end)

    def _end(self) -> None:
        self.fired = True
        if self.task.cancelling() > self.base:
            self.due = True
            self.task.cancel()


async def _go_on(coroutine: Coroutine[Any, Any, Any], pending: Any) -> Any:
    """An abandoned tool's own task: it resumes where the call left it."""
    return await _Resumed(coroutine, pending)


class _Resumed:
    __slots__ = ("coroutine", "pending")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, pending = self.coroutine, self.pending
        if isinstance(pending, asyncio.Future):
            # The call's task took this future and marked it taken; this task takes it now.
            pending._asyncio_future_blocking = True
        return (yield from relay(coroutine, pending))


def relay(
    steps: Generator[Any, Any, Any] | Coroutine[Any, Any, Any], pending: Any
) -> Generator[Any, Any, Any]:
    """The rest of an awaitable that took its first step and now waits on ``pending``, passed
    through as ``await`` passes it (``yield from relay(...)``): its value, or what it raises.
    """
    try:
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - a cancel or a failed future
                pending = _step(steps.throw, exc)
            else:
                pending = _step(steps.send, sent)
    except _Returned as done:
        return done.value
