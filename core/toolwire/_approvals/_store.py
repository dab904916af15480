"""What every approvals store does (``ApprovalStore``), and the helpers the stores share."""

from __future__ import annotations

import abc
import json
from typing import Any, NamedTuple

from ._records import _FIXED, Approval


class Entry(NamedTuple):
    """A stored record, with its result and provider item (JSON texts) once written."""

    approval: Approval
    result: str | None
    item: str | None


class Claim(NamedTuple):
    """One decision's claim on a record: move ``approval_id`` from ``current`` to ``status``,
    decided ``by`` at ``at`` (Unix seconds) with ``message``, if it is ``overdue`` (or not).

    With ``keep``, only the status changes: ``decided_by``, ``decided_at`` and ``message``
    stay as the person's decision wrote them (a host running a call a person approved);
    ``at`` is then only the moment the expiry is checked at."""

    approval_id: str
    status: str
    by: str | None
    at: float
    message: str | None
    overdue: bool
    current: str
    keep: bool = False


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
        keep: bool = False,
    ) -> bool:
        """Move a record from ``current`` (a waiting state: ``pending``, or ``approved`` with
        no result) to ``status``: only if it is in that state, without a result, and overdue
        (for ``expired``) or not (for a decision) at ``at``. ``True`` for the one caller that
        did. With ``keep``, who decided and when are left as they are (``Claim.keep``).

        The decision itself is ``Claim``'s fields; each store makes it one atomic step
        (``_claim``)."""
        return self._claim(Claim(approval_id, status, by, at, message, overdue, current, keep))

    @abc.abstractmethod
    def _claim(self, claim: Claim) -> bool:
        """``claim``, atomically, in this store."""

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
