"""MCP tasks (protocol revision 2025-11-25): a ``task = true`` tool called with ``params.task``
answers at once with a task; ``tasks/get``, ``tasks/result`` and ``tasks/cancel`` read and end
it; ``notifications/tasks/status`` tells the client when it ends.

Task records live where approvals do (``[approvals] store``): a table ``mcp_tasks`` in the same
SQLite file, or an in-process dict for ``memory://``. So any server process on that store answers
``tasks/get``. The process running a task renews a lease on it every second; a task whose lease
has run out (its process stopped) reads ``failed`` with a reason, never ``working`` forever. A
cancel written by another process is seen at the next renewal and ends the run.

Authority travels with the task: each record names the role and principal that created it, and
only a caller with the same role and principal may read or cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import toolwire

#: Seconds a running task's lease lasts, and how often its process renews it.
LEASE: Final = 5.0
RENEW: Final = 1.0
#: How long a finished task is kept, in milliseconds, unless the client asks for less.
DEFAULT_TTL_MS: Final = 3_600_000
#: Suggested polling interval, in milliseconds.
POLL_MS: Final = 200
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
STOPPED: Final = "the server process running this task stopped before it finished"
SHUTDOWN: Final = "the server stopped before this task finished"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS mcp_tasks (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ttl_ms INTEGER,
    lease_until REAL NOT NULL,
    result TEXT
);
"""
_COLUMNS: Final = (
    "id",
    "owner",
    "status",
    "message",
    "created_at",
    "updated_at",
    "ttl_ms",
    "lease_until",
    "result",
)


def _default_path() -> Path:
    import platformdirs

    # The file toolwire's approvals use when ``[approvals] store`` is not set.
    return platformdirs.user_state_path("toolwire", appauthor=False) / "approvals.sqlite3"


class TaskStore:
    """Task records in the approvals store: SQLite (``sqlite:///PATH`` or the default file) or
    memory (``memory://``). ``redis://`` is refused at start (not carried yet)."""

    def __init__(self, config: toolwire.Config) -> None:
        url = config.section("approvals").get("store")
        self._memory: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None
        if url == "memory://":
            self._memory = {}
        elif url is None:
            self.path = _default_path()
        elif isinstance(url, str) and url.startswith("sqlite:///") and len(url) > 10:
            self.path = config.resolve_path(url.removeprefix("sqlite:///"), "approvals.store")
        else:
            raise toolwire.ConfigError(
                f"[approvals] store = {url!r}: MCP tasks are kept in a SQLite or memory:// "
                "store; a Redis store does not hold them yet. Set no tool `task = true`, or use "
                "sqlite:///PATH"
            )
        if self.path is not None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            with self._connect() as db:
                db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        assert self.path is not None
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def create(self, owner: str, ttl_ms: int | None) -> dict[str, Any]:
        now = time.time()
        row: dict[str, Any] = {
            "id": secrets.token_urlsafe(24),
            "owner": owner,
            "status": "working",
            "message": None,
            "created_at": now,
            "updated_at": now,
            "ttl_ms": ttl_ms,
            "lease_until": now + LEASE,
            "result": None,
        }
        if self._memory is not None:
            with self._lock:
                self._memory[row["id"]] = dict(row)
            return row
        with self._connect() as db:
            db.execute(
                f"INSERT INTO mcp_tasks ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [row[c] for c in _COLUMNS],
            )
        return row

    def get(self, task_id: str) -> dict[str, Any] | None:
        if self._memory is not None:
            with self._lock:
                found = self._memory.get(task_id)
                return dict(found) if found is not None else None
        with self._connect() as db:
            cursor = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM mcp_tasks WHERE id = ?", (task_id,)
            )
            values = cursor.fetchone()
        return dict(zip(_COLUMNS, values, strict=True)) if values is not None else None

    def finish(
        self, task_id: str, status: str, message: str | None, result: str | None = None
    ) -> bool:
        """Move a working task to ``status``; whether this call did (a task ends once)."""
        now = time.time()
        if self._memory is not None:
            with self._lock:
                row = self._memory.get(task_id)
                if row is None or row["status"] != "working":
                    return False
                row.update(status=status, message=message, result=result, updated_at=now)
                return True
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE mcp_tasks SET status = ?, message = ?, result = ?, updated_at = ? "
                "WHERE id = ? AND status = 'working'",
                (status, message, result, now, task_id),
            )
            return cursor.rowcount == 1

    def renew(self, task_ids: list[str]) -> set[str]:
        """Extend the leases of ``task_ids``; the ones no longer working (cancelled elsewhere)."""
        until = time.time() + LEASE
        ended: set[str] = set()
        for task_id in task_ids:
            if self._memory is not None:
                with self._lock:
                    row = self._memory.get(task_id)
                    if row is not None and row["status"] == "working":
                        row["lease_until"] = until
                    else:
                        ended.add(task_id)
                continue
            with self._connect() as db:
                cursor = db.execute(
                    "UPDATE mcp_tasks SET lease_until = ? WHERE id = ? AND status = 'working'",
                    (until, task_id),
                )
                if cursor.rowcount != 1:
                    ended.add(task_id)
        return ended

    def read(self, task_id: str) -> dict[str, Any] | None:
        """The record, a working task whose lease ran out marked ``failed`` first."""
        row = self.get(task_id)
        if row is not None and row["status"] == "working" and row["lease_until"] < time.time():
            self.finish(task_id, "failed", STOPPED)
            row = self.get(task_id)
        return row


def wire(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record as MCP's ``Task`` object."""
    task: dict[str, Any] = {
        "taskId": row["id"],
        "status": row["status"],
        "createdAt": _iso(row["created_at"]),
        "lastUpdatedAt": _iso(row["updated_at"]),
        "ttl": row["ttl_ms"],
        "pollInterval": POLL_MS,
    }
    if row["message"]:
        task["statusMessage"] = row["message"]
    return task


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat().replace("+00:00", "Z")


class Runs:
    """The tasks this process runs, and the loop that renews their leases."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self.running: dict[str, asyncio.Task[Any]] = {}
        self._renewer: asyncio.Task[None] | None = None

    def start(self, task_id: str, run: asyncio.Task[Any]) -> None:
        self.running[task_id] = run
        run.add_done_callback(lambda _: self.running.pop(task_id, None))
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        while self.running:
            await asyncio.sleep(RENEW)
            ids = list(self.running)
            ended = await asyncio.to_thread(self.store.renew, ids)
            for task_id in ended:  # cancelled by another process on the store
                run = self.running.get(task_id)
                if run is not None:
                    run.cancel()

    def cancel(self, task_id: str) -> None:
        run = self.running.get(task_id)
        if run is not None:
            run.cancel()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
