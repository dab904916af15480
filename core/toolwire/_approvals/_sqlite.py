"""``sqlite:///PATH``: approvals in a SQLite file (standard library ``sqlite3``), shared by the
processes of one machine; the file 0600 in a folder 0700."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from .._logging import log as _log
from ._records import Approval
from ._store import ApprovalStore, Claim, Entry, _approval, _before, _fixed

if TYPE_CHECKING:
    import sqlite3


_SQLITE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    fixed TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    message TEXT,
    result TEXT,
    item TEXT
);
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, created_at);
CREATE TABLE IF NOT EXISTS turns (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resumed_turns (id TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class _Closing:
    """A connection that closes at the end of its ``with`` (sqlite3's own only commits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


class SQLiteStore(ApprovalStore):
    """A SQLite file (``sqlite:///PATH``): one host, any number of processes.

    Each operation opens its own connection, so threads and forked processes never share
    one; each claim is a single conditional ``UPDATE``, whose row count says who won.

    The file holds the calls' arguments: it is created 0600 (SQLite gives its ``-wal``,
    ``-shm`` and journal files the file's mode), and each folder made for it 0700, whatever
    the umask. A file or folder that already exists keeps its mode; a file others may read
    is logged (``toolwire.approvals_store_exposed``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        _private_folder(path.parent)
        _private_file(path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SQLITE_SCHEMA)

    def _connect(self) -> _Closing:
        import sqlite3  # here: a host that keeps approvals elsewhere never loads it

        # Autocommit: every statement is its own transaction. Waits up to 30 s for a writer.
        return _Closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def add(self, approval: Approval) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO approvals (id, fixed, status, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    approval.id,
                    _fixed(approval),
                    approval.status,
                    approval.created_at,
                    approval.expires_at,
                ),
            )

    def get(self, approval_id: str) -> Entry | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT fixed, status, decided_by, decided_at, message, result, item"
                " FROM approvals WHERE id = ?",
                (approval_id,),
            ).fetchone()
        if row is None:
            return None
        fixed, status, by, at, message, result, item = row
        approval = _approval(fixed, status=status, decided_by=by, decided_at=at, message=message)
        return Entry(approval, result, item)

    def _claim(self, claim: Claim) -> bool:
        approval_id, status, by, at, message, overdue, current, keep = claim
        where = " WHERE id = ? AND status = ? AND result IS NULL AND (expires_at <= ?) = ?"
        found = (approval_id, current, at, int(overdue))
        with self._connect() as db:
            if keep:
                done = db.execute("UPDATE approvals SET status = ?" + where, (status, *found))
            else:
                done = db.execute(
                    "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, message = ?"
                    + where,
                    (status, by, at, message, *found),
                )
            return done.rowcount == 1

    def release(self, approval_id: str) -> bool:
        with self._connect() as db:
            done = db.execute(
                "UPDATE approvals SET status = 'approved'"
                " WHERE id = ? AND status = 'running' AND result IS NULL",
                (approval_id,),
            )
            return done.rowcount == 1

    def complete(self, approval_id: str, status: str, result: str, item: str | None) -> bool:
        with self._connect() as db:
            done = db.execute(
                "UPDATE approvals SET status = ?, result = ?, item = ?"
                " WHERE id = ? AND status = ? AND result IS NULL",
                (status, result, item, approval_id, _before(status)),
            )
            return done.rowcount == 1

    def records(self, status: str | None) -> list[Approval]:
        query = "SELECT fixed, status, decided_by, decided_at, message FROM approvals"
        where, values = (" WHERE status = ?", (status,)) if status is not None else ("", ())
        with self._connect() as db:
            rows = db.execute(query + where + " ORDER BY created_at, id", values).fetchall()
        return [
            _approval(fixed, status=state, decided_by=by, decided_at=at, message=message)
            for fixed, state, by, at, message in rows
        ]

    def add_turn(self, turn_id: str, data: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO turns (id, data) VALUES (?, ?)", (turn_id, data))

    def get_turn(self, turn_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT data FROM turns WHERE id = ?", (turn_id,)).fetchone()
        return None if row is None else str(row[0])

    def mark_resumed(self, turn_id: str, at: float) -> float | None:
        with self._connect() as db:
            done = db.execute(
                "INSERT OR IGNORE INTO resumed_turns (id, at) VALUES (?, ?)", (turn_id, at)
            )
            if done.rowcount == 1:
                return None
            row = db.execute("SELECT at FROM resumed_turns WHERE id = ?", (turn_id,)).fetchone()
        return float(row[0])

    def close(self) -> None:
        """Nothing to let go of: each operation closes its own connection."""


def _private_folder(folder: Path) -> None:
    """Make ``folder`` and its missing parents, each 0700 (an existing one is left as it is)."""
    import os

    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o700)
        except FileExistsError:  # another process made it first: it keeps its mode
            continue
        os.chmod(made, 0o700)  # the umask may have taken bits off (or the 0700 is the point)


def _private_file(path: Path) -> None:
    """Create the store file 0600 before SQLite writes a byte in it; keep an existing one.

    An empty file is an empty database to SQLite, and SQLite creates the ``-wal``, ``-shm``
    and journal files with the database file's mode.
    """
    import os
    import stat

    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            _log.warning(
                "toolwire.approvals_store_exposed",
                path=str(path),
                mode=oct(stat.S_IMODE(mode)),
                fix=f"chmod 600 {path}",
            )
        return
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took off
    finally:
        os.close(fd)
