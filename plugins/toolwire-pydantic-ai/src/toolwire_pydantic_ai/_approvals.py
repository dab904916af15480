"""Pydantic AI's deferred tool requests and results, and toolwire's approval records.

A call toolwire holds for a person ends the run with ``DeferredToolRequests`` whose metadata
names the approval. Whichever side a person decides on, the record is decided once, by id:

- in Pydantic AI's terms, ``decide`` turns the same decisions ``build_results`` takes into
  toolwire's (a rejection now, an approval when the resumed run calls the tool, inside it);
- in toolwire (``toolwire approvals approve``, another host), ``results`` reads the records
  and answers the requests they decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import toolwire
from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied

from ._answer import METADATA_KEY, approval_id_in

Decision = bool | ToolApproved | ToolDenied

#: Ends no call: the answer of a record decided before is stored, and ``reject`` returns it
#: without recording who asked. (``by`` cannot be empty.)
_READER: Final = "toolwire-pydantic-ai"
_DEFAULT_DENIAL: Final = ToolDenied().message


async def decide(
    dispatcher: toolwire.Dispatcher,
    requests: DeferredToolRequests,
    approvals: Mapping[str, Decision],
    by: str,
) -> DeferredToolResults:
    """Decide the approvals of ``requests`` that toolwire holds; see ``ToolwireToolset.decide``."""
    if not isinstance(by, str) or not by.strip():
        raise ValueError("by= names who decides (a person or an account); it cannot be empty")
    waiting = {call.tool_call_id for call in requests.approvals}
    unknown = sorted(set(approvals) - waiting)
    if unknown:
        raise ValueError(f"no approval request in these DeferredToolRequests has the id {unknown}")
    results = DeferredToolResults()
    for call_id, decision in approvals.items():
        approval_id = approval_id_in(requests.metadata.get(call_id))
        if approval_id is None:  # another toolset's call: Pydantic AI alone decides it
            results.approvals[call_id] = decision
        elif _approves(decision, call_id):
            results.approvals[call_id] = ToolApproved()
            results.metadata[call_id] = approved(approval_id, by)
        else:
            assert isinstance(decision, ToolDenied | bool)
            said = decision.message if isinstance(decision, ToolDenied) else _DEFAULT_DENIAL
            ended = await dispatcher.reject(
                approval_id, by=by, message=None if said == _DEFAULT_DENIAL else said
            )
            _answer_with(results, call_id, approval_id, ended)
    return results


async def results(
    dispatcher: toolwire.Dispatcher, requests: DeferredToolRequests
) -> DeferredToolResults:
    """What toolwire's records decide of ``requests``; see ``ToolwireToolset.results``."""
    held = {
        call.tool_call_id: approval_id
        for call in requests.approvals
        if (approval_id := approval_id_in(requests.metadata.get(call.tool_call_id)))
    }
    answered = DeferredToolResults()
    if not held:
        return answered
    records = {record.id: record for record in await dispatcher.approvals()}
    for call_id, approval_id in held.items():
        record = records.get(approval_id)
        if record is None:
            raise toolwire.ApprovalError(f"no approval {approval_id!r} in the approval store")
        if record.status == "pending":
            continue
        if record.status in ("rejected", "expired"):
            ended = await dispatcher.reject(approval_id, by=record.decided_by or _READER)
            _answer_with(answered, call_id, approval_id, ended)
        elif record.decided_by:
            # Approved: the resumed run's call gets the stored result (executed), waits for
            # the run under way (running), or runs it (approved, but nothing ran yet).
            answered.approvals[call_id] = ToolApproved()
            answered.metadata[call_id] = approved(approval_id, record.decided_by)
    return answered


def approved(approval_id: str, by: str) -> dict[str, Any]:
    """The metadata that lets the resumed run's call approve toolwire's record."""
    return {METADATA_KEY: {"approval_id": approval_id, "approved_by": by}}


def approved_by_in(metadata: object) -> str | None:
    """Who approved, from the metadata ``approved`` made."""
    part = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    found = part.get("approved_by") if isinstance(part, Mapping) else None
    return found if isinstance(found, str) and found.strip() else None


def _approves(decision: object, call_id: str) -> bool:
    if decision is True:
        return True
    if isinstance(decision, ToolApproved):
        if decision.override_args is not None:
            raise ValueError(
                f"call {call_id}: toolwire runs exactly the arguments a person approved; "
                "approve it as it is, or reject it and let the model send a new call"
            )
        return True
    if decision is False or isinstance(decision, ToolDenied):
        return False
    raise TypeError(
        f"call {call_id}: a decision is True, False, ToolApproved or ToolDenied, "
        f"got {type(decision).__name__}"
    )


def _answer_with(
    results: DeferredToolResults,
    call_id: str,
    approval_id: str,
    ended: toolwire.DispatchResult,
) -> None:
    """Answer a request from the record's stored outcome: the first decision holds."""
    error = ended.error
    if error is not None and error.kind in ("approval_denied", "approval_expired"):
        results.approvals[call_id] = ToolDenied(ended.output)
        return
    # Approved and run before this denial came: the resumed run gets that stored result.
    record = ended.approval
    by = record.decided_by if record is not None and record.decided_by else _READER
    results.approvals[call_id] = ToolApproved()
    results.metadata[call_id] = approved(approval_id, by)
