"""Running a plain-function tool on the dispatcher's own threads, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, NamedTuple


class _Work(NamedTuple):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    context: contextvars.Context
    token: int
    function: Callable[..., Any]
    kwargs: dict[str, Any]


class _Crew:
    """One generation of worker threads: their queue, and a count of the idle ones."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self.idle = threading.Semaphore(0)
        self.workers: list[threading.Thread] = []


class ThreadRunner:
    """The threads a dispatcher owns for plain-function tools.

    Sized for I/O-bound tools: a thread is started when a call finds none idle, up to
    ``threads``. Context variables reach the thread. A call whose deadline passed cannot stop
    its thread: the thread is counted as ``abandoned`` until it returns, and does not count
    against ``threads``: one is started in its place, so that the pool keeps serving, up to
    ``2 * threads`` threads alive in all, a closed crew's included (past that, calls wait for a
    thread to come back). Once an abandoned thread is back, a thread that finds one more than
    ``threads`` serving leaves: ``threads`` stays the number of calls running at once.

    Not ``loop.run_in_executor``: that hop chains a ``concurrent.futures.Future`` to an
    asyncio one, and costs about twice what this one does (a queue put, and one
    ``call_soon_threadsafe`` back). Threads are daemons, so a tool that never returns
    cannot keep the host from exiting.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._crew = _Crew()
        self._lock = threading.Lock()
        self._active: set[int] = set()
        self._abandoned: set[int] = set()
        self._alive = 0  # threads started and not yet ended, of every crew (under the lock)
        self._tokens = itertools.count(1)

    async def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``function(**kwargs)`` on a worker thread, in the caller's context; await it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        token = next(self._tokens)
        self._submit(_Work(loop, future, contextvars.copy_context(), token, function, kwargs))
        try:
            return await future
        except asyncio.CancelledError:
            # Added first, then checked: a thread that ends in between has discarded it already.
            self._abandoned.add(token)
            if token not in self._active:
                self._abandoned.discard(token)
            raise

    def _submit(self, work: _Work) -> None:
        crew = self._crew
        if not crew.idle.acquire(blocking=False):
            with self._lock:
                if self._may_start(crew):
                    self._start(crew)
        crew.queue.put(work)

    def _may_start(self, crew: _Crew) -> bool:
        """Whether ``crew`` may have one more thread (under the lock): fewer than ``threads``
        of its threads serve (those running an abandoned call do not), and fewer than
        ``2 * threads`` are alive in all, a former crew's included (``close``)."""
        serving = len(crew.workers) - len(self._abandoned)
        return serving < self.threads and self._alive < 2 * self.threads

    def _start(self, crew: _Crew) -> None:
        worker = threading.Thread(
            target=self._serve, args=(crew,), name=f"toolwire-{len(crew.workers)}", daemon=True
        )
        crew.workers.append(worker)
        self._alive += 1
        worker.start()

    def _serve(self, crew: _Crew) -> None:
        try:
            while (work := crew.queue.get()) is not None:
                if work.future.cancelled():  # its caller gave up before it started
                    crew.idle.release()
                    continue
                outcome = self._run_one(work)
                leaving = self._surplus(crew)
                if not leaving:
                    # Idle before the caller is woken: waking it is the last thing this thread
                    # does before it waits again, so the woken loop does not wait for its GIL.
                    crew.idle.release()
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    work.loop.call_soon_threadsafe(_settle, work.future, *outcome)
                if leaving:
                    return
        finally:
            with self._lock:
                self._alive -= 1
                # A former crew's thread, back at last: calls of the current crew that waited
                # for room under the bound get a thread now.
                current = self._crew
                if current is not crew and not current.queue.empty() and self._may_start(current):
                    self._start(current)

    def _surplus(self, crew: _Crew) -> bool:
        """Whether this thread, back from a call, is one more than ``threads`` serving (it
        was started in place of an abandoned thread that has come back since): then it leaves
        the crew, so that ``threads`` stays the number of calls running at once."""
        if len(crew.workers) - len(self._abandoned) <= self.threads:  # without the lock: a hint
            return False
        with self._lock:
            if len(crew.workers) - len(self._abandoned) <= self.threads:
                return False
            with contextlib.suppress(ValueError):  # a former crew's thread is in no list
                crew.workers.remove(threading.current_thread())
            return True

    def _run_one(self, work: _Work) -> tuple[bool, Any]:
        # set.add and set.discard are atomic under the GIL: no lock on the per-call path.
        self._active.add(work.token)
        try:
            value = work.context.run(work.function, **work.kwargs)
        except (GeneratorExit, StopIteration) as exc:
            # Thrown into the awaiting task, GeneratorExit would close its whole chain of
            # coroutines instead of being raised where the dispatcher catches it; and a future
            # refuses StopIteration (it would end a generator), leaving the call unanswered.
            # As a coroutine turns a StopIteration into one (PEP 479): a RuntimeError, caused
            # by it.
            raised = RuntimeError(f"the tool raised {type(exc).__name__}")
            raised.__cause__ = exc
            outcome: tuple[bool, Any] = (False, raised)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting call, which answers
            outcome = (False, exc)
        else:
            outcome = (True, value)
        finally:
            self._active.discard(work.token)
            self._abandoned.discard(work.token)
        return outcome

    def stats(self) -> dict[str, int]:
        """Threads running tool functions now, and how many of those were abandoned."""
        return {
            "threads": self.threads,
            "running": len(self._active),
            "abandoned": len(self._abandoned),
        }

    def close(self, wait: bool = True) -> None:
        """Stop the threads started so far, once they finish what they run.

        Call it when no dispatch is under way. With a thread abandoned by a timeout still
        running, it does not wait (such a function may never return). The runner stays
        usable: a later call starts a new crew of threads.
        """
        with self._lock:
            crew, self._crew = self._crew, _Crew()
            workers = list(crew.workers)
        for _ in workers:
            crew.queue.put(None)
        # A thread abandoned by a timeout may never return: close() does not wait for it, nor
        # then for the others (daemon threads; each stops once its function returns).
        if wait and not self._abandoned:
            for worker in workers:
                worker.join()


def _settle(future: asyncio.Future[Any], ok: bool, payload: Any) -> None:
    if future.done():  # cancelled while the function ran
        return
    if ok:
        future.set_result(payload)
    else:
        future.set_exception(payload)
