"""The approvals of one dispatcher (``Approvals``): where a gated call waits, how a decision
runs it, and held turns kept and resumed.

Why one module of this length: ``Approvals`` is one record's life (held, claimed, run,
released, expired, resumed), each step a claim on the store; apart, the claim and release
rules that make "exactly once" true would be in two places. The stores are in modules of
their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._errors import ConfigError, RequireApproval, ToolError
from .._executors import UNTAKEN
from .._logging import log as _log
from .._loop import loop_running
from .._pipeline import Finished, refuse, run_call
from .._responses import provider_named
from .._serialize import to_json
from .._values import CallContext, DispatchResult, ToolCall
from ._open import check_store_url, open_store
from ._records import (
    STATUSES,
    WAITING,
    Approval,
    ApprovalError,
    HeldTurn,
    canonical_json,
    digest_of,
    new_id,
)
from ._store import ApprovalStore, Entry
from ._turns import Turn, _Answer

if TYPE_CHECKING:
    from .._plan import Plan, Route
    from ..types import ProgressCallback


_POLL_START: Final = 0.02
_POLL_MAX: Final = 0.5

T = TypeVar("T")


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
        except UnicodeEncodeError:
            return _not_text(call)
        try:
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
            caller=None if context.caller == "direct" else context.caller,
        )
        return dataclasses.replace(approval, digest=digest_of(approval.binding()))

    # -- held turns -----------------------------------------------------------------------------

    async def hold_turn(
        self, turn: Turn, response: Any, done: Sequence[Finished], more: Sequence[Any] = ()
    ) -> HeldTurn:
        """Store the turn: the items of the calls that ran, the approval ids of those that wait,
        and ``more``, the items that go after the calls' (answers to OpenAI client searches).

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
        if more:
            data["more"] = list(more)
        try:
            text = _json_text(data)
            await self._io(lambda store: store.add_turn(turn_id, text))
        except Exception as exc:  # the host is told, with the cause
            raise ApprovalError(f"turn {turn_id} could not be stored: {exc}") from exc
        return HeldTurn(turn_id, pending, ran)

    async def resume(
        self,
        plan: Plan,
        turn_id: str,
        once: bool = False,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Every item of a held turn, in call order, once every approval is decided.

        First, each call of the turn that a person approved and that has not run
        (``approved``) runs here, one after another in call order, each claimed
        ``approved -> running`` so that it runs once whichever process resumes first; the
        record keeps who decided it. ``state`` is what such a call's ``CallContext`` receives
        (by default only the recorded principal).

        With ``once``, the turn is marked resumed in the store as its items are returned, and
        a later ``once`` resume, from any process sharing the store, is refused: its items are
        handed out one time (``toolwire approvals resume``).

        Raises:
            ApprovalError: an unknown turn, one with approvals still undecided or running
                elsewhere (named, and in ``pending``), an approved call this process cannot
                run (its tool is not loaded here, or is another tool; it stays approved), or
                (with ``once``) one resumed so before.
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
            if found.result is None and found.approval.status == "approved":
                await self._run_here(plan, found.approval, state)
                found = await self._entry(entry["approval"])
            if found.result is None:
                waiting.append(found.approval)
                continue
            items.append(json.loads(found.item) if found.item is not None else None)
        if waiting:
            names = ", ".join(f"{a.id} ({a.tool}, {_state_of(a)})" for a in waiting)
            raise ApprovalError(f"turn {turn_id} still waits for: {names}", waiting)
        turn_items = provider.conversation_items(provider.parse_response(data["response"]), items)
        turn_items.extend(data.get("more", ()))
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
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """Run the stored call once; any later approve (or reject) gets the stored result.

        A run that fails before its tool starts leaves the record ``approved``, without a
        result: the next ``approve`` runs it.
        """
        claimed = await self._decide(plan, approval_id, "running", by, None, wait)
        if isinstance(claimed, DispatchResult):
            return claimed
        return await self._execute(plan, claimed, state, progress)

    async def approve_only(self, plan: Plan, approval_id: str, by: str) -> Approval:
        """Record a person's approval and run nothing: a ``pending`` record is claimed
        ``approved`` (``decided_by``, ``decided_at``), exactly once across processes, for the
        host that holds the call to run (``resume``, ``run_approved``).

        Nothing about the tool is checked here: the process that runs the call checks its
        digest and fingerprint then.

        Returns:
            The record as it stands: approved by ``by``, or, when it was decided before (or
            a moment ago elsewhere), as that decision left it; one past its expiry is
            expired.

        Raises:
            ApprovalError: an unknown id, a store that failed, or a record that stays pending
                though no decision took it (the store disagrees with the record).
        """
        _check_by(by)
        _check_text(approval_id=approval_id, by=by)
        found = await self._entry(approval_id)
        approval = found.approval
        if approval.status != "pending" or found.result is not None:
            return approval
        if not approval.intact():  # no host would run it: a yes here would only wait for expiry
            raise ApprovalError(
                f"approval {approval_id} was changed in the store after it was made (it no "
                "longer matches its digest); it cannot be approved, and stays pending: reject it"
            )
        now = time.time()
        if approval.expired(now):
            await self._expire(plan, approval)
        elif await self._io(
            lambda s: s.claim(approval_id, "approved", by, now, None, overdue=False)
        ):
            _log.info(
                "toolwire.approval_approved", approval_id=approval_id, tool=approval.tool, by=by
            )
            return dataclasses.replace(approval, status="approved", decided_by=by, decided_at=now)
        # Lost: decided or expired elsewhere a moment ago; the record says how.
        approval = (await self._entry(approval_id)).approval
        if approval.status == "pending":
            raise ApprovalError(
                f"approval {approval_id} is pending but could not be claimed: the store "
                "disagrees with the record (was it edited?); nothing was decided"
            )
        return approval

    async def run_approved(
        self,
        plan: Plan,
        approval_id: str,
        state: Mapping[str, Any] | None,
        wait: float,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """Run, here, a call a person approved without running it; the record keeps who
        decided. A call that ran, or was rejected or expired, gets its stored result.

        Raises:
            ApprovalError: an unknown id, a call nobody approved yet (``pending``, in
                ``pending``), one this process cannot run (it stays approved), a store that
                failed, or no result after ``wait`` seconds while it runs elsewhere.
        """
        claimed = await self._decide(plan, approval_id, "running", None, None, wait, keep=True)
        if isinstance(claimed, DispatchResult):
            return claimed
        return await self._execute(plan, claimed, state, progress)

    async def _run_here(
        self, plan: Plan, approval: Approval, state: Mapping[str, Any] | None
    ) -> DispatchResult | None:
        """Claim an ``approved`` record ``running``, keeping who decided, and run it;
        ``None`` when another process claimed it first (nothing is waited for here).

        Raises:
            ApprovalError: this process cannot run the call (it stays approved).
        """
        _check_runnable(plan, approval)
        if approval.provider is not None:
            provider_named(plan.providers, approval.provider)
        now = time.time()
        if not await self._io(
            lambda s: s.claim(
                approval.id, "running", None, now, None, overdue=False, current="approved",
                keep=True,
            )
        ):  # fmt: skip
            return None
        return await self._execute(plan, dataclasses.replace(approval, status="running"), state)

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
        by: str | None,
        message: str | None,
        wait: float,
        keep: bool = False,
    ) -> Approval | DispatchResult:
        """Claim a waiting record for ``status`` (``running``, to run it, or ``rejected``).

        With ``keep`` (``by`` is then ``None``), only an ``approved`` record is claimed, and
        it keeps who decided it: the host runs what a person approved.

        Returns:
            The claimed record when this caller won it; else the stored result: of a record
            decided before, or expired here (overdue), or of a run under way elsewhere, waited
            for up to ``wait`` seconds.

        Raises:
            ApprovalError: this process cannot run the call (the record keeps waiting), with
                ``keep`` a record nobody approved yet, or no result after ``wait`` seconds.
        """
        if not keep:
            _check_by(by or "")
        _check_text(approval_id=approval_id, by=by, message=message)
        delay = _POLL_START
        deadline = time.monotonic() + wait
        while True:
            found = await self._entry(approval_id)
            approval = found.approval
            if found.result is not None:
                return _result_from(found.result, approval)
            if keep and approval.status == "pending" and not approval.expired(time.time()):
                raise ApprovalError(
                    f"approval {approval_id} is pending: nobody has approved it yet; nothing ran",
                    [approval],
                )
            if approval.status in WAITING:
                if status == "running":  # before the claim: a refusal leaves it waiting
                    _check_runnable(plan, approval)
                if approval.provider is not None:
                    provider_named(plan.providers, approval.provider)  # before the claim too
                now = time.time()
                if approval.expired(now):
                    expired = await self._expire(plan, approval)
                    if expired is not None:
                        return expired
                    # Lost: expired elsewhere a moment ago, or the store disagrees with the
                    # record (an edited row): look again, within ``wait``, never in a spin.
                    await self._pause(approval_id, approval, deadline, delay)
                    delay = min(delay * 2, _POLL_MAX)
                    continue

                def claim(
                    store: ApprovalStore, at: float = now, was: str = approval.status
                ) -> bool:
                    return store.claim(
                        approval_id, status, by, at, message, overdue=False, current=was,
                        keep=keep,
                    )  # fmt: skip

                if await self._io(claim):
                    if keep:
                        return dataclasses.replace(approval, status=status)
                    return dataclasses.replace(
                        approval, status=status, decided_by=by, decided_at=now, message=message
                    )
                # lost: decided elsewhere, or it lapsed a moment ago; look again
            await self._pause(approval_id, approval, deadline, delay)
            delay = min(delay * 2, _POLL_MAX)

    @staticmethod
    async def _pause(approval_id: str, approval: Approval, deadline: float, delay: float) -> None:
        """Wait ``delay`` seconds before looking at a record again.

        Raises:
            ApprovalError: past ``deadline`` (the caller's ``wait``), saying what was seen.
        """
        if time.monotonic() >= deadline:
            if approval.status in WAITING:
                raise ApprovalError(
                    f"approval {approval_id} is {_state_of(approval)} but could not be claimed "
                    "within the wait: the store disagrees with the record (was it edited?); "
                    "nothing ran"
                )
            raise ApprovalError(
                f"approval {approval_id} is {_state_of(approval)} and has no result yet: "
                "it is running elsewhere, or the process running it stopped (it ran at "
                "most once)"
            )
        await asyncio.sleep(delay)

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

    async def record(self, plan: Plan, approval_id: str) -> Approval:
        """One record by id; an overdue waiting one is expired first.

        Raises:
            ApprovalError: an unknown id (or one that is no text), or a store that failed.
        """
        if not isinstance(approval_id, str):
            raise ApprovalError(f"an approval id is text, not {type(approval_id).__name__}")
        _check_text(approval_id=approval_id)
        found = await self._entry(approval_id)
        if found.approval.expired(time.time()):
            await self._expire(plan, found.approval)
            found = await self._entry(approval_id)
        return found.approval

    # -- helpers --------------------------------------------------------------------------------

    async def _entry(self, approval_id: str) -> Entry:
        found = await self._io(lambda store: store.get(approval_id))
        if found is None:
            raise ApprovalError(f"no approval {approval_id!r} in the approval store")
        return found

    async def _execute(
        self,
        plan: Plan,
        claimed: Approval,
        state: Mapping[str, Any] | None,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """Run a call claimed for running from its stored arguments.

        Its outcome is stored (``executed``) once the tool started, whatever happened after;
        a run that ended before the tool started (nothing ran) puts the record back to
        ``approved``, without a result, and returns that run's result.
        """
        if state is None:
            state = self._recorded_state(claimed)
        provider = provider_named(plan.providers, claimed.provider) if claimed.provider else None
        # What the call's hooks and observers see: the decision that lets it run.
        approval = dataclasses.replace(claimed, status="approved")
        if not approval.intact():
            _log.error("toolwire.approval_tampered", approval_id=approval.id, tool=approval.tool)
            error = _Answer(
                "the stored arguments of this call do not match their digest; it was not run",
                kind="internal_error",
                approval=approval,
            )
            return await self._end(plan, approval, error, state)  # stored: it never runs
        call = ToolCall(
            approval.tool, json.loads(approval.arguments), approval.call_id, approval.caller
        )
        context = CallContext(call.call_id, None, approval.role, state, progress=progress)
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
            "the next approve (or the holding host's resume or run_approved) runs it",
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
        approved = approval.status == "approved"  # keeps who approved it: it did not run
        if not await self._io(
            lambda s: s.claim(
                approval.id, "expired", None, now, None, overdue=True, current=approval.status,
                keep=approved,
            )
        ):  # fmt: skip
            return None
        if approved:
            expired = dataclasses.replace(approval, status="expired")
            told = (
                f"{approval.decided_by} approved this call to {approval.tool}, but it did not "
                "run before its approval expired; it was not run"
            )
        else:
            expired = dataclasses.replace(
                approval, status="expired", decided_by=None, decided_at=now
            )
            told = (
                f"nobody decided on this call to {approval.tool} before its approval expired; "
                "it was not run"
            )
        error = _Answer(told, kind="approval_expired", approval=expired)
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
        call = ToolCall(
            approval.tool, json.loads(approval.arguments), approval.call_id, approval.caller
        )
        if state is None:
            state = self._recorded_state(approval)
        finished = await refuse(plan, call, approval.role, state, error, provider)
        return await self._complete(approval, approval.status, finished)

    def _recorded_state(self, approval: Approval) -> dict[str, Any]:
        """What a decided call's context holds by default: only the recorded principal."""
        return {} if approval.principal is None else {self.principal_key: approval.principal}

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


def _check_text(**given: str | None) -> None:
    """A decision's texts must be writable as UTF-8 (a lone surrogate is not).

    Raises:
        ApprovalError: naming the argument; nothing is claimed.
    """
    for name, text in given.items():
        if isinstance(text, str) and not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ApprovalError(
                    f"{name} is not valid Unicode text (a lone surrogate); nothing was decided"
                ) from None


def _state_of(approval: Approval) -> str:
    if approval.status == "running":
        return f"approved by {approval.decided_by}, running"
    if approval.status == "approved":
        return (
            f"approved by {approval.decided_by}, not run yet: the host that holds it runs it "
            "when it resumes the turn (or calls run_approved); a run that failed before the "
            "tool started is tried again then"
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


def _not_text(call: ToolCall) -> ToolError:
    """A record that cannot be written as UTF-8: a lone surrogate in the call's id, role or
    principal (the arguments' own are refused before, as ``invalid_arguments``)."""
    return ToolError(
        "this call needs a person's approval, but its id, role or principal is not valid "
        "Unicode text (a lone surrogate), so no record of it can be kept; it was not run",
        kind="rejected",
        retryable=False,
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
