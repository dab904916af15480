"""The program a ``process`` executor's worker runs: import a tool by reference, run it, reply.

Started by ``toolwire._process.ProcessPool`` as ``python -c "...main()" FD``, where ``FD`` is
its end of a socket pair. Messages are pickled (``multiprocessing.connection``):

- from the pool: ``(sys_path, max_memory_mb)`` once, then ``(module, qualname, kwargs,
  is_async, trace_context, progress_param)`` per call, or ``None`` to stop;
- to the pool: ``("ready", pid)`` once, then per call any number of ``("progress", progress,
  total, message)`` (only when ``progress_param`` names the ``CallContext`` argument of a call
  whose host asked for progress; rate-limited, see ``Reporter``) and one reply:
  ``("ok", json_text)``,
  ``("parts", parts)`` for a result made of parts (``toolwire.Image``...),
  ``("tool_error", message, kind, retryable, details)``, ``("raised", pickled_exception or
  None, type_name, traceback_text)``, ``("unloadable", traceback_text)`` when the tool cannot
  be imported, or ``("memory",)``; after either of the last two the pool replaces the worker.

The call's trace context (propagation headers, see ``toolwire.propagation``) is current
while the function runs, when the worker can import ``opentelemetry-api``.

The worker writes nothing to stdout (the pool points it at the host's stderr) and ignores
``SIGINT``: the host decides when a worker stops. It leads a session and a process group of its
own, which the pool kills whole when the worker ends, so what a tool starts ends with it; its
end of the line is not inherited, so the pool sees the line end when the worker exits. A worker
that finds the line ended (the host is gone without stopping it) kills its own group.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final

#: Shortest time between two progress reports of one call that travel to the host: a tool may
#: report in a tight loop, the line and the host's consumers take at most this rate.
PROGRESS_INTERVAL: Final = 0.01


class Reporter:
    """A call's ``CallContext.progress`` in a worker: each report goes up the line to the pool.

    At most one report per ``PROGRESS_INTERVAL``: one that comes sooner is held, replaced by
    any later one, and sent once the interval is up (a timer), or just before the call's reply,
    so the last report arrives (unless the call is cut off within the interval after it) and
    none after the reply. Safe from any thread the tool starts.
    """

    __slots__ = ("closed", "conn", "held", "last", "lock", "timer")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.last = float("-inf")
        self.held: tuple[Any, ...] | None = None
        self.timer: threading.Timer | None = None  # sends the held report when it is due
        self.closed = False

    def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        report = ("progress", progress, total, None if message is None else str(message))
        with self.lock:
            if self.closed:
                return
            now = time.monotonic()
            if now - self.last < PROGRESS_INTERVAL:
                self.held = report
                if self.timer is None:
                    self.timer = threading.Timer(self.last + PROGRESS_INTERVAL - now, self.due)
                    self.timer.daemon = True
                    self.timer.start()
                return
            self.last, self.held = now, None
            self.conn.send(report)

    def due(self) -> None:
        """The held report's interval is up: send it, unless a later report or the reply
        went first."""
        with self.lock:
            self.timer = None
            held, self.held = self.held, None
            if held is not None and not self.closed:
                self.last = time.monotonic()
                with contextlib.suppress(OSError):
                    self.conn.send(held)

    def close(self) -> None:
        """Send the report held back, if any; after this, reports are dropped."""
        with self.lock:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            held, self.held = self.held, None
            if held is not None:
                with contextlib.suppress(OSError):
                    self.conn.send(held)


def resolve(module: str, qualname: str) -> Callable[..., Any]:
    """The function at ``module`` + ``qualname``; a ``toolwire.Tool`` there gives its function.

    Raises:
        ImportError, AttributeError: nothing importable has that name.
    """
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    function = getattr(obj, "function", obj)  # a Tool (from @pack.tool) wraps the function
    if not callable(function):
        raise TypeError(f"{module}.{qualname} is not callable")
    return function  # type: ignore[no-any-return]


def run(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    is_async: bool,
    trace_context: dict[str, str] | None = None,
) -> tuple[Any, ...]:
    """Run one call under its trace context and shape its reply; never raises."""
    from ._content import as_content
    from ._errors import ToolError
    from ._serialize import to_json
    from .propagation import attached

    try:
        with attached(trace_context):
            value = function(**kwargs)
            if is_async:
                value = asyncio.run(value)
        content = as_content(value)
        if content is not None:
            return ("parts", content.parts)
        return ("ok", to_json(value))
    except ToolError as error:
        return ("tool_error", error.message, error.kind, error.retryable, error.details)
    except MemoryError:
        return ("memory",)
    except BaseException as exc:  # noqa: BLE001 - every failure of the tool goes back to the host
        try:
            pickled: bytes | None = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that cannot travel goes as its text
            pickled = None
        text = "".join(traceback.format_exception(exc))
        return ("raised", pickled, f"{type(exc).__module__}.{type(exc).__qualname__}", text)


def _orphaned() -> None:
    """The host is gone without a word: end what the worker's tools started, and the worker.

    Only a worker that leads its group (as the pool starts it) kills it.
    """
    if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)  # processes a tool starts must not hold the pool's line open
    conn = Connection(fd)
    sys_path, max_memory_mb = conn.recv()
    sys.path[:] = sys_path
    # Pickled now, while memory is free: under a tight cap even building a reply can fail.
    out_of_memory = pickle.dumps(("unloadable", "MemoryError: the call did not fit in the cap"))
    if max_memory_mb:  # the whole worker counts: the interpreter, toolwire, the tool's imports
        import resource

        cap = max_memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import toolwire  # noqa: F401 - a worker that cannot load toolwire fails here, before "ready"

    functions: dict[tuple[str, str], Callable[..., Any]] = {}
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the host is gone
            _orphaned()
            return
        except MemoryError:  # a cap too small to even read the call: no call can run here
            conn.send(("unloadable", "MemoryError: the call did not fit in the memory cap"))
            return  # the line may be half read: a fresh worker replaces this one
        if message is None:
            return
        try:
            module, qualname, kwargs, is_async, trace_context, progress_param = message
            reporter = None
            if progress_param is not None and hasattr(kwargs.get(progress_param), "progress"):
                reporter = kwargs[progress_param].progress = Reporter(conn)
            try:
                function = functions.get((module, qualname))
                if function is None:
                    function = functions[(module, qualname)] = resolve(module, qualname)
            except Exception as exc:  # noqa: BLE001 - the host logs it; the call did not run
                reply: tuple[Any, ...] = ("unloadable", "".join(traceback.format_exception(exc)))
            else:
                reply = run(function, kwargs, is_async, trace_context)
            if reporter is not None:
                reporter.close()
            try:
                conn.send(reply)
            except OSError:  # the host is gone
                _orphaned()
                return
        except MemoryError:  # wherever the cap was met: say so in bytes made beforehand
            conn.send_bytes(out_of_memory)
            return  # a heap that ran out may be in any state: a fresh worker replaces this one
        if reply[0] == "memory":
            return  # a heap that ran out may be in any state: a fresh worker replaces this one
