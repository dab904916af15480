"""Batches: the batch limit, cut-off calls, sequential lanes; one result per call, in order.

A model's response is a batch too: ``run_response`` parses it, runs its calls and returns the
items to append (or holds the turn for a person's approval).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ToolError
from ._pipeline import Finished, refuse, run_call
from ._plan import Plan
from ._responses import parse_response
from ._values import ToolCall
from .providers import Provider

if TYPE_CHECKING:
    from ._approvals import Approvals


async def run_batch(
    plan: Plan,
    batch: Sequence[ToolCall],
    role: str | None,
    state: Mapping[str, Any] | None,
    *,
    cut_off: Mapping[int, str] | None = None,
    provider: Provider | None = None,
    turn: Any = None,
) -> list[Finished]:
    """Run calls concurrently, at most ``[defaults] max_concurrency`` at once.

    Calls past ``[limits] max_batch_calls`` and calls the response cut off are answered
    without running; the calls of a ``sequential`` tool run one at a time, in call order,
    alongside the others. ``turn`` goes with each call that needs a person's approval.

    Returns:
        One ``Finished`` per call, in call order.
    """
    done: list[Finished | None] = [None] * len(batch)
    limit = plan.limits.max_batch
    for index in range(limit, len(batch)):
        done[index] = await refuse(plan, batch[index], role, state, _over_batch(limit), provider)
    for index, reason in (cut_off or {}).items():
        if done[index] is None:
            error = _cut_off(reason)
            done[index] = await refuse(plan, batch[index], role, state, error, provider)
    slots = asyncio.Semaphore(plan.limits.max_concurrency)

    async def run_one(index: int) -> None:
        async with slots:
            done[index] = await run_call(
                plan, batch[index], role, state, provider=provider, turn=turn
            )

    async def run_lane(indexes: list[int]) -> None:
        for index in indexes:
            await run_one(index)

    lanes: dict[str, list[int]] = {}
    units: list[Callable[[], Coroutine[Any, Any, None]]] = []
    for index, call in enumerate(batch):
        if done[index] is not None:
            continue
        route = plan.routes.get(call.name) if isinstance(call.name, str) else None
        if route is not None and route.policy.sequential:
            if call.name not in lanes:
                lanes[call.name] = []
                units.append(_bound(run_lane, lanes[call.name]))
            lanes[call.name].append(index)
        else:
            units.append(_bound(run_one, index))
    if len(units) == 1:
        await units[0]()
    elif units:
        async with asyncio.TaskGroup() as group:
            for unit in units:
                group.create_task(unit())
    return [finished for finished in done if finished is not None]


async def run_response(
    plan: Plan,
    approvals: Approvals,
    response: Any,
    provider: str | None,
    role: str | None,
    state: Mapping[str, Any] | None,
    new_id: Callable[[], str],
) -> list[Any]:
    """Run every call of a model's response; the items to append, or a ``HeldTurn``.

    Raises:
        ConfigError: an unknown provider, or a response no provider recognises.
        ApprovalError: a held turn could not be stored.
    """
    shape, parsed = parse_response(plan.providers, response, provider)
    batch = [
        p.call if p.call.call_id else ToolCall(p.call.name, p.call.arguments, new_id())
        for p in parsed.calls
    ]
    cut_off = {i: p.incomplete for i, p in enumerate(parsed.calls) if p.incomplete}
    turn = approvals.turn(batch, shape.name, [p.given_id for p in parsed.calls])
    done = await run_batch(plan, batch, role, state, cut_off=cut_off, provider=shape, turn=turn)
    if turn.held:
        return await approvals.hold_turn(turn, parsed.response, done)
    return shape.conversation_items(parsed, [finished.item for finished in done])


def as_calls(
    calls: Sequence[ToolCall | Mapping[str, Any]], new_id: Callable[[], str]
) -> list[ToolCall]:
    """A host's batch as ``ToolCall`` values, each with a call id (a new one where it had none)."""
    batch = []
    for call in calls:
        if isinstance(call, ToolCall):
            batch.append(call if call.call_id else ToolCall(call.name, call.arguments, new_id()))
        elif isinstance(call, Mapping):
            batch.append(
                ToolCall(
                    call.get("name"),  # type: ignore[arg-type]  # checked by resolve
                    call.get("arguments"),
                    call.get("call_id") or new_id(),
                )
            )
        else:
            batch.append(ToolCall(repr(type(call).__name__), None, new_id()))
    return batch


def _bound(
    function: Callable[[Any], Coroutine[Any, Any, None]], argument: Any
) -> Callable[[], Coroutine[Any, Any, None]]:
    return lambda: function(argument)


def _over_batch(limit: int) -> ToolError:
    return ToolError(
        f"more than {limit} calls in one response; this call was not run",
        kind="rejected",
        retryable=True,
        details={"max_batch_calls": limit},
    )


def _cut_off(reason: str) -> ToolError:
    return ToolError(
        f"the response was cut off ({reason}) before this call was complete; it was not run",
        kind="invalid_arguments",
        retryable=True,
    )
