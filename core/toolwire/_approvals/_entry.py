"""The dispatcher's approval entry points: decide a held call, list the records, resume a turn.

A part of ``Dispatcher`` (it inherits them), kept apart so that the façade reads as plugins,
queries and dispatching. Where a call waits for a person, and how a decision runs it, is in
``_approvals``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from .._loop import OwnedLoop
    from .._plan import Plan
    from .._values import DispatchResult
    from ..types import ProgressCallback
    from ._gate import Approvals
    from ._records import Approval


class ApprovalEntryPoints:
    """``approve``, ``run_approved``, ``reject``, ``approvals``, ``approval`` and ``resume``,
    and their sync twins."""

    _approvals: Approvals
    _loop: OwnedLoop

    _ready: Callable[[], Plan]  # the dispatcher's

    @overload
    async def approve(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        run: Literal[True] = True,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult: ...

    @overload
    async def approve(self, approval_id: str, *, by: str, run: Literal[False]) -> Approval: ...

    async def approve(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        run: bool = True,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult | Approval:
        """Approve a waiting call: run it here, once, with exactly its stored arguments; or,
        with ``run=False``, only record the approval, for the host that holds the call to run.

        The permission walk is not run again: a person decided. Stages from ``before`` on run
        as for any call. A second ``approve`` (or ``reject``), from any process sharing the
        store, returns the stored result and runs nothing; one past the expiry ends the call
        with ``approval_expired``.

        With ``run=False`` (a decision made away from the host: the operator's console) a
        ``pending`` record is claimed ``approved``, exactly once across processes, with
        ``decided_by`` and ``decided_at``; nothing runs and no result is stored. The host runs
        it: ``resume(turn_id)`` for a held turn, ``run_approved(approval_id)`` for a single
        call. The tool's fingerprint and the record's digest are checked there, where it runs.

        Args:
            approval_id: The ``Approval.id``.
            by: Who approves (recorded, and logged with the call).
            state: The host state the tool's ``CallContext`` receives; by default only the
                recorded principal, under ``[approvals] principal_key``.
            wait: Seconds to wait for the result while another process runs the call.
            run: ``False`` to record the approval only.
            progress: Receives the tool's ``CallContext.report_progress``, as in ``dispatch``,
                when the call runs here.

        Returns:
            The call's ``DispatchResult``; with ``run=False``, the ``Approval`` record as it
            stands: ``approved`` by ``by``, or as an earlier decision left it (``approved`` by
            another, ``running``, ``executed``, ``rejected``, ``expired``).

        Raises:
            ApprovalError: an unknown id, a store that failed, or no result after ``wait``.
        """
        plan = self._ready()
        if not run:
            return await self._approvals.approve_only(plan, approval_id, by)
        return await self._approvals.approve(plan, approval_id, by, state, wait, progress)

    async def run_approved(
        self,
        approval_id: str,
        *,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """Run, in this process, a call a person approved with ``approve(..., run=False)``.

        For a host that dispatched a gated call on its own (``dispatch``, or ``mode =
        "answer"``): it runs the call once across processes, keeping ``decided_by`` of the
        person who approved it. A call that ran, or was rejected or expired, returns its
        stored result and runs nothing. (A held turn's approved calls run in ``resume``.)

        Args:
            approval_id: The ``Approval.id``.
            state: The host state the tool's ``CallContext`` receives; by default only the
                recorded principal.
            wait: Seconds to wait for the result while another process runs the call.
            progress: Receives the tool's ``CallContext.report_progress``, as in ``dispatch``.

        Raises:
            ApprovalError: an unknown id; a call nobody approved yet (``pending``, listed in
                ``pending``); one this process cannot run (its tool is not loaded here, or is
                another tool: it stays approved); a store that failed; or no result after
                ``wait`` seconds.
        """
        plan = self._ready()
        return await self._approvals.run_approved(plan, approval_id, state, wait, progress)

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

    async def approval(self, approval_id: str) -> Approval:
        """One approval record by its id, as the store holds it now (one past its expiry is
        expired first, as ``approvals`` does).

        Raises:
            ApprovalError: an unknown id, or a store that failed.
        """
        return await self._approvals.record(self._ready(), approval_id)

    async def resume(
        self, turn_id: str, *, once: bool = False, state: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """A held turn's items, every call in call order, as ``process_response`` gives them.

        Each call of the turn that a person approved and that has not run yet (``approved``:
        decided with ``approve(..., run=False)``, or a run that failed before its tool
        started) runs first, here, once across every process sharing the store; the record
        keeps who decided it.

        Args:
            turn_id: The ``HeldTurn.turn_id``.
            once: Mark the turn resumed in the store; a later ``once`` resume, from any
                process sharing the store, raises instead of handing the items out again.
            state: The host state the ``CallContext`` of an approved call run here receives;
                by default only the recorded principal.

        Raises:
            ApprovalError: an unknown turn, approvals still undecided or running elsewhere
                (named in the message and listed in ``pending``), an approved call this
                process cannot run (it stays approved), or (with ``once``) a turn resumed so
                before.
        """
        return await self._approvals.resume(self._ready(), turn_id, once, state)

    @overload
    def approve_sync(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        run: Literal[True] = True,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult: ...

    @overload
    def approve_sync(self, approval_id: str, *, by: str, run: Literal[False]) -> Approval: ...

    def approve_sync(
        self,
        approval_id: str,
        *,
        by: str,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        run: bool = True,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult | Approval:
        """``approve`` for hosts without an event loop (on the dispatcher's own loop)."""
        if not run:
            return self._loop.run(self.approve(approval_id, by=by, run=False))
        return self._loop.run(
            self.approve(approval_id, by=by, state=state, wait=wait, progress=progress)
        )

    def run_approved_sync(
        self,
        approval_id: str,
        *,
        state: Mapping[str, Any] | None = None,
        wait: float = 60.0,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """``run_approved`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(
            self.run_approved(approval_id, state=state, wait=wait, progress=progress)
        )

    def reject_sync(
        self, approval_id: str, *, by: str, message: str | None = None
    ) -> DispatchResult:
        """``reject`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.reject(approval_id, by=by, message=message))

    def approvals_sync(self, status: str | None = None) -> list[Approval]:
        """``approvals`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.approvals(status))

    def approval_sync(self, approval_id: str) -> Approval:
        """``approval`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.approval(approval_id))

    def resume_sync(
        self, turn_id: str, *, once: bool = False, state: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """``resume`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.resume(turn_id, once=once, state=state))
