"""MCP tasks (protocol revision 2025-11-25): a ``task = true`` tool called with ``params.task``
answers at once with a task; ``tasks/get``, ``tasks/result`` and ``tasks/cancel`` read and end
it; ``notifications/tasks/status`` tells the client when it ends.

Task records live where approvals do (``[approvals] store``): a table ``mcp_tasks`` in the same
SQLite file, hashes in the same Redis (``_task_store_redis``), or an in-process dict for
``memory://``. So any server process on that store answers ``tasks/get``. The process running a
task renews a lease on it every second; a task whose lease has run out (its process stopped)
reads ``failed`` with a reason, never ``working`` forever. A cancel written by another process
is seen at the next renewal and ends the run.

Authority travels with the task: each record names the role and principal that created it, and
only a caller with the same role and principal may read or cancel it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import toolwire

#: The protocol revisions that define tasks (``params.task``, ``tasks/*``): only 2025-11-25.
#: Older handshake revisions have none; 2026-07-28 moved them out of the core protocol into an
#: extension the installed SDK does not ship.
REVISIONS: Final = frozenset({"2025-11-25"})
#: Seconds a running task's lease lasts, and how often its process renews it.
LEASE: Final = 5.0
RENEW: Final = 1.0
#: How long a finished task is kept, in milliseconds, unless the client asks for less.
DEFAULT_TTL_MS: Final = 3_600_000
#: The shortest ttl granted, in milliseconds: a client asking for less gets this.
MIN_TTL_MS: Final = 1_000
#: Suggested polling interval, in milliseconds.
POLL_MS: Final = 200
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
STOPPED: Final = "the server process running this task stopped before it finished"
SHUTDOWN: Final = "the server stopped before this task finished"
#: What a task id this server made looks like (``secrets.token_urlsafe(24)``); anything else is
#: answered as an unknown task without asking the store.
_ID: Final = re.compile(r"[A-Za-z0-9_-]{32}")

_log = toolwire.get_logger("toolwire.mcp")


def new_id() -> str:
    """An unguessable task id."""
    return secrets.token_urlsafe(24)


def well_formed(task_id: str) -> bool:
    """Whether ``task_id`` could be one this server made."""
    return _ID.fullmatch(task_id) is not None


def granted_ttl(asked: int | None) -> int:
    """The ttl a task gets, in milliseconds: what the client asked, within bounds."""
    if asked is None:
        return DEFAULT_TTL_MS
    return max(MIN_TTL_MS, min(asked, DEFAULT_TTL_MS))


class TaskStore(abc.ABC):
    """Where task records live. A record is a dict: ``id``, ``owner``, ``status``, ``message``,
    ``created_at``, ``updated_at`` (seconds), ``ttl_ms``, ``lease_until`` (seconds), ``result``
    (the call's ``CallToolResult`` as JSON text, once it ended)."""

    @abc.abstractmethod
    def create(self, owner: str, ttl_ms: int) -> dict[str, Any]:
        """A new working task of ``owner``, its lease running."""

    @abc.abstractmethod
    def get(self, task_id: str) -> dict[str, Any] | None:
        """The record as stored, or ``None``."""

    @abc.abstractmethod
    def finish(
        self, task_id: str, status: str, message: str | None, result: str | None = None
    ) -> bool:
        """Move a working task to ``status``; whether this call did (a task ends once)."""

    @abc.abstractmethod
    def renew(self, task_ids: list[str]) -> set[str]:
        """Extend the leases of ``task_ids``; the ones no longer working (cancelled elsewhere)."""

    @abc.abstractmethod
    def lapse(self, task_id: str) -> bool:
        """Mark a working task whose lease ran out ``failed`` (``STOPPED``); whether it was."""

    def read(self, task_id: str) -> dict[str, Any] | None:
        """The record, a working task whose lease ran out marked ``failed`` first; a record
        whose fields are not what this server writes (edited in the store) reads ``failed``,
        saying so, with no result."""
        row = self.get(task_id)
        if row is not None and _damaged(row):
            return {**_DAMAGED_ROW, "id": row.get("id", task_id), "owner": row.get("owner")}
        if row is not None and row["status"] == "working" and self.lapse(task_id):
            row = self.get(task_id)
            if row is not None and _damaged(row):
                return {**_DAMAGED_ROW, "id": row.get("id", task_id), "owner": row.get("owner")}
        return row

    def close(self) -> None:  # noqa: B027  # most stores hold nothing open
        """Let go of connections."""


def open_task_store(config: toolwire.Config) -> TaskStore:
    """The task store ``[approvals] store`` names (the default SQLite file when unset).

    Raises:
        toolwire.ConfigError: a store that cannot hold tasks, or a Redis that does not answer.
    """
    url = config.section("approvals").get("store")
    if url == "memory://":
        return MemoryTaskStore()
    if url is None:
        return SQLiteTaskStore(_default_path())
    if isinstance(url, str) and url.startswith("sqlite:///") and len(url) > 10:
        return SQLiteTaskStore(
            config.resolve_path(url.removeprefix("sqlite:///"), "approvals.store")
        )
    if isinstance(url, str) and url.startswith(("redis://", "rediss://")):
        from ._task_store_redis import RedisTaskStore

        return RedisTaskStore(url)
    raise toolwire.ConfigError(
        "[approvals] store: MCP tasks are kept in the approvals store, and this one is none "
        "toolwire knows; use sqlite:///PATH, redis://HOST:PORT/DB or memory://"
    )


def _default_path() -> Path:
    import platformdirs

    # The file toolwire's approvals use when ``[approvals] store`` is not set.
    return platformdirs.user_state_path("toolwire", appauthor=False) / "approvals.sqlite3"


def _record(owner: str, ttl_ms: int) -> dict[str, Any]:
    now = time.time()
    return {
        "id": new_id(),
        "owner": owner,
        "status": "working",
        "message": None,
        "created_at": now,
        "updated_at": now,
        "ttl_ms": ttl_ms,
        "lease_until": now + LEASE,
        "result": None,
    }


class MemoryTaskStore(TaskStore):
    """``memory://``: this process's dict (one process; gone with it)."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create(self, owner: str, ttl_ms: int) -> dict[str, Any]:
        row = _record(owner, ttl_ms)
        now = time.time()
        with self._lock:
            for gone in [k for k, r in self._rows.items() if _past_ttl(r, now)]:
                del self._rows[gone]
            self._rows[row["id"]] = dict(row)
        return row

    def get(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._rows.get(task_id)
            if found is None or _past_ttl(found, time.time()):
                return None
            return dict(found)

    def finish(
        self, task_id: str, status: str, message: str | None, result: str | None = None
    ) -> bool:
        with self._lock:
            row = self._rows.get(task_id)
            if row is None or row["status"] != "working":
                return False
            row.update(status=status, message=message, result=result, updated_at=time.time())
            return True

    def renew(self, task_ids: list[str]) -> set[str]:
        until = time.time() + LEASE
        ended: set[str] = set()
        with self._lock:
            for task_id in task_ids:
                row = self._rows.get(task_id)
                if row is not None and row["status"] == "working":
                    row["lease_until"] = until
                else:
                    ended.add(task_id)
        return ended

    def lapse(self, task_id: str) -> bool:
        with self._lock:
            row = self._rows.get(task_id)
            now = time.time()
            if row is None or row["status"] != "working" or row["lease_until"] >= now:
                return False
            row.update(status="failed", message=STOPPED, updated_at=now)
            return True


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


class SQLiteTaskStore(TaskStore):
    """A table ``mcp_tasks`` in the approvals SQLite file (0600): every process on the file
    shares it; each change of state is one conditional ``UPDATE``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def create(self, owner: str, ttl_ms: int) -> dict[str, Any]:
        row = _record(owner, ttl_ms)
        with self._connect() as db:
            db.execute(  # finished tasks past their ttl go, as Redis expires them
                "DELETE FROM mcp_tasks WHERE status != 'working' "
                "AND updated_at + ttl_ms / 1000.0 < ?",
                (time.time(),),
            )
            db.execute(
                f"INSERT INTO mcp_tasks ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [row[c] for c in _COLUMNS],
            )
        return row

    def get(self, task_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            cursor = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM mcp_tasks WHERE id = ?", (task_id,)
            )
            values = cursor.fetchone()
        if values is None:
            return None
        row = dict(zip(_COLUMNS, values, strict=True))
        return None if _past_ttl(row, time.time()) else row

    def finish(
        self, task_id: str, status: str, message: str | None, result: str | None = None
    ) -> bool:
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE mcp_tasks SET status = ?, message = ?, result = ?, updated_at = ? "
                "WHERE id = ? AND status = 'working'",
                (status, message, result, time.time(), task_id),
            )
            return cursor.rowcount == 1

    def renew(self, task_ids: list[str]) -> set[str]:
        until = time.time() + LEASE
        ended: set[str] = set()
        with self._connect() as db:
            for task_id in task_ids:
                cursor = db.execute(
                    "UPDATE mcp_tasks SET lease_until = ? WHERE id = ? AND status = 'working'",
                    (until, task_id),
                )
                if cursor.rowcount != 1:
                    ended.add(task_id)
        return ended

    def lapse(self, task_id: str) -> bool:
        now = time.time()
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE mcp_tasks SET status = 'failed', message = ?, updated_at = ? "
                "WHERE id = ? AND status = 'working' AND lease_until < ?",
                (STOPPED, now, task_id, now),
            )
            return cursor.rowcount == 1


def _past_ttl(row: Mapping[str, Any], now: float) -> bool:
    """A finished task kept past its ttl (from when it ended): it reads as unknown, and the
    next task created removes it."""
    ended_at, ttl_ms = row.get("updated_at"), row.get("ttl_ms")
    if not isinstance(ended_at, int | float) or not isinstance(ttl_ms, int | float):
        return False  # a damaged record: ``read`` says so
    return bool(row.get("status") != "working" and ended_at + ttl_ms / 1000.0 < now)


#: What a damaged record reads as (its id and owner kept, so only its owner sees it).
_DAMAGED_ROW: Final[Mapping[str, Any]] = {
    "status": "failed",
    "message": "this task's record in the store is damaged (edited?): its result is not served",
    "created_at": 0.0,
    "updated_at": 0.0,
    "ttl_ms": MIN_TTL_MS,
    "lease_until": 0.0,
    "result": None,
}
_STATUSES: Final = frozenset({"working", *TERMINAL})  # what this server writes


def _damaged(row: Mapping[str, Any]) -> bool:
    """Whether a record's fields are not what a server writes: an unknown status, times or a
    ttl that are no numbers, a result that is not a JSON object, a message that is no text."""

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if row.get("status") not in _STATUSES or not all(
        number(row.get(k)) for k in ("created_at", "updated_at", "lease_until", "ttl_ms")
    ):
        return True
    if not (row.get("message") is None or isinstance(row.get("message"), str)):
        return True
    result = row.get("result")
    if result is None:
        return False
    try:
        return not isinstance(json.loads(result), dict)
    except (TypeError, ValueError):
        return True


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
            try:
                ended = await asyncio.to_thread(self.store.renew, ids)
            except Exception as exc:  # noqa: BLE001  # the store is away: try again next round
                # Leases not renewed run out; the tasks then read failed, as for a stopped
                # process, rather than working forever.
                _log.warning(
                    "toolwire_mcp.task_lease_not_renewed", tasks=len(ids), error=type(exc).__name__
                )
                continue
            for task_id in ended:
                run = self.running.get(task_id)
                if run is not None and await self._ended_elsewhere(task_id):
                    run.cancel()

    async def _ended_elsewhere(self, task_id: str) -> bool:
        """Whether a task no longer working was ended by another process (cancelled by a
        client there, or failed for a lease that ran out), not by its own run, which may have
        recorded its result a moment ago and still be telling the client."""
        try:
            row = await asyncio.to_thread(self.store.get, task_id)
        except Exception:  # noqa: BLE001  # the store is away: stop the run, as its lease will
            return True
        return row is None or row.get("status") == "cancelled" or row.get("message") == STOPPED

    def cancel(self, task_id: str) -> None:
        run = self.running.get(task_id)
        if run is not None:
            run.cancel()

    def stop(self) -> None:
        """The server stops: each task still running is recorded ``failed`` (``SHUTDOWN``)
        now, and its run cancelled (a task ends once: one that ended a moment ago keeps its
        end). A store that does not answer leaves the leases to run out."""
        for task_id, run in list(self.running.items()):
            with contextlib.suppress(Exception):
                self.store.finish(task_id, "failed", SHUTDOWN)
            run.cancel()

    def ended(self, task_id: str) -> None:
        """The run recorded its task's end: nothing renews or cancels it any more (what it
        still does, telling the client, must not be taken for a cancel seen at renewal)."""
        self.running.pop(task_id, None)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
