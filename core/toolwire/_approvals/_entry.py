"""The dispatcher's approval entry points: decide a held call, list the records, resume a turn.

A part of ``Dispatcher`` (it inherits them), kept apart so that the façade reads as plugins,
queries and dispatching. Where a call waits for a person, and how a decision runs it, is in
``_approvals``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._loop import OwnedLoop
    from .._plan import Plan
    from .._values import DispatchResult
    from ._gate import Approvals
    from ._records import Approval


class ApprovalEntryPoints:
    """``approve``, ``reject``, ``approvals`` and ``resume``, and their sync twins."""

    _approvals: Approvals
    _loop: OwnedLoop

    _ready: Callable[[], Plan]  # the dispatcher's

    async def approve(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
    ) -> DispatchResult:
        """Run an approved call with exactly its stored arguments, once.

        The permission walk is not run again: a person decided. Stages from ``before`` on run
        as for any call. A second ``approve`` (or ``reject``), from any process sharing the
        store, returns the stored result and runs nothing; one past the expiry ends the call
        with ``approval_expired``.

        Args:
            approval_id: The ``Approval.id``.
            by: Who approves (recorded, and logged with the call).
            state: The host state the tool's ``CallContext`` receives; by default only the
                recorded principal, under ``[approvals] principal_key``.
            wait: Seconds to wait for the result while another process runs the call.

        Raises:
            ApprovalError: an unknown id, a store that failed, or no result after ``wait``.
        """
        plan = self._ready()
        return await self._approvals.approve(plan, approval_id, by, state, wait)

    async def reject(
        self, approval_id: str, *, by: str, message: str | None = None
    ) -> DispatchResult:
        """End a waiting call with ``approval_denied``; its message tells the model not to retry.

        ``message`` is added to what the model reads. A call already decided keeps its result.

        Raises:
            ApprovalError: an unknown id, or a store that failed.
        """
        plan = self._ready()
        return await self._approvals.reject(plan, approval_id, by, message, 60.0)

    async def approvals(self, status: str | None = None) -> list[Approval]:
        """The approval records with ``status`` (all when ``None``), oldest first.

        Pending ones past their expiry are expired first (``approval_expired``).

        Raises:
            ValueError: an unknown status.
            ApprovalError: a store that failed.
        """
        return await self._approvals.records(self._ready(), status)

    async def resume(self, turn_id: str, *, once: bool = False) -> list[Any]:
        """A held turn's items, every call in call order, as ``process_response`` gives them.

        Args:
            turn_id: The ``HeldTurn.turn_id``.
            once: Mark the turn resumed in the store; a later ``once`` resume, from any
                process sharing the store, raises instead of handing the items out again.

        Raises:
            ApprovalError: an unknown turn, approvals still undecided (named in the message
                and listed in ``pending``), or (with ``once``) a turn resumed so before.
        """
        return await self._approvals.resume(self._ready(), turn_id, once)

    def approve_sync(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
    ) -> DispatchResult:
        """``approve`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.approve(approval_id, by=by, state=state, wait=wait))

    def reject_sync(
        self, approval_id: str, *, by: str, message: str | None = None
    ) -> DispatchResult:
        """``reject`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.reject(approval_id, by=by, message=message))

    def approvals_sync(self, status: str | None = None) -> list[Approval]:
        """``approvals`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.approvals(status))

    def resume_sync(self, turn_id: str, *, once: bool = False) -> list[Any]:
        """``resume`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.resume(turn_id, once=once))
