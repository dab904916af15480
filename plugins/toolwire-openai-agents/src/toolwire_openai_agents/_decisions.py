"""Decisions made in toolwire, carried into the SDK's ``RunState``; toolwire's record of an
interruption."""

from __future__ import annotations

from typing import Any

import toolwire
from agents import RunState, ToolApprovalItem

from ._bridge import DECIDED_BY, find_approval

#: Statuses of a record a person approved: the call ran, runs, or runs on the next approve.
_APPROVED = frozenset({"approved", "running", "executed"})


async def approval_for(
    dispatcher: toolwire.Dispatcher, item: ToolApprovalItem
) -> toolwire.Approval | None:
    """toolwire's record of an interruption: its id (for ``dispatcher.approve``, ``reject`` or
    ``toolwire approvals``), reason, principal, status.

    Returns:
        The record of the same tool, call id and arguments; ``None`` for an interruption
        toolwire holds no record of (another tool's), or one several records match.

    Raises:
        toolwire.ApprovalError: the approval store failed.
    """
    return find_approval(
        await dispatcher.approvals(), _name(item), _call_id(item), _arguments(item)
    )


async def apply_decisions(
    dispatcher: toolwire.Dispatcher, state: RunState[Any, Any]
) -> list[ToolApprovalItem]:
    """Carry into ``state`` the decisions made in toolwire (``dispatcher.approve``/``reject``,
    ``toolwire approvals``, another process sharing the store) on its interruptions.

    An approved call is approved in ``state`` (resuming the run gives the model toolwire's stored
    result; the call ran once, when it was approved); a rejected or expired one is rejected with
    the text toolwire gives the model. Undecided ones, and interruptions that are not toolwire's,
    are left as they are.

    Returns:
        The interruptions still waiting for a decision.

    Raises:
        toolwire.ApprovalError: the approval store failed.
    """
    records = await dispatcher.approvals()
    waiting: list[ToolApprovalItem] = []
    for item in state.get_interruptions():
        record = find_approval(records, _name(item), _call_id(item), _arguments(item))
        if record is None or record.status == "pending":
            waiting.append(item)
        elif record.status in _APPROVED:
            state.approve(item)
        else:
            # Decided already: reject changes nothing, it returns the answer the model reads.
            told = await dispatcher.reject(record.id, by=DECIDED_BY)
            state.reject(item, rejection_message=told.output)
    return waiting


def _name(item: ToolApprovalItem) -> str:
    return item.tool_name or item.name or ""


def _call_id(item: ToolApprovalItem) -> str:
    return item.call_id or ""


def _arguments(item: ToolApprovalItem) -> str | None:
    return item.arguments
