"""The ``process`` executor: tool functions in worker processes that can be killed.

Python cannot stop a thread, so a plain function past its deadline keeps running on a
thread. In a worker process it can be stopped: at the deadline the worker running the call
is killed and replaced. A worker that dies on its own (``os._exit``, a segfault, the OOM
killer) gives its call ``executor_lost`` and is replaced too.

Each worker leads a process group of its own (a new session), and what ends a worker ends its
whole group: a process a tool started dies with the worker at the deadline, at ``close()``, or
whenever the worker is replaced, unless it left the group (``setsid``). The group is killed
before the worker is reaped, so its id (the worker's pid) cannot meanwhile name another
process. Where there are no process groups (Windows) only the worker itself is killed.

Workers are fresh interpreters (``python -c``, never a fork of the threaded host) that import
each tool by reference (module and qualified name), so a tool that cannot be imported that
way (a closure, a lambda, a function of ``__main__``) is refused when the dispatcher starts.
They talk to the pool over a socket pair with ``multiprocessing.connection``. Not a
``multiprocessing`` ``spawn`` context: that starts a resource-tracker process that outlives
the pool, and runs the host's ``__main__`` module again in every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from ._content import Content
from ._errors import ToolError
from ._logging import log as _log
from ._threads import _settle
from ._values import CallContext

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from ._tools import Tool
    from .types import Job

#: Seconds a new worker may take to import toolwire and say it is ready.
START_TIMEOUT: Final = 60.0
#: Past the deadline, how long the pool itself waits before it kills the worker. The host's
#: ``Timeout`` middleware cancels the call at the deadline (and so kills the worker); this is
#: the pool's own backstop.
DEADLINE_GRACE: Final = 1.0
#: Seconds a worker told to stop may take before it is killed.
STOP_TIMEOUT: Final = 5.0

_BOOT: Final = "from toolwire._process_worker import main; main()"
_GROUPS: Final = hasattr(os, "killpg")


class _WorkerFailed(Exception):
    """A worker could not start."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process, kept as its cause."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def reference(tool: Tool) -> tuple[str, str]:
    """Where a worker imports the tool's function from: ``(module, qualname)``.

    Raises:
        ValueError: the function cannot be imported by reference, and why.
    """
    function = tool.function
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ValueError("it is not a function defined with def at a module's top level")
    if "<lambda>" in qualname:
        raise ValueError(
            "it is a lambda, which a worker process cannot import; define it with def at "
            "a module's top level"
        )
    if "<locals>" in qualname:
        raise ValueError(
            f"it is defined inside {qualname.split('.<locals>')[0]}() (a closure or nested "
            "function), which a worker process cannot import; move it to a module's top level"
        )
    if module == "__main__":
        raise ValueError(
            "it is defined in __main__, which a worker process does not run; move it to a "
            "module the worker can import"
        )
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception as exc:  # noqa: BLE001 - whatever stops the import is the reason to refuse
        raise ValueError(f"{module}.{qualname} cannot be imported: {exc!r}") from None
    if found is not function and getattr(found, "function", None) is not function:
        raise ValueError(f"{module}.{qualname} is not this function, so a worker cannot find it")
    return module, qualname


class _Work:
    """One call on its way through the pool."""

    __slots__ = (
        "cancelled",
        "deadline",
        "future",
        "is_async",
        "kwargs",
        "loop",
        "module",
        "progress_param",
        "qualname",
        "report",
        "tool",
        "trace_context",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        tool: str,
        module: str,
        qualname: str,
        kwargs: dict[str, Any],
        is_async: bool,
        deadline: float | None,
        trace_context: dict[str, str],
        progress_param: str | None = None,
        report: Callable[[float, float | None, str | None], None] | None = None,
    ) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.tool = tool
        self.module = module
        self.qualname = qualname
        self.kwargs = kwargs
        self.is_async = is_async
        self.deadline = deadline
        self.trace_context = trace_context
        self.progress_param = progress_param
        self.report = report
        self.cancelled = False

    def progressed(self, report: tuple[Any, ...]) -> None:
        """A progress report from the worker, passed on on the loop: before the reply, which
        is settled on the loop after it, and never for a call the host gave up on."""
        if self.report is None or self.cancelled or len(report) != 4:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
            self.loop.call_soon_threadsafe(self.report, *report[1:])

    def settle(self, ok: bool, payload: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.future, ok, payload)


class _Worker:
    """One worker process and the line to it, driven by one thread of the pool."""

    def __init__(self, pool: ProcessPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.work: _Work | None = None  # guarded by pool._lock
        self.killed = False  # guarded by pool._lock

    def ensure_started(self) -> Connection:
        # An idle worker sends nothing: anything on its line, the end of it above all, means
        # the worker died. Checked on the line, not with poll(), which would reap the worker
        # before its group is killed.
        if self.process is not None and self.conn is not None and not _line_stirred(self.conn):
            return self.conn
        self.reap()
        import multiprocessing  # only a pool that starts a worker pays for the import

        ours, theirs = multiprocessing.Pipe(duplex=True)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=_stderr(),
                start_new_session=True,  # its own process group, killed whole; POSIX only
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        except OSError as exc:
            ours.close()
            raise _WorkerFailed(f"the worker process could not be started: {exc}") from exc
        finally:
            theirs.close()
        self.conn = ours
        try:
            ours.send((list(sys.path), self.pool.max_memory_mb))
            if not ours.poll(START_TIMEOUT):
                raise _WorkerFailed("the worker process did not start in time")
            ready = ours.recv()
        except (OSError, EOFError) as exc:
            code = self.reap(STOP_TIMEOUT)
            raise _WorkerFailed(
                f"the worker process exited while starting (exit status {code})"
            ) from exc
        except _WorkerFailed:
            self.reap()
            raise
        if not (isinstance(ready, tuple) and ready[:1] == ("ready",)):
            self.reap()
            raise _WorkerFailed("the worker process did not start")
        return ours

    def reap(self, grace: float = 0.0) -> int | None:
        """Give the worker up to ``grace`` seconds to exit, kill its group, reap it; its exit
        status."""
        conn, self.conn = self.conn, None
        process, self.process = self.process, None
        if conn is not None:
            if grace > 0 and process is not None:
                # The worker's end of the line is not inherited by what it starts, so the line
                # ends when the worker exits: an exit seen without reaping it.
                with contextlib.suppress(OSError, EOFError):
                    conn.poll(grace)
            conn.close()
        if process is None:
            return None
        _kill_group(process)
        try:
            return process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # a kill the process could not take (EPERM)
            process.kill()
            return process.wait()

    def stop(self) -> None:
        """Tell the worker to stop; whatever of its group is left afterwards is killed."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.reap(STOP_TIMEOUT)

    def run(self, work: _Work) -> None:
        """Hand one call to the worker and settle it with the reply, or with why there is none."""
        try:
            conn = self.ensure_started()
        except _WorkerFailed as exc:
            work.settle(False, _unavailable(self.pool.name, str(exc)))
            return
        with self.pool._lock:
            if work.cancelled:
                return
            self.work, self.killed = work, False
        import pickle
        from multiprocessing.connection import wait

        try:
            conn.send(
                (
                    work.module,
                    work.qualname,
                    work.kwargs,
                    work.is_async,
                    work.trace_context,
                    work.progress_param,
                )
            )
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            with self.pool._lock:
                self.work = None
            work.settle(False, exc)  # an argument that cannot travel: the tool's call fails
            return
        except OSError:
            pass  # the worker died: the wait below sees it
        reply: Any = None
        while True:  # progress reports, then the reply
            timeout = (
                None if work.deadline is None else work.deadline - time.time() + DEADLINE_GRACE
            )
            ready = wait([conn], timeout=max(timeout, 0.0) if timeout is not None else None)
            if not ready:
                break
            with contextlib.suppress(EOFError, OSError):
                reply = conn.recv()
            if isinstance(reply, tuple) and reply[:1] == ("progress",):
                work.progressed(reply)
                reply = None
                continue
            break
        with self.pool._lock:
            self.work = None
            killed = self.killed
        if reply is None:  # dead, killed, or past the deadline
            code = self.reap()
            if work.cancelled:
                self.replace()
                return  # the host gave up on the call and answers it itself
            if not ready:
                work.settle(False, _timeout(work.tool))
            elif killed:
                work.settle(False, _lost(self.pool.name, code, "the executor was closed"))
            else:
                work.settle(False, _lost(self.pool.name, code))
            self.replace()
            return
        work.settle(True, reply)
        if reply[0] in ("memory", "unloadable"):  # a heap or a module table in any state
            self.stop()
            self.replace()

    def replace(self) -> None:
        """Start a fresh worker now, so the next call does not wait for one."""
        if self.pool._closing:
            return
        with contextlib.suppress(_WorkerFailed):
            self.ensure_started()

    def kill(self) -> None:
        """Kill the worker and its group now (called with ``pool._lock`` held).

        Only while the worker runs a call: its thread reaps it only after that, so the group's
        id still names this group.
        """
        self.killed = True
        process = self.process
        if process is not None:
            _kill_group(process)


class _Crew:
    """One generation of workers: their queue, their threads and a count of idle ones."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self.idle = threading.Semaphore(0)
        self.workers: list[_Worker] = []
        self.threads: list[threading.Thread] = []


class ProcessPool:
    """An executor of worker processes, started on first use, up to ``workers`` of them.

    Args:
        name: The executor's name (``process``, or the ``[executors.NAME]`` table's).
        workers: How many worker processes at most (default: the CPU count).
        max_memory_mb: The address-space cap of each worker (``RLIMIT_AS``), in MiB; the
            interpreter and its imports count against it. ``None``: no cap.
    """

    def __init__(
        self, name: str, workers: int | None = None, max_memory_mb: int | None = None
    ) -> None:
        self.name = name
        self.workers = workers or os.cpu_count() or 1
        self.max_memory_mb = max_memory_mb
        self._lock = threading.Lock()
        self._crew = _Crew()
        self._closing = False
        self._references: dict[str, tuple[str, str]] = {}
        self._numbers = itertools.count()

    def __repr__(self) -> str:
        return f"<toolwire process executor {self.name!r} workers={self.workers}>"

    def check(self, tool: Tool) -> None:
        """Refuse a tool a worker cannot import by reference (``ValueError`` says why)."""
        self._references[tool.name] = reference(tool)

    def start(self) -> None:
        """Nothing to do: workers start on first use."""
        self._closing = False

    async def submit(self, job: Job) -> Any:
        """Run the call in a worker; its result comes back as decoded JSON."""
        tool = job.tool
        found = self._references.get(tool.name)
        module, qualname = found if found is not None else reference(tool)
        kwargs = dict(job.kwargs)
        progress_param = report = None
        if tool.context_param is not None and tool.context_param in kwargs:
            context = kwargs[tool.context_param]
            kwargs[tool.context_param] = _portable(context)
            if isinstance(context, CallContext) and context.progress is not None:
                progress_param, report = tool.context_param, context.report_progress
        work = _Work(
            asyncio.get_running_loop(),
            tool.name,
            module,
            qualname,
            kwargs,
            tool.is_async,
            job.deadline,
            dict(job.trace_context),
            progress_param,
            report,
        )
        self._submit(work)
        try:
            reply = await work.future
        except asyncio.CancelledError:
            self._cancel(work)
            raise
        return _answer(reply, self.name, tool.name, self.max_memory_mb)

    def _submit(self, work: _Work) -> None:
        crew = self._crew
        if not crew.idle.acquire(blocking=False):
            with self._lock:
                if len(crew.workers) < self.workers:
                    worker = _Worker(self, next(self._numbers))
                    thread = threading.Thread(
                        target=self._serve,
                        args=(crew, worker),
                        name=f"toolwire-{self.name}-{worker.index}",
                        daemon=True,
                    )
                    crew.workers.append(worker)
                    crew.threads.append(thread)
                    thread.start()
        crew.queue.put(work)

    def _serve(self, crew: _Crew, worker: _Worker) -> None:
        try:
            while (work := crew.queue.get()) is not None:
                if self._closing:
                    work.settle(False, _unavailable(self.name, "the executor was closed"))
                elif not work.cancelled:
                    worker.run(work)
                crew.idle.release()
        finally:
            worker.stop()

    def _cancel(self, work: _Work) -> None:
        with self._lock:
            work.cancelled = True
            for worker in self._crew.workers:
                if worker.work is work:
                    worker.kill()

    def stats(self) -> dict[str, int]:
        """Worker processes alive now, and how many run a call."""
        workers = self._crew.workers
        return {
            "workers": sum(1 for w in workers if w.process is not None),
            "running": sum(1 for w in workers if w.work is not None),
        }

    def close(self) -> None:
        """Stop every worker (killing those that run a call) and their threads."""
        with self._lock:
            self._closing = True
            crew, self._crew = self._crew, _Crew()
            for worker in crew.workers:
                if worker.work is not None:
                    worker.kill()
        for _ in crew.threads:
            crew.queue.put(None)
        for thread in crew.threads:
            thread.join()
        self._closing = False


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the worker's whole process group (to the worker alone without groups).

    Called before the worker is reaped: a group outlives its leader's exit, and its id is the
    leader's pid, which no new process can take while the leader is unreaped.
    """
    if not _GROUPS:
        with contextlib.suppress(OSError):
            process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group is gone already
    except PermissionError:  # no member could be signalled; the worker itself still can
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)


def _line_stirred(conn: Connection) -> bool:
    """Whether an idle worker's line holds anything (its end, above all)."""
    try:
        return conn.poll(0)
    except (OSError, EOFError):
        return True


def _stderr() -> int:
    """Where a worker's standard output goes: the host's standard error, never its stdout."""
    try:
        return sys.__stderr__.fileno() if sys.__stderr__ is not None else subprocess.DEVNULL
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL


def _portable(context: Any) -> CallContext:
    """What of the call's context can travel to a worker: ids, role, attempt, plugin."""
    if not isinstance(context, CallContext):
        return context  # type: ignore[no-any-return]
    return replace(context, tool=None, state={}, policy=None, arguments={}, progress=None)


def _answer(reply: tuple[Any, ...], name: str, tool: str, max_memory_mb: int | None) -> Any:
    """The value of a worker's reply, or the error it carries, raised."""
    kind = reply[0]
    if kind == "ok":
        return json.loads(reply[1])
    if kind == "parts":
        return Content(reply[1])
    if kind == "tool_error":
        _, message, error_kind, retryable, details = reply
        raise ToolError(message, kind=error_kind, retryable=retryable, details=details)
    if kind == "memory":
        cap = f" (max_memory_mb = {max_memory_mb})" if max_memory_mb else ""
        raise ToolError(
            f"the tool ran out of memory in its worker process{cap}",
            kind="execution_error",
            details={"max_memory_mb": max_memory_mb} if max_memory_mb else None,
        )
    if kind == "unloadable":
        _log.error("toolwire.executor_failed", executor=name, tool=tool, traceback=reply[1])
        raise ToolError(
            f"executor {name!r} could not load the tool in its worker process; nothing ran",
            kind="executor_unavailable",
            retryable=False,
        )
    _, pickled, type_name, text = reply
    exc: BaseException | None = None
    if pickled is not None:
        import pickle

        with contextlib.suppress(Exception):
            exc = pickle.loads(pickled)
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"{type_name} raised in a worker process")
    exc.__cause__ = RemoteTraceback(text)
    raise exc


def _unavailable(name: str, reason: str) -> ToolError:
    return ToolError(
        f"executor {name!r} could not take the call: {reason}; nothing ran",
        kind="executor_unavailable",
    )


def _lost(name: str, code: int | None, why: str = "") -> ToolError:
    how = (
        f"was killed by signal {-code}"
        if code is not None and code < 0
        else f"exited with status {code}"
    )
    if why:
        how += f" ({why})"
    return ToolError(
        f"the worker process running the call {how} (executor {name!r})",
        kind="executor_lost",
        details={"exit_status": code},
    )


def _timeout(tool: str) -> ToolError:
    return ToolError(
        f"{tool} did not finish in time; its worker process was killed", kind="timeout"
    )
