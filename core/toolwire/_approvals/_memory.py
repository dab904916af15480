"""``memory://``: the approvals of this dispatcher only, gone when it closes."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from ._records import Approval
from ._store import ApprovalStore, Claim, Entry, _before


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

    def _claim(self, claim: Claim) -> bool:
        approval_id, status, by, at, message, overdue, current, keep = claim
        with self._lock:
            row = self._rows.get(approval_id)
            if row is None or row["result"] is not None:
                return False
            approval: Approval = row["approval"]
            if approval.status != current or (at >= approval.expires_at) != overdue:
                return False
            if keep:
                row["approval"] = dataclasses.replace(approval, status=status)
            else:
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
