"""Calls that wait for a person, asked and decided through LangGraph's interrupts.

A gated call ends in the tools node like any failed call: a ``ToolMessage`` with
``status="error"`` holding toolwire's ``approval_required`` error, its approval recorded once
in toolwire's store. Before the model reads it, ``ApprovalMiddleware`` pauses the run with one
``interrupt`` listing the calls of the turn that wait, answered by approval id; each decision
goes to ``dispatcher.approve`` or ``reject``, and the call's message is replaced by what that
returns. Nothing before the interrupt changes anything, so the node that LangGraph runs again
on resume records nothing twice; and toolwire decides a record once, so a decision applied
again, or one already made with ``toolwire approvals``, returns the stored outcome.

The flow is written once, as a generator of the store operations it needs, and driven by a
plain and an async driver.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, NotRequired

import toolwire
from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import AfterValidator, ConfigDict, Discriminator, StringConstraints, with_config
from toolwire.types import Redaction
from typing_extensions import TypedDict  # pydantic validates only this one on Python < 3.12

from ._answer import MessageContent, ToolwireError, answer

#: ``Interrupt.value["type"]`` of the interrupts this module raises.
INTERRUPT_TYPE: Final = "toolwire_approvals"
#: The states in which a record waits for a decision (toolwire's ``pending`` and
#: ``approved``: approved, but its run ended before the tool started).
_WAITING: Final = ("pending", "approved")
#: ``by`` when reading the outcome of a record decided elsewhere: toolwire records no one for
#: a decided record, but the call takes a name.
_READER: Final = "toolwire-langchain"


@with_config(ConfigDict(extra="forbid"))
class ApproveDecision(TypedDict):
    """Run the call, once, with exactly the arguments it was recorded with (an approval that
    carries anything else, such as other ``args``, is refused)."""

    type: Literal["approve"]


@with_config(ConfigDict(extra="forbid"))
class RejectDecision(TypedDict):
    """Do not run the call; the model is told a person said no (and ``message``, if given)."""

    type: Literal["reject"]
    message: NotRequired[str]


Decision = Annotated[ApproveDecision | RejectDecision, Discriminator("type")]


class ApprovalAnswer(TypedDict):
    """The resume value of an approvals interrupt: who decides, and a decision per approval id.

    LangGraph checks it before it saves it; a wrong one raises ``pydantic.ValidationError``
    and the interrupt can be answered again. Approvals the answer leaves out are asked
    again; ids it does not ask about are ignored, but an answer that decides none of the
    approvals asked about is refused.
    """

    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    decisions: dict[str, Decision]


@dataclass(frozen=True, slots=True)
class _Records:
    """List the approval records in ``status`` (every record when ``None``)."""

    status: str | None


@dataclass(frozen=True, slots=True)
class _Decide:
    """Approve or reject one record; gives its ``DispatchResult``."""

    approval_id: str
    approve: bool
    by: str
    message: str | None = None


_Step = _Records | _Decide
_Flow = Generator[_Step, Any, dict[str, Any] | None]


class ApprovalMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Asks a person, through a LangGraph interrupt, about the calls that wait for approval.

    Add it to ``create_agent(..., middleware=[...])`` next to the tools of the same
    dispatcher; the agent needs a checkpointer. After a tools step that left calls waiting,
    the run pauses with one interrupt whose value is::

        {"type": "toolwire_approvals",
         "requests": [{"approval_id", "tool_call_id", "name", "args", "description",
                       "role", "principal", "expires_at"}, ...],
         "allowed_decisions": ["approve", "reject"]}

    (``args`` and ``description`` hidden as toolwire's log hides secrets). Resume it with
    ``Command(resume={"by": "ops@example.com", "decisions": {approval_id: {"type":
    "approve"}, ...}})``, or ``{"type": "reject", "message": "..."}`` for a decision. A call
    decided outside the run (``toolwire approvals approve``, another host) takes that
    decision, and is not asked about. Approved calls run once, with the recorded arguments,
    role and principal.

    In a graph of your own, ``before_model`` and ``abefore_model`` work as a node between
    the ``ToolNode`` and the model (``runtime`` may be ``None``).

    Args:
        dispatcher: The dispatcher the tools call.
    """

    def __init__(self, dispatcher: toolwire.Dispatcher) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self._redaction = Redaction.from_config(dispatcher.config)

    def before_model(
        self, state: AgentState[Any], runtime: Runtime[Any] | None = None
    ) -> dict[str, Any] | None:
        """Decide the waiting calls of the last tools step (see the class)."""
        flow = _settle(state["messages"], self._redaction)
        try:
            step = next(flow)
            while True:
                step = flow.send(_take_sync(self.dispatcher, step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def abefore_model(
        self, state: AgentState[Any], runtime: Runtime[Any] | None = None
    ) -> dict[str, Any] | None:
        """``before_model`` for an async run."""
        flow = _settle(state["messages"], self._redaction)
        try:
            step = next(flow)
            while True:
                step = flow.send(await _take(self.dispatcher, step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _take_sync(dispatcher: toolwire.Dispatcher, step: _Step) -> Any:
    if isinstance(step, _Records):
        return dispatcher.approvals_sync(step.status)
    if step.approve:
        return dispatcher.approve_sync(step.approval_id, by=step.by)
    return dispatcher.reject_sync(step.approval_id, by=step.by, message=step.message)


async def _take(dispatcher: toolwire.Dispatcher, step: _Step) -> Any:
    if isinstance(step, _Records):
        return await dispatcher.approvals(step.status)
    if step.approve:
        return await dispatcher.approve(step.approval_id, by=step.by)
    return await dispatcher.reject(step.approval_id, by=step.by, message=step.message)


def _settle(messages: Sequence[AnyMessage], redaction: Redaction) -> _Flow:
    """The waiting calls of the last tools step, decided; the update that replaces their messages."""
    held = _held(messages)
    if not held:
        return None
    records: dict[str, toolwire.Approval] = {}
    for status in _WAITING:
        records.update((record.id, record) for record in (yield _Records(status)))
    if any(approval_id not in records for _, approval_id in held):
        # Decided since (or never this store's): the whole list says which.
        records.update((record.id, record) for record in (yield _Records(None)))
    # Only a record of this very call counts: a message cannot point the person at another's.
    ours = [
        (message, records[approval_id])
        for message, approval_id in held
        if approval_id in records
        and records[approval_id].call_id == message.tool_call_id
        and records[approval_id].tool == message.name
    ]
    outcomes: dict[str, toolwire.DispatchResult] = {}
    for _, record in ours:
        if record.status not in _WAITING:
            # Decided elsewhere: its stored outcome (a run under way is waited for).
            outcomes[record.id] = yield _Decide(record.id, True, record.decided_by or _READER)
    asking = [record for _, record in ours if record.status in _WAITING]
    if asking and len(records) == sum(1 for r in records.values() if r.status in _WAITING):
        # Every record, to tell the person of a call that already ran under another approval.
        records.update((record.id, record) for record in (yield _Records(None)))
    chosen: dict[str, tuple[str, ApproveDecision | RejectDecision]] = {}
    while len(chosen) < len(asking):
        unanswered = [record for record in asking if record.id not in chosen]
        reply: ApprovalAnswer = interrupt(
            _request(unanswered, redaction, records), response_schema=_answering(unanswered)
        )
        for record in unanswered:
            if record.id in reply["decisions"]:
                chosen[record.id] = (reply["by"], reply["decisions"][record.id])
    for record in asking:
        by, decision = chosen[record.id]
        if decision["type"] == "approve":
            outcomes[record.id] = yield _Decide(record.id, True, by)
        else:
            outcomes[record.id] = yield _Decide(record.id, False, by, decision.get("message"))
    return {"messages": [_decided(message, outcomes[record.id]) for message, record in ours]}


def _held(messages: Sequence[AnyMessage]) -> list[tuple[ToolMessage, str]]:
    """The messages of the last tools step that answer ``approval_required``, with their ids."""
    held: list[tuple[ToolMessage, str]] = []
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            break
        if isinstance(message, ToolMessage) and message.status == "error":
            approval_id = _approval_id(message.content)
            if approval_id is not None:
                held.append((message, approval_id))
    held.reverse()
    return held


def _approval_id(content: Any) -> str | None:
    """The approval id in toolwire's ``approval_required`` error object, if that is the content."""
    if not isinstance(content, str) or '"approval_required"' not in content:
        return None
    try:
        error = json.loads(content)
    except ValueError:
        return None
    if not isinstance(error, dict) or error.get("error") != "approval_required":
        return None
    details = error.get("details")
    approval_id = details.get("approval_id") if isinstance(details, dict) else None
    return approval_id if isinstance(approval_id, str) else None


def _answering(asked: Sequence[toolwire.Approval]) -> Any:
    """The answer's schema for this interrupt: ``ApprovalAnswer`` that decides at least one
    of the approvals ``asked``, checked by LangGraph before it keeps the answer."""
    ids = sorted(record.id for record in asked)

    def decides_one(reply: ApprovalAnswer) -> ApprovalAnswer:
        if not set(reply["decisions"]) & set(ids):
            raise ValueError(
                f"the answer decides none of the approvals this run waits on: it names "
                f"{sorted(reply['decisions'])}, and the interrupt asks about {ids}"
            )
        return reply

    return Annotated[ApprovalAnswer, AfterValidator(decides_one)]


def _request(
    records: Sequence[toolwire.Approval],
    redaction: Redaction,
    known: dict[str, toolwire.Approval],
) -> dict[str, Any]:
    """The interrupt's value: what a person needs to decide, secrets hidden."""
    requests = []
    for record in records:
        shown = record.to_dict(redaction)
        requests.append(
            {
                "approval_id": record.id,
                "tool_call_id": record.call_id,
                "name": record.tool,
                "args": shown["arguments"],
                "description": _described(shown["reason"], record, known),
                "role": record.role,
                "principal": record.principal,
                "expires_at": record.expires_at,
            }
        )
    return {
        "type": INTERRUPT_TYPE,
        "requests": requests,
        "allowed_decisions": ["approve", "reject"],
    }


def _described(reason: Any, record: toolwire.Approval, known: dict[str, toolwire.Approval]) -> Any:
    """The record's reason, and what the person must know first: the same call (tool, call id
    and arguments) already ran under another approval, as when a thread is replayed from a
    checkpoint before its tools step (LangGraph's time travel)."""
    ran = [
        other
        for other in known.values()
        if other.id != record.id
        and other.status == "executed"
        and (other.tool, other.call_id, other.arguments)
        == (record.tool, record.call_id, record.arguments)
    ]
    if not ran:
        return reason
    first = min(ran, key=lambda other: other.created_at)
    said = f"{reason}. " if reason else ""
    return (
        f"{said}The same call ({record.tool}, call id {record.call_id}) with the same "
        f"arguments already ran under approval {first.id}, approved by {first.decided_by}: "
        "approving this one runs it again"
    )


def _decided(message: ToolMessage, result: toolwire.DispatchResult) -> ToolMessage:
    """The message that replaces a waiting call's: the decided call's outcome."""
    content: MessageContent
    artifact: dict[str, Any] | None
    try:
        content, artifact = answer(result)
        status: Literal["success", "error"] = "success"
    except ToolwireError:
        content, artifact, status = result.output, None, "error"
    return ToolMessage(
        content=content,
        artifact=artifact,
        status=status,
        tool_call_id=message.tool_call_id,
        name=message.name,
        id=message.id,
    )
