"""Batches: the batch limit, cut-off calls, sequential lanes, scheduling by side effect; one
result per call, in order.

A model's response is a batch too: ``run_response`` parses it, runs its calls and returns the
items to append (or holds the turn for a person's approval).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ToolError
from ._pipeline import Finished, refuse, run_call
from ._plan import Plan
from ._responses import parse_response
from ._values import ToolCall
from .providers import Provider

if TYPE_CHECKING:
    from ._approvals._gate import Approvals
    from ._deferred import SearchAnswers


async def run_batch(
    plan: Plan,
    batch: Sequence[ToolCall],
    role: str | None,
    state: Mapping[str, Any] | None,
    *,
    refused: Mapping[int, ToolError] | None = None,
    provider: Provider | None = None,
    turn: Any = None,
) -> list[Finished]:
    """Run calls concurrently, at most ``[defaults] max_concurrency`` at once.

    Calls past ``[limits] max_batch_calls`` and the calls ``refused`` names (by index: cut
    off by the response, not a call at all) are answered with their error, without running;
    the calls of a ``sequential`` tool run one at a time, in call order, alongside the
    others. Under ``[defaults] schedule = "by_effect"`` a call of a tool not ``read_only``
    also waits for every call before it and holds every call after it. ``turn`` goes with
    each call that needs a person's approval.

    Returns:
        One ``Finished`` per call, in call order.
    """
    done: list[Finished | None] = [None] * len(batch)
    limit = plan.limits.max_batch
    for index in range(limit, len(batch)):
        done[index] = await refuse(plan, batch[index], role, state, _over_batch(limit), provider)
    for index, error in (refused or {}).items():
        if done[index] is None:
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

    if plan.limits.by_effect:
        steps: Iterable[list[Unit]] = (
            _units(plan, batch, indexes, None, run_one, run_lane)
            for indexes in _by_effect(plan, batch, done)
        )
    else:
        steps = (_units(plan, batch, range(len(batch)), done, run_one, run_lane),)
    for units in steps:
        if len(units) == 1:
            await units[0]()
        elif units:
            async with asyncio.TaskGroup() as group:
                for unit in units:
                    group.create_task(unit())
    return [finished for finished in done if finished is not None]


Unit = Callable[[], Coroutine[Any, Any, None]]


def _units(
    plan: Plan,
    batch: Sequence[ToolCall],
    indexes: Iterable[int],
    done: Sequence[Finished | None] | None,
    run_one: Callable[[int], Coroutine[Any, Any, None]],
    run_lane: Callable[[list[int]], Coroutine[Any, Any, None]],
) -> list[Unit]:
    """What runs at once for the calls at ``indexes`` (those ``done`` has no answer for): each
    call alone, but the calls of each ``sequential`` tool one lane, in call order."""
    lanes: dict[str, list[int]] = {}
    units: list[Unit] = []
    for index in indexes:
        if done is not None and done[index] is not None:
            continue
        call = batch[index]
        route = plan.routes.get(call.name) if isinstance(call.name, str) else None
        if route is not None and route.policy.sequential:
            if call.name not in lanes:
                lanes[call.name] = []
                units.append(_bound(run_lane, lanes[call.name]))
            lanes[call.name].append(index)
        else:
            units.append(_bound(run_one, index))
    return units


def _by_effect(
    plan: Plan, batch: Sequence[ToolCall], done: Sequence[Finished | None]
) -> Iterator[list[int]]:
    """``[defaults] schedule = "by_effect"``: the batch cut into steps run one after another.

    Consecutive calls of ``read_only`` tools make one step; any other call (a tool that may
    change something, or a name no tool has) is a step alone, so effects happen in the order
    the model asked them and no read overlaps one. ``read_only`` is the policy the plan
    resolved: an MCP server's hint counts only where its settings trust its annotations.
    """
    reads: list[int] = []
    for index, call in enumerate(batch):
        if done[index] is not None:
            continue
        route = plan.routes.get(call.name) if isinstance(call.name, str) else None
        if route is not None and route.policy.read_only is True:
            reads.append(index)
            continue
        if reads:
            yield reads
            reads = []
        yield [index]
    if reads:
        yield reads


async def run_response(
    plan: Plan,
    approvals: Approvals,
    response: Any,
    provider: str | None,
    role: str | None,
    state: Mapping[str, Any] | None,
    new_id: Callable[[], str],
    searches: SearchAnswers | None = None,
) -> list[Any]:
    """Run every call of a model's response; the items to append, or a ``HeldTurn``.

    ``searches`` answers the response's calls of toolwire's search tool (``_deferred``):
    each is finished as a call (observers see it) and keeps its place, in a held turn too.

    Raises:
        ConfigError: an unknown provider, or a response no provider recognises.
        ApprovalError: a held turn could not be stored.
    """
    shape, parsed = parse_response(plan.providers, response, provider)
    found = searches.calls(plan, parsed) if searches is not None else frozenset()
    calls = [p for i, p in enumerate(parsed.calls) if i not in found] if found else parsed.calls
    batch = [
        p.call if p.call.call_id else ToolCall(p.call.name, p.call.arguments, new_id())
        for p in calls
    ]
    cut_off = {i: _cut_off(p.incomplete) for i, p in enumerate(calls) if p.incomplete}
    turn = approvals.turn(batch, shape.name, [p.given_id for p in calls])
    done = await run_batch(plan, batch, role, state, refused=cut_off, provider=shape, turn=turn)
    more: list[Any] = []
    if searches is not None:
        if found:
            answered = await searches.answered(plan, shape, parsed, found, role, state, new_id)
            rest = iter(done)
            done = [answered[i] if i in answered else next(rest) for i in range(len(parsed.calls))]
        more = await searches.more(plan, shape, parsed, role, state)
    if turn.held:
        return await approvals.hold_turn(turn, parsed.response, done, more)
    items = shape.conversation_items(parsed, [finished.item for finished in done])
    return [*items, *more] if more else items


def as_calls(
    calls: Sequence[ToolCall | Mapping[str, Any]], new_id: Callable[[], str]
) -> tuple[list[ToolCall], dict[int, ToolError]]:
    """A host's batch as ``ToolCall`` values, each with a call id (a new one, unlike every id
    the batch gives, where it had none; the text of one that is not a string), and the items
    that are no call, by index.

    An item is a ``ToolCall`` or a mapping with ``name`` and, optionally, ``arguments`` and
    ``call_id``; any other item, or a mapping with other keys (``args``, ``id``...), is
    answered with ``rejected`` naming what is wrong, rather than run with its arguments left
    out.
    """
    given_ids = {
        str(i)
        for i in (c.call_id if isinstance(c, ToolCall) else c.get("call_id") for c in _calls(calls))
        if i is not None and i != ""
    }

    make_id = new_id

    def fresh() -> str:
        while (made := make_id()) in given_ids:
            pass
        return made

    new_id = fresh
    batch: list[ToolCall] = []
    refused: dict[int, ToolError] = {}
    for index, call in enumerate(calls):
        if isinstance(call, ToolCall):
            given = call.call_id
            if not (isinstance(given, str) and given):
                call = ToolCall(call.name, call.arguments, id_for(given, new_id))
            batch.append(call)
            continue
        if isinstance(call, Mapping):
            name: Any = call.get("name")  # not always text: resolve answers that
            batch.append(ToolCall(name, call.get("arguments"), id_for(call.get("call_id"), new_id)))
            unknown = sorted(str(key) for key in call if key not in _CALL_KEYS)
            if unknown:
                refused[index] = _not_a_call(
                    index, f"a mapping with the unexpected key(s) {unknown}"
                )
            continue
        batch.append(ToolCall("", None, new_id()))
        refused[index] = _not_a_call(index, f"of type {type(call).__name__}")
    return batch, refused


def listed(calls: Any) -> list[Any]:
    """The batch a host passed, as a list.

    Raises:
        TypeError: ``calls`` is one call (a ``ToolCall``, a mapping), text, or no iterable:
            a batch is an iterable of calls (``[call]`` for one).
    """
    if isinstance(calls, ToolCall | Mapping | str | bytes) or not isinstance(calls, Iterable):
        raise TypeError(
            f"a batch is an iterable of calls (ToolCall or mappings), not a "
            f"{type(calls).__name__}; pass [call] for one call"
        )
    return list(calls)


def _calls(items: Sequence[Any]) -> Iterator[ToolCall | Mapping[str, Any]]:
    return (c for c in items if isinstance(c, ToolCall | Mapping))


def id_for(given: Any, new_id: Callable[[], str]) -> str:
    """The id a host gave a call, as text; a new one when it gave none (or an empty one)."""
    if given is None or given == "":
        return new_id()
    return given if isinstance(given, str) else str(given)


_CALL_KEYS = frozenset({"name", "arguments", "call_id"})


def _not_a_call(index: int, what: str) -> ToolError:
    return ToolError(
        f"batch item {index} is {what}, not a call: a call is a ToolCall, or a mapping with "
        "'name' and, optionally, 'arguments' and 'call_id'; it was not run",
        kind="rejected",
        retryable=False,
    )


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
