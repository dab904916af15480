"""Calls that wait for a person: approval records, held turns, and the stores that keep them.

A call whose permission walk ends in ``RequireApproval`` (or whose tool needs approval by
policy) does not run. It becomes an ``Approval``: an unguessable id, the call's id and tool,
its validated arguments as canonical JSON (sorted keys, no whitespace, UTF-8) with their
SHA-256 digest, the role and principal it came with, the reason, and an expiry. Every change
of state is one atomic claim in the store. A decision claims a waiting record (``pending``, or
``approved`` and not run) exactly once: to ``running`` to run it, or to ``rejected`` or
``expired``; its result is written exactly once. A run ends ``executed`` only when its tool
started; one that failed before (a before hook, an admission middleware, an executor that
could not take it, an audit trail that cannot be written) puts the record back to
``approved``, with no result, for the next ``approve`` to run. So two processes approving
one id run the tool once, and the one that lost the claim returns the stored result.

Decisions are matched by approval id, never by position; the permission walk is never run
again for an approved call, and its stored arguments are the only ones it can run with.

A response with a gated call is held as a turn: the other calls run at once and their items
are stored with it; ``resume`` returns every item, in call order, once every approval of the
turn is decided.

Stores (``[approvals] store``): ``sqlite:///PATH`` (standard library ``sqlite3``; the default
is a file in the platform's user state directory), ``memory://`` (this dispatcher only) and
``redis://`` (the ``redis`` client; several hosts share it).
"""

from __future__ import annotations

import abc
import asyncio
import collections
import dataclasses
import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from ._errors import ConfigError, RequireApproval, ToolError
from ._executors import UNTAKEN
from ._logging import log as _log
from ._loop import loop_running
from ._pipeline import Finished, refuse, run_call
from ._responses import provider_named
from ._serialize import to_json
from ._values import CallContext, DispatchResult, ToolCall

if TYPE_CHECKING:
    import sqlite3

    from ._logging import Redaction
    from ._plan import Plan, Route

#: Every state a record can be in.
STATUSES: Final = ("pending", "approved", "running", "rejected", "expired", "executed")
#: The states a decision (approve, reject, expire) can claim a record from: it waits.
WAITING: Final = ("pending", "approved")
#: Where an approval is kept when ``[approvals] store`` is not set: a file in this folder of
#: the platform's user state directory.
APP_NAME: Final = "toolwire"
_POLL_START: Final = 0.02
_POLL_MAX: Final = 0.5

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Approval:
    """One call waiting for (or decided by) a person. Times are Unix seconds (UTC).

    Attributes:
        id: Unguessable (``secrets.token_urlsafe``): the only handle a decision takes.
        call_id: The provider's id for the call.
        tool: The tool's name.
        arguments: The validated arguments as canonical JSON: exactly what runs on approval.
        digest: SHA-256 (hex) of the record's binding (tool, plugin, fingerprint, arguments,
            role, principal, call id, expiry) as canonical JSON, checked again before the
            call runs: an edited record never runs.
        role: The role the call was dispatched under.
        principal: The value of the host state's ``[approvals] principal_key``, as text.
        reason: Why a person must decide (the ``RequireApproval`` reason, or the policy).
        created_at: When the call asked.
        expires_at: When the approval lapses (``[approvals] ttl`` after ``created_at``): a
            call that has not run by then (``pending``, or ``approved``) never runs.
        status: ``pending`` (waits for a person); ``running`` (approved, and claimed by the
            process that runs it; the tool runs at most once); ``executed`` (the tool
            started: the stored result says how it ended, an error included); ``approved``
            (approved, but its run failed before the tool started: nothing ran, and the next
            ``approve`` runs it); ``rejected``; ``expired``.
        turn_id: The held turn the call belongs to, if it came in a held response.
        provider: The provider the turn's items are shaped for (with ``turn_id``).
        decided_by: Who approved or rejected it, the last to approve it when it was approved
            again (``None`` while pending, and when it expired).
        decided_at: When it was decided or expired.
        message: What the person said when rejecting it.
        plugin: The plugin that registered the tool that asked.
        fingerprint: SHA-256 (hex) of that tool's name, plugin and parameter schema: only a
            process whose tool of that name has the same fingerprint may run the call.
    """

    id: str
    call_id: str
    tool: str
    arguments: str
    digest: str
    role: str | None
    principal: str | None
    reason: str
    created_at: float
    expires_at: float
    status: str = "pending"
    turn_id: str | None = None
    provider: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    message: str | None = None
    plugin: str | None = None
    fingerprint: str | None = None

    def binding(self) -> str:
        """What ``digest`` covers, as canonical JSON."""
        return canonical_json(
            {
                "tool": self.tool,
                "plugin": self.plugin,
                "fingerprint": self.fingerprint,
                "arguments": self.arguments,
                "role": self.role,
                "principal": self.principal,
                "call_id": self.call_id,
                "expires_at": self.expires_at,
                "turn_id": self.turn_id,
                "provider": self.provider,
            }
        )

    def to_dict(self, redaction: Redaction | None = None) -> dict[str, Any]:
        """The record as JSON data, ``arguments`` parsed (as ``toolwire approvals list --json``).

        Args:
            redaction: What to hide, as the log hides it (``toolwire.types.Redaction``): the
                values of secret arguments, by key in ``arguments`` and wherever the
                arguments, the reason or the rejection message quote them.
        """
        data = dataclasses.asdict(self)
        data["arguments"] = json.loads(self.arguments)
        if redaction is not None:
            secrets = redaction.secret_values(data["arguments"])
            data["arguments"] = redaction.mask(redaction.redact(data["arguments"]), secrets)
            for text in ("reason", "message"):
                data[text] = redaction.mask(data[text], secrets)
        return data

    def __repr__(self) -> str:
        return f"<toolwire.Approval {self.id} tool={self.tool!r} status={self.status!r}>"

    def expired(self, now: float) -> bool:
        """Whether it waits (``pending``, or ``approved`` and not run) past its expiry."""
        return self.status in WAITING and now >= self.expires_at


#: The fields fixed when a record is made, stored as one JSON text.
_FIXED: Final = (
    "id", "call_id", "tool", "arguments", "digest", "role", "principal", "reason",
    "created_at", "expires_at", "turn_id", "provider", "plugin", "fingerprint",
)  # fmt: skip


class ApprovalError(Exception):
    """A host's request about approvals that cannot be met: an unknown id or turn, a turn not
    yet decided, or a store that failed.

    Attributes:
        pending: For ``resume``, the approvals of the turn still undecided (else empty).
    """

    def __init__(self, message: str, pending: Sequence[Approval] = ()) -> None:
        super().__init__(message)
        self.pending: tuple[Approval, ...] = tuple(pending)


class HeldTurn(list[Any]):
    """What ``process_response`` returns for a held turn: no items yet (append nothing).

    ``dispatcher.resume(turn_id)`` returns every item of the turn, as ``process_response``
    would have, once each of ``pending`` is decided.

    Attributes:
        turn_id: The turn's id, for ``resume``.
        pending: The approvals the turn waits for, in call order.
        ran: The items of the calls that ran (or were answered at once), in call order, as the
            provider formats one call's result: what happened, not yet to append (``resume``
            gives them again, in the turn's items).
    """

    def __init__(self, turn_id: str, pending: Sequence[Approval], ran: Sequence[Any] = ()) -> None:
        super().__init__()
        self.turn_id = turn_id
        self.pending: tuple[Approval, ...] = tuple(pending)
        self.ran: tuple[Any, ...] = tuple(ran)

    def __repr__(self) -> str:
        return f"<toolwire.HeldTurn {self.turn_id!r} pending={[a.id for a in self.pending]}>"


class Turn:
    """The calls of one batch, as far as approvals go: which ids repeat, whether a call waits.

    ``provider`` is set only for a response whose turn is held (``hold`` mode); the turn gets
    its id when its first call starts to wait, so a turn that never waits costs no id.
    """

    __slots__ = ("_counts", "_given", "_id", "calls", "held", "provider")

    def __init__(
        self,
        calls: Sequence[ToolCall],
        provider: str | None = None,
        given: Sequence[str | None] = (),
    ) -> None:
        self.calls = calls
        self.provider = provider
        #: The ids as the response gave them, where a provider gave a call a fresh one: a
        #: repeated id is still a repeat, though each call now has an id of its own.
        self._given = {
            call.call_id: original
            for call, original in zip(calls, given, strict=False)
            if original is not None
        }
        #: A call of this held turn waits for a person.
        self.held = False
        self._id: str | None = None
        self._counts: collections.Counter[str] | None = None

    @property
    def turn_id(self) -> str | None:
        """The held turn's id (``None`` when the batch is not held as a turn)."""
        if self.provider is None:
            return None
        if self._id is None:
            self._id = new_id("turn")
        return self._id

    def given_id(self, call_id: str) -> str:
        """The id the response gave the call (where the provider gave it a fresh one)."""
        return self._given.get(call_id, call_id)

    def repeats(self, call_id: str) -> int:
        """How many calls of the batch carried this call's id as given (counted on first need)."""
        given = self._given
        if self._counts is None:
            self._counts = collections.Counter(given.get(c.call_id, c.call_id) for c in self.calls)
        return self._counts[given.get(call_id, call_id)]


class _Answer(ToolError):
    """The error a gated or decided call ends with, carrying its approval record."""

    __slots__ = ("approval",)

    def __init__(self, message: str, *, approval: Approval, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.approval = approval


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII as is: one text for one value.

    Raises:
        ValueError: a value JSON cannot carry (``NaN``, an unknown type).
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def fingerprint_of(route: Route) -> str:
    """A tool's identity for approvals: its name, plugin and parameter schema, hashed."""
    tool = route.tool
    return digest_of(
        canonical_json({"name": tool.name, "plugin": route.plugin, "parameters": tool.parameters})
    )


def _check_runnable(plan: Plan, approval: Approval) -> None:
    """Only the tool that asked may run an approved call: same name, plugin and schema.

    Raises:
        ApprovalError: this process has no such tool, or another tool of that name; the
            record stays pending, to be decided where the tool is loaded.
    """
    route = plan.routes.get(approval.tool)
    if route is None:
        raise ApprovalError(
            f"approval {approval.id!r} is for {approval.tool!r}, which this process does not "
            f"load; decide it from a process that loads the same pack (it stays "
            f"{approval.status})"
        )
    if fingerprint_of(route) != approval.fingerprint:
        raise ApprovalError(
            f"approval {approval.id!r} is for {approval.tool!r} of plugin "
            f"{approval.plugin!r}; this process's {approval.tool!r} (plugin {route.plugin!r}) "
            "is another tool or another version of it; decide it from a process that loads "
            f"the same pack (it stays {approval.status})"
        )


def digest_of(text: str) -> str:
    """SHA-256 of the UTF-8 text, in hex."""
    import hashlib  # here, like sqlite3: only a host whose calls wait for a person loads it

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """An unguessable id: 128 random bits, URL-safe."""
    import secrets

    return f"{prefix}_{secrets.token_urlsafe(16)}"


# -- stores -----------------------------------------------------------------------------------


class Entry(NamedTuple):
    """A stored record, with its result and provider item (JSON texts) once written."""

    approval: Approval
    result: str | None
    item: str | None


class ApprovalStore(abc.ABC):
    """Where records and held turns live. Every method is plain and may block.

    ``claim``, ``release`` and ``complete`` are atomic: of any number of callers, in any
    processes sharing the store, at most one succeeds for a record.
    """

    #: Whether calls wait on I/O (async callers then run them on a thread).
    blocking: bool = True

    @abc.abstractmethod
    def add(self, approval: Approval) -> None:
        """Store a new pending record."""

    @abc.abstractmethod
    def get(self, approval_id: str) -> Entry | None:
        """The record, or ``None`` for an unknown id."""

    @abc.abstractmethod
    def claim(
        self,
        approval_id: str,
        status: str,
        by: str | None,
        at: float,
        message: str | None,
        *,
        overdue: bool,
        current: str = "pending",
    ) -> bool:
        """Move a record from ``current`` (a waiting state: ``pending``, or ``approved`` with
        no result) to ``status``: only if it is in that state, without a result, and overdue
        (for ``expired``) or not (for a decision) at ``at``. ``True`` for the one caller that
        did."""

    @abc.abstractmethod
    def release(self, approval_id: str) -> bool:
        """Put a ``running`` record without a result back to ``approved`` (its run failed
        before the tool started). ``True`` for the one caller that did."""

    @abc.abstractmethod
    def complete(self, approval_id: str, status: str, result: str, item: str | None) -> bool:
        """Write the result once: ``running`` becomes ``executed`` (or ``approved``, for a
        record that may never run); rejected and expired keep their status. ``True`` for the
        one caller that did."""

    @abc.abstractmethod
    def records(self, status: str | None) -> list[Approval]:
        """Records with that status (all when ``None``), oldest first."""

    @abc.abstractmethod
    def add_turn(self, turn_id: str, data: str) -> None:
        """Store a held turn (JSON text)."""

    @abc.abstractmethod
    def get_turn(self, turn_id: str) -> str | None:
        """A held turn's JSON text, or ``None``."""

    @abc.abstractmethod
    def mark_resumed(self, turn_id: str, at: float) -> float | None:
        """Mark a held turn resumed at ``at``, once: ``None`` for the one caller that did,
        else when it was marked."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of connections."""


def _before(status: str) -> str:
    """The status a record must have for its result to be written with ``status``."""
    return "running" if status in ("executed", "approved") else status


def _approval(fixed: str, **state: Any) -> Approval:
    return Approval(**json.loads(fixed), **state)


def _fixed(approval: Approval) -> str:
    return json.dumps({name: getattr(approval, name) for name in _FIXED}, ensure_ascii=False)


class MemoryStore(ApprovalStore):
    """In this process only, for tests and examples (``memory://``)."""

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._turns: dict[str, str] = {}
        self._resumed: dict[str, float] = {}

    def add(self, approval: Approval) -> None:
        with self._lock:
            self._rows[approval.id] = {"approval": approval, "result": None, "item": None}

    def get(self, approval_id: str) -> Entry | None:
        with self._lock:
            row = self._rows.get(approval_id)
            return None if row is None else Entry(row["approval"], row["result"], row["item"])

    def claim(
        self,
        approval_id: str,
        status: str,
        by: str | None,
        at: float,
        message: str | None,
        *,
        overdue: bool,
        current: str = "pending",
    ) -> bool:
        with self._lock:
            row = self._rows.get(approval_id)
            if row is None or row["result"] is not None:
                return False
            approval: Approval = row["approval"]
            if approval.status != current or (at >= approval.expires_at) != overdue:
                return False
            row["approval"] = dataclasses.replace(
                approval, status=status, decided_by=by, decided_at=at, message=message
            )
            return True

    def release(self, approval_id: str) -> bool:
        with self._lock:
            row = self._rows.get(approval_id)
            if row is None or row["result"] is not None or row["approval"].status != "running":
                return False
            row["approval"] = dataclasses.replace(row["approval"], status="approved")
            return True

    def complete(self, approval_id: str, status: str, result: str, item: str | None) -> bool:
        with self._lock:
            row = self._rows.get(approval_id)
            if row is None or row["result"] is not None:
                return False
            if row["approval"].status != _before(status):
                return False
            row.update(
                approval=dataclasses.replace(row["approval"], status=status),
                result=result,
                item=item,
            )
            return True

    def records(self, status: str | None) -> list[Approval]:
        with self._lock:
            found = [row["approval"] for row in self._rows.values()]
        return sorted(
            (a for a in found if status is None or a.status == status),
            key=lambda a: (a.created_at, a.id),
        )

    def add_turn(self, turn_id: str, data: str) -> None:
        with self._lock:
            self._turns[turn_id] = data

    def get_turn(self, turn_id: str) -> str | None:
        with self._lock:
            return self._turns.get(turn_id)

    def mark_resumed(self, turn_id: str, at: float) -> float | None:
        with self._lock:
            if turn_id in self._resumed:
                return self._resumed[turn_id]
            self._resumed[turn_id] = at
            return None

    def close(self) -> None:
        """Nothing to let go of: the records live as long as the dispatcher."""


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

    def claim(
        self,
        approval_id: str,
        status: str,
        by: str | None,
        at: float,
        message: str | None,
        *,
        overdue: bool,
        current: str = "pending",
    ) -> bool:
        with self._connect() as db:
            done = db.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, message = ?"
                " WHERE id = ? AND status = ? AND result IS NULL AND (expires_at <= ?) = ?",
                (status, by, at, message, approval_id, current, at, int(overdue)),
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


class _Closing:
    """A connection that closes at the end of its ``with`` (sqlite3's own only commits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


#: KEYS: the record, the set of its status now, the set of the new status.
#: ARGV: id, new status, by, at, message, "1" to expire (only overdue) or "0" (only not),
#: status now.
_CLAIM_LUA: Final = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[7] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
local overdue = tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[4])
if overdue ~= (ARGV[6] == '1') then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4],
           'message', ARGV[5])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""
#: KEYS: the record, the running set, the approved set. ARGV: id.
_RELEASE_LUA: Final = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'approved')
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""
#: KEYS: the record, the set of its status now, the set of the new status.
#: ARGV: id, status now, new status, result, item.
_COMPLETE_LUA: Final = """
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'result', ARGV[4], 'item', ARGV[5])
if ARGV[2] ~= ARGV[3] then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], score, ARGV[1])
end
return 1
"""


class RedisStore(ApprovalStore):
    """Redis (``redis://HOST:PORT/DB``): every host that shares the server shares approvals.

    A record is a hash; a sorted set per status (scored by creation time) lists them; claims
    and result writes are Lua scripts, so each is one atomic step on the server.
    """

    PREFIX: Final = "toolwire:approvals:"

    def __init__(self, url: str) -> None:
        import redis

        # Any: the nox type check runs without the optional redis package installed.
        self._client: Any = redis.Redis.from_url(url, decode_responses=True)
        self._claim = self._client.register_script(_CLAIM_LUA)
        self._release = self._client.register_script(_RELEASE_LUA)
        self._complete = self._client.register_script(_COMPLETE_LUA)

    def _key(self, approval_id: str) -> str:
        return f"{self.PREFIX}record:{approval_id}"

    def _set(self, status: str) -> str:
        return f"{self.PREFIX}status:{status}"

    def add(self, approval: Approval) -> None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._key(approval.id),
                mapping={
                    "fixed": _fixed(approval),
                    "status": approval.status,
                    "expires_at": repr(approval.expires_at),
                },
            )
            pipe.zadd(self._set(approval.status), {approval.id: approval.created_at})
            pipe.execute()

    def get(self, approval_id: str) -> Entry | None:
        row = self._client.hgetall(self._key(approval_id))
        if not row:
            return None
        return Entry(self._from_row(row), row.get("result"), row.get("item") or None)

    def _from_row(self, row: Mapping[str, str]) -> Approval:
        at = row.get("decided_at")
        return _approval(
            row["fixed"],
            status=row["status"],
            decided_by=row.get("decided_by") or None,
            decided_at=float(at) if at else None,
            message=row.get("message") or None,
        )

    def claim(
        self,
        approval_id: str,
        status: str,
        by: str | None,
        at: float,
        message: str | None,
        *,
        overdue: bool,
        current: str = "pending",
    ) -> bool:
        keys = [self._key(approval_id), self._set(current), self._set(status)]
        args = [
            approval_id, status, by or "", repr(at), message or "", "1" if overdue else "0",
            current,
        ]  # fmt: skip
        return bool(self._claim(keys=keys, args=args))

    def release(self, approval_id: str) -> bool:
        keys = [self._key(approval_id), self._set("running"), self._set("approved")]
        return bool(self._release(keys=keys, args=[approval_id]))

    def complete(self, approval_id: str, status: str, result: str, item: str | None) -> bool:
        before = _before(status)
        keys = [self._key(approval_id), self._set(before), self._set(status)]
        args = [approval_id, before, status, result, item or ""]
        return bool(self._complete(keys=keys, args=args))

    def records(self, status: str | None) -> list[Approval]:
        statuses = STATUSES if status is None else (status,)
        ids: list[tuple[float, str]] = []
        for name in statuses:
            ids += [(s, i) for i, s in self._client.zrange(self._set(name), 0, -1, withscores=True)]
        with self._client.pipeline(transaction=False) as pipe:
            for _, approval_id in sorted(ids):
                pipe.hgetall(self._key(approval_id))
            rows = pipe.execute()
        found = [self._from_row(row) for row in rows if row]
        return [a for a in found if status is None or a.status == status]

    def add_turn(self, turn_id: str, data: str) -> None:
        self._client.set(f"{self.PREFIX}turn:{turn_id}", data)

    def get_turn(self, turn_id: str) -> str | None:
        data = self._client.get(f"{self.PREFIX}turn:{turn_id}")
        return None if data is None else str(data)

    def mark_resumed(self, turn_id: str, at: float) -> float | None:
        key = f"{self.PREFIX}resumed:{turn_id}"
        if self._client.set(key, repr(at), nx=True):
            return None
        return float(self._client.get(key))

    def close(self) -> None:
        self._client.close()


def default_store_path() -> Path:
    """The SQLite file of ``[approvals]`` without ``store``: in the user state directory."""
    import platformdirs

    return platformdirs.user_state_path(APP_NAME, appauthor=False) / "approvals.sqlite3"


def open_store(url: str | None) -> ApprovalStore:
    """The store a URL names; ``None`` is a SQLite file in the user state directory.

    ``sqlite:///PATH`` takes a relative path (``sqlite:////var/lib/x.db`` for an absolute
    one), as SQLAlchemy spells it.

    Raises:
        ConfigError: an unknown scheme, or ``redis://`` without the ``redis`` package.
    """
    if url is None:
        return SQLiteStore(default_store_path())
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url)
    raise ConfigError(
        f"[approvals] store = {url!r}: expected sqlite:///PATH, memory:// or redis://"
    )


def check_store_url(url: str | None) -> None:
    """Fail at start for a store that cannot work here (a Redis URL without ``redis``).

    Raises:
        ConfigError: naming the missing package and how to install it.
    """
    if url is not None and url.startswith(("redis://", "rediss://")):
        import importlib.util

        if importlib.util.find_spec("redis") is None:
            raise ConfigError(
                f"[approvals] store = {url!r} needs the redis package: "
                "pip install 'toolwire[redis]'"
            )


# -- the approvals of one dispatcher ----------------------------------------------------------


class Approvals:
    """One dispatcher's approvals: the pipeline's gate, and what the host's API does.

    Nothing is opened until a call needs approval or the host asks about approvals.

    Args:
        settings: The ``[approvals]`` table, defaults filled in.
        resolve: Resolves a relative path the way the config that named it says
            (``Config.resolve_path``); without it, against the working directory.

    Raises:
        ConfigError: a Redis store without the ``redis`` package installed.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        resolve: Callable[[str, str], Path] | None = None,
    ) -> None:
        self.url: str | None = settings.get("store")
        if resolve is not None and self.url is not None and self.url.startswith("sqlite:///"):
            # A relative file is relative to the config that names it, not the working directory.
            named = self.url.removeprefix("sqlite:///")
            if named:
                self.url = f"sqlite:///{resolve(named, 'approvals.store')}"
        self.ttl = float(settings["ttl"])
        self.mode: str = settings["mode"]
        self.principal_key: str = settings["principal_key"]
        check_store_url(self.url)
        self._store: ApprovalStore | None = None
        self._lock = threading.Lock()

    def store(self) -> ApprovalStore:
        """The store, opened on first use."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url)
            return self._store

    async def _io(self, operation: Callable[[ApprovalStore], T]) -> T:
        """A store operation, on a thread when it may block (a file, a server).

        Without a running loop (a call the pipeline drives inline in the caller's thread) it
        runs right there, as everything else on that path does.

        Raises:
            ApprovalError: the store failed (it cannot be opened, or an operation failed).
        """
        try:
            if self.url == "memory://" or not loop_running():
                return operation(self.store())
            return await asyncio.to_thread(lambda: operation(self.store()))
        except ConfigError:
            raise
        except Exception as exc:  # a file or a server: whatever it raises, the host is told
            raise ApprovalError(f"the approval store failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def turn(
        self,
        calls: Sequence[ToolCall],
        provider: str | None = None,
        given: Sequence[str | None] = (),
    ) -> Turn:
        """The approval side of a batch; held as a turn for ``provider`` in ``hold`` mode.

        ``given`` holds, per call, the id the response gave it where the provider gave the
        call a fresh one (``ParsedCall.given_id``).
        """
        return Turn(calls, provider if self.mode == "hold" else None, given)

    # -- the gate (stage 4 of the pipeline) -----------------------------------------------------

    async def hold(
        self,
        route: Route,
        call: ToolCall,
        context: CallContext,
        asked: RequireApproval | None,
        turn: Turn | None,
    ) -> ToolError:
        """Record the call as waiting; return the error that ends it now."""
        refused = _repeated(call, turn)
        if refused is not None:
            return refused
        try:
            approval = self._record(route, call, context, asked, turn)
            await self._io(lambda store: store.add(approval))
        except Exception as exc:  # noqa: BLE001 - fail closed: an unrecorded call never runs
            return _unrecorded(call, exc)
        return _waiting(approval, turn)

    def _record(
        self,
        route: Route,
        call: ToolCall,
        context: CallContext,
        asked: RequireApproval | None,
        turn: Turn | None,
    ) -> Approval:
        arguments = canonical_json(call.arguments)
        principal = context.state.get(self.principal_key) if context.state else None
        now = time.time()
        approval = Approval(
            id=new_id("apr"),
            call_id=call.call_id,
            tool=route.tool.name,
            arguments=arguments,
            digest="",
            role=context.role,
            principal=None if principal is None else str(principal),
            reason=asked.reason if asked is not None else "its policy requires approval",
            created_at=now,
            expires_at=now + self.ttl,
            turn_id=turn.turn_id if turn is not None else None,
            provider=turn.provider if turn is not None else None,
            plugin=route.plugin,
            fingerprint=fingerprint_of(route),
        )
        return dataclasses.replace(approval, digest=digest_of(approval.binding()))

    # -- held turns -----------------------------------------------------------------------------

    async def hold_turn(self, turn: Turn, response: Any, done: Sequence[Finished]) -> HeldTurn:
        """Store the turn: the items of the calls that ran, the approval ids of those that wait.

        Raises:
            ApprovalError: the store failed (the approvals are recorded, the turn is not).
        """
        turn_id = turn.turn_id
        assert turn_id is not None and turn.provider is not None
        calls: list[dict[str, Any]] = []
        pending: list[Approval] = []  # in call order: gated calls finish in any order
        ran: list[Any] = []
        for finished in done:
            approval = finished.result.approval
            if approval is not None and approval.turn_id == turn_id:
                calls.append({"call_id": finished.call.call_id, "approval": approval.id})
                pending.append(approval)
            else:
                calls.append({"call_id": finished.call.call_id, "item": finished.item})
                ran.append(finished.item)
        data = {"id": turn_id, "provider": turn.provider, "response": response, "calls": calls}
        try:
            text = _json_text(data)
            await self._io(lambda store: store.add_turn(turn_id, text))
        except Exception as exc:  # the host is told, with the cause
            raise ApprovalError(f"turn {turn_id} could not be stored: {exc}") from exc
        return HeldTurn(turn_id, pending, ran)

    async def resume(self, plan: Plan, turn_id: str, once: bool = False) -> list[Any]:
        """Every item of a held turn, in call order, once every approval is decided.

        With ``once``, the turn is marked resumed in the store as its items are returned, and
        a later ``once`` resume, from any process sharing the store, is refused: its items are
        handed out one time (``toolwire approvals resume``).

        Raises:
            ApprovalError: an unknown turn, one with approvals still undecided (named, and in
                ``pending``), or (with ``once``) one resumed so before.
        """
        text = await self._io(lambda store: store.get_turn(turn_id))
        if text is None:
            raise ApprovalError(f"no held turn {turn_id!r} in the approval store")
        data = json.loads(text)
        provider = provider_named(plan.providers, data["provider"])
        items: list[Any] = []
        waiting: list[Approval] = []
        for entry in data["calls"]:
            if entry.get("approval") is None:
                items.append(entry["item"])
                continue
            found = await self._entry(entry["approval"])
            if found.approval.expired(time.time()):
                await self._expire(plan, found.approval)
                found = await self._entry(entry["approval"])
            if found.result is None:
                waiting.append(found.approval)
                continue
            items.append(json.loads(found.item) if found.item is not None else None)
        if waiting:
            names = ", ".join(f"{a.id} ({a.tool}, {_state_of(a)})" for a in waiting)
            raise ApprovalError(f"turn {turn_id} still waits for: {names}", waiting)
        turn_items = provider.conversation_items(provider.parse_response(data["response"]), items)
        if once:
            now = time.time()
            before = await self._io(lambda store: store.mark_resumed(turn_id, now))
            if before is not None:
                stamp = datetime.datetime.fromtimestamp(before, datetime.UTC)
                raise ApprovalError(
                    f"turn {turn_id} was already resumed at {stamp.isoformat(timespec='seconds')}; "
                    "its items were handed out then, and a turn is resumed once"
                )
        return turn_items

    # -- decisions ------------------------------------------------------------------------------

    async def approve(
        self,
        plan: Plan,
        approval_id: str,
        by: str,
        state: Mapping[str, Any] | None,
        wait: float,
    ) -> DispatchResult:
        """Run the stored call once; any later approve (or reject) gets the stored result.

        A run that fails before its tool starts leaves the record ``approved``, without a
        result: the next ``approve`` runs it.
        """
        claimed = await self._decide(plan, approval_id, "running", by, None, wait)
        if isinstance(claimed, DispatchResult):
            return claimed
        return await self._execute(plan, claimed, state)

    async def reject(
        self, plan: Plan, approval_id: str, by: str, message: str | None, wait: float
    ) -> DispatchResult:
        """End a waiting call with ``approval_denied``; a decided one keeps its result."""
        decided = await self._decide(plan, approval_id, "rejected", by, message, wait)
        if isinstance(decided, DispatchResult):
            return decided
        told = f"a person rejected this call to {decided.tool}"
        told += f": {message}" if message else ""
        error = _Answer(
            f"{told}. Do not retry it; go on without it, or ask the user.",
            kind="approval_denied",
            approval=decided,
        )
        return await self._end(plan, decided, error)

    async def _decide(
        self,
        plan: Plan,
        approval_id: str,
        status: str,
        by: str,
        message: str | None,
        wait: float,
    ) -> Approval | DispatchResult:
        """Claim a waiting record for ``status`` (``running``, to run it, or ``rejected``).

        Returns:
            The claimed record when this caller won it; else the stored result: of a record
            decided before, or expired here (overdue), or of a run under way elsewhere, waited
            for up to ``wait`` seconds.

        Raises:
            ApprovalError: this process cannot run the call (the record keeps waiting), or no
                result after ``wait`` seconds.
        """
        _check_by(by)
        delay = _POLL_START
        deadline = time.monotonic() + wait
        while True:
            found = await self._entry(approval_id)
            approval = found.approval
            if found.result is not None:
                return _result_from(found.result, approval)
            if approval.status in WAITING:
                _check_runnable(plan, approval)  # before the claim: a refusal leaves it waiting
                if approval.provider is not None:
                    provider_named(plan.providers, approval.provider)  # before the claim too
                now = time.time()
                if approval.expired(now):
                    expired = await self._expire(plan, approval)
                    if expired is not None:
                        return expired
                    continue

                def claim(
                    store: ApprovalStore, at: float = now, was: str = approval.status
                ) -> bool:
                    return store.claim(
                        approval_id, status, by, at, message, overdue=False, current=was
                    )

                if await self._io(claim):
                    return dataclasses.replace(
                        approval, status=status, decided_by=by, decided_at=now, message=message
                    )
                continue  # lost: decided elsewhere, or it lapsed a moment ago; look again
            if time.monotonic() >= deadline:
                raise ApprovalError(
                    f"approval {approval_id} is {_state_of(approval)} and has no result yet: "
                    "it is running elsewhere, or the process running it stopped (it ran at "
                    "most once)"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    async def records(self, plan: Plan, status: str | None) -> list[Approval]:
        """The records with that status (all when ``None``), oldest first; overdue ones are
        expired first, so what is listed as waiting can still be decided."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        now = time.time()

        def waiting(store: ApprovalStore) -> list[Approval]:
            return [a for state in WAITING for a in store.records(state)]

        for approval in await self._io(waiting):
            if approval.expired(now):
                await self._expire(plan, approval)
        return await self._io(lambda store: store.records(status))

    # -- helpers --------------------------------------------------------------------------------

    async def _entry(self, approval_id: str) -> Entry:
        found = await self._io(lambda store: store.get(approval_id))
        if found is None:
            raise ApprovalError(f"no approval {approval_id!r} in the approval store")
        return found

    async def _execute(
        self, plan: Plan, claimed: Approval, state: Mapping[str, Any] | None
    ) -> DispatchResult:
        """Run a call claimed for running from its stored arguments.

        Its outcome is stored (``executed``) once the tool started, whatever happened after;
        a run that ended before the tool started (nothing ran) puts the record back to
        ``approved``, without a result, and returns that run's result.
        """
        if state is None:
            state = {} if claimed.principal is None else {self.principal_key: claimed.principal}
        provider = provider_named(plan.providers, claimed.provider) if claimed.provider else None
        # What the call's hooks and observers see: the decision that lets it run.
        approval = dataclasses.replace(claimed, status="approved")
        if digest_of(approval.binding()) != approval.digest:
            _log.error("toolwire.approval_tampered", approval_id=approval.id, tool=approval.tool)
            error = _Answer(
                "the stored arguments of this call do not match their digest; it was not run",
                kind="internal_error",
                approval=approval,
            )
            return await self._end(plan, approval, error, state)  # stored: it never runs
        call = ToolCall(approval.tool, json.loads(approval.arguments), approval.call_id)
        context = CallContext(call.call_id, None, approval.role, state)
        untaken = [0]  # attempts an executor could not take: they started nothing
        token = UNTAKEN.set(untaken)
        try:
            finished = await run_call(
                plan, call, approval.role, state, provider=provider, approved=approval,
                context=context,
            )  # fmt: skip
        except BaseException:  # the caller's own cancellation: run_call raises nothing else
            if context.attempt <= untaken[0]:
                self._release_quietly(approval)
            raise
        finally:
            UNTAKEN.reset(token)
        if context.attempt > untaken[0]:
            return await self._complete(approval, "executed", finished)
        return await self._release(approval, finished)

    async def _release(self, approval: Approval, finished: Finished) -> DispatchResult:
        """A run that ended before its tool started: the record waits again (``approved``)."""
        result = finished.result
        error = result.error
        _log.warning(
            "toolwire.approval_not_run",
            approval_id=approval.id,
            tool=approval.tool,
            error_kind=error.kind if error is not None else None,
            detail="the approved call ended before its tool started; it stays approved, and "
            "the next approve runs it",
        )
        if not await self._io(lambda s: s.release(approval.id)):
            _log.error("toolwire.approval_release_failed", approval_id=approval.id)
        result.approval = approval
        return result

    def _release_quietly(self, approval: Approval) -> None:
        """``_release`` for a run its caller cancelled before the tool started: right here,
        without awaiting (the caller's cancellation goes on)."""
        try:
            released = self.store().release(approval.id)
        except Exception as exc:  # noqa: BLE001 - the cancellation is what the caller must see
            _log.error("toolwire.approval_release_failed", approval_id=approval.id, exc_info=exc)
            return
        if not released:
            _log.error("toolwire.approval_release_failed", approval_id=approval.id)

    async def _expire(self, plan: Plan, approval: Approval) -> DispatchResult | None:
        """End an overdue approval with ``approval_expired``; ``None`` if another did first."""
        now = time.time()
        if not await self._io(
            lambda s: s.claim(
                approval.id, "expired", None, now, None, overdue=True, current=approval.status
            )
        ):
            return None
        expired = dataclasses.replace(approval, status="expired", decided_by=None, decided_at=now)
        error = _Answer(
            f"nobody decided on this call to {approval.tool} before its approval expired; "
            "it was not run",
            kind="approval_expired",
            approval=expired,
        )
        return await self._end(plan, expired, error)

    async def _end(
        self,
        plan: Plan,
        approval: Approval,
        error: _Answer,
        state: Mapping[str, Any] | None = None,
    ) -> DispatchResult:
        """Answer a call that will not run (rejected, expired, tampered): observers see it;
        store it."""
        provider = provider_named(plan.providers, approval.provider) if approval.provider else None
        call = ToolCall(approval.tool, json.loads(approval.arguments), approval.call_id)
        finished = await refuse(plan, call, approval.role, state or {}, error, provider)
        return await self._complete(approval, approval.status, finished)

    async def _complete(
        self, approval: Approval, status: str, finished: Finished
    ) -> DispatchResult:
        result = finished.result
        final = dataclasses.replace(approval, status=status)
        result_text = _result_text(result)
        item_text = _json_text(finished.item) if approval.turn_id is not None else None
        await self._io(lambda s: s.complete(approval.id, status, result_text, item_text))
        result.approval = final
        return result


def _check_by(by: str) -> None:
    if not isinstance(by, str) or not by.strip():
        raise ValueError("by= names who decides (a person or an account); it cannot be empty")


def _state_of(approval: Approval) -> str:
    if approval.status == "running":
        return f"approved by {approval.decided_by}, running"
    if approval.status == "approved":
        return (
            f"approved by {approval.decided_by}, not run: its run failed before the tool "
            "started; approve it again to run it"
        )
    return approval.status


def _repeated(call: ToolCall, turn: Turn | None) -> ToolError | None:
    """A gated call whose id repeats in its batch is refused: a decision could not say which."""
    if turn is None:
        return None
    count = turn.repeats(call.call_id)
    if count < 2:
        return None
    given = turn.given_id(call.call_id)[:64]
    return ToolError(
        f"this call needs a person's approval, but its call id {given!r} appears "
        f"{count} times in the response, so no decision could name it; it was not run",
        kind="permission_denied",
        retryable=True,
        details={"repeated_call_id": given},
    )


def _unrecorded(call: ToolCall, exc: Exception) -> ToolError:
    _log.error("toolwire.approval_store_failed", tool=call.name, call_id=call.call_id, exc_info=exc)
    return ToolError(
        "this call needs a person's approval, but the request could not be recorded; "
        "it was not run",
        kind="internal_error",
    )


def _waiting(approval: Approval, turn: Turn | None) -> _Answer:
    if approval.turn_id is not None and turn is not None:
        turn.held = True
    return _Answer(
        f"{approval.tool} needs a person's approval before it runs ({approval.reason}); "
        f"it has not run. Approval id: {approval.id}",
        kind="approval_required",
        details={"approval_id": approval.id, "expires_at": approval.expires_at},
        approval=approval,
    )


def _plain(value: Any) -> Any:
    """JSON for an SDK object a format hook returned (the way ``to_plain`` dumps responses)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_unset=True)
    raise TypeError(f"a {type(value).__qualname__} cannot be stored as JSON")


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _result_text(result: DispatchResult) -> str:
    value = None
    if result.success:
        try:
            value = json.loads(to_json(result.result))
        except ToolError:
            value = None  # the output text holds what the model read
    error = result.error
    return json.dumps(
        {
            "success": result.success,
            "call_id": result.call_id,
            "name": result.name,
            "result": value,
            "error": None
            if error is None
            else {
                "message": error.message,
                "kind": error.kind,
                "retryable": error.retryable,
                "details": error.details,
            },
            "elapsed_ms": result.elapsed_ms,
            "attempts": result.attempts,
            "output": result.output,
        },
        ensure_ascii=False,
    )


def _result_from(text: str, approval: Approval) -> DispatchResult:
    data = json.loads(text)
    error = data["error"]
    return DispatchResult(
        data["success"],
        data["call_id"],
        data["name"],
        data["result"],
        None
        if error is None
        else ToolError(
            error["message"],
            kind=error["kind"],
            retryable=error["retryable"],
            details=error["details"],
        ),
        data["elapsed_ms"],
        data["attempts"],
        data["output"],
        approval,
    )
