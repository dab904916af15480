"""The plugin toolwire loads: one record per finished call, written before the result returns.

Where a call's record is written depends on ``required``:

- ``required = false``: in ``toolwire_call_finished``, which sees every call's final outcome
  (unknown tools, invalid arguments, denials included) before dispatch returns. A failed write
  is logged and counted, and the next record written says how many were lost; the call's
  result stands.
- ``required = true`` (the default): a call that reaches execution is refused with
  ``internal_error`` when the trail cannot be written (``toolwire_before_call`` opens it, and
  while the last write failed, tries a write), and the record of a call that ran is written in
  ``toolwire_after_call``, the last stage that can still change the result: a failed write
  ends the call with ``internal_error`` instead of the tool's value. Calls that end earlier,
  or fail while running, are recorded in ``toolwire_call_finished``. Should the outcome change
  after the record was written (the value cannot be serialized: ``output_error``), a second
  record with ``amends`` set to the first one's ``seq`` says so.

The trail's file is opened on the first record (or, with ``required``, the first call), never
at start: a command that only reads the config (``toolwire tools``) leaves a trail that a
running host writes alone.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import toolwire
from toolwire.types import Command

from ._cli import audit_command
from ._records import arguments_digest, recorded_arguments
from ._settings import Settings
from ._trail import AuditTrail, AuditWriteError, open_trail, release

_log = toolwire.get_logger("toolwire.audit")

ApprovalEvent = Literal["requested", "approved", "rejected", "expired"]
APPROVAL_EVENTS: Final[tuple[ApprovalEvent, ...]] = ("requested", "approved", "rejected", "expired")

#: The approval event a call that ended with an approval's error kind records.
_EVENT_OF_KIND: Final[Mapping[str, ApprovalEvent]] = {
    "approval_required": "requested",
    "approval_denied": "rejected",
    "approval_expired": "expired",
}

#: Calls remembered between the before stage and the end of the call; a call whose caller
#: cancelled it never reaches the end, and the oldest such entries are dropped past this.
_MAX_RUNNING: Final = 100_000


@dataclass(slots=True)
class _Running:
    """A call under way in required mode, from its before stage to its end."""

    context: toolwire.CallContext
    started: float
    written: tuple[int, bool, str | None] | None = None  # seq, success, error kind


class AuditPlugin:
    """Writes one audit record per finished call to ``[plugins.audit] path``.

    The entry point names this class, so toolwire makes one instance per dispatcher;
    dispatchers of one process that name the same file share its trail.

    Attributes:
        settings: The ``[plugins.audit]`` settings, once configured.
        trail: The process's trail for ``path``, once configured (its file is opened on the
            first write).
        instance: 32 hex digits, random, in every record this plugin writes (``instance``):
            call ids are unique only within one dispatcher, so ``instance`` and ``call_id``
            together name a call across processes and restarts.
    """

    def __init__(self) -> None:
        self.settings = Settings()
        self.trail: AuditTrail | None = None
        self.instance: Final = uuid.uuid4().hex
        self._key = b""
        self._redact: frozenset[str] = frozenset()
        self._running: dict[int, _Running] = {}
        self._packs: dict[str, tuple[str | None, str | None]] = {}
        self._distributions: Mapping[str, list[str]] | None = None
        self._packs_lock = threading.Lock()

    # -- start and stop --------------------------------------------------------------------

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        # Checked here, read-only; opened, locked (and a torn file set aside) on first write.
        settings = Settings.from_config(config)
        key = settings.key()
        try:
            trail = open_trail(settings.path, settings.trail_options)
        except ValueError as exc:
            raise toolwire.ConfigError(f"[plugins.audit] path: {exc}") from None
        if self.trail is not None:
            release(self.trail)
        self.settings, self._key, self.trail = settings, key, trail
        self._redact = frozenset(n.lower() for n in config.section("logging")["redact"])

    @toolwire.hookimpl
    def toolwire_close(self) -> None:
        if self.trail is not None:
            release(self.trail)
            self.trail = None

    @toolwire.hookimpl
    def toolwire_register_commands(self, register: Callable[[Command], None]) -> None:
        register(audit_command())

    # -- per call --------------------------------------------------------------------------

    @toolwire.hookimpl(tryfirst=True)
    def toolwire_before_call(self, call: toolwire.ToolCall, context: toolwire.CallContext) -> None:
        if not self.settings.required:
            return
        try:
            self._open_trail().check_writable()
        except AuditWriteError as exc:
            raise AuditWriteError(f"{exc}; {call.name} was not run") from None
        running = self._running
        if len(running) >= _MAX_RUNNING:
            # Another thread may change the dict meanwhile: then it shrank or grew by one.
            with contextlib.suppress(RuntimeError, StopIteration, KeyError):
                del running[next(iter(running))]
        running[id(context)] = _Running(context, time.perf_counter())

    @toolwire.hookimpl(trylast=True)
    def toolwire_after_call(
        self,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        context: toolwire.CallContext,
    ) -> None:
        if not self.settings.required:
            return
        running = self._running.get(id(context))
        if running is None or running.context is not context:
            running = _Running(context, time.perf_counter())
            self._running[id(context)] = running
        elapsed_us = round((time.perf_counter() - running.started) * 1e6)
        record = self._open_trail().append(self.call_fields(call, result, context, elapsed_us))
        kind = result.error.kind if result.error is not None else None
        running.written = (record["seq"], result.success, kind)

    @toolwire.hookimpl
    def toolwire_call_finished(
        self,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        context: toolwire.CallContext,
    ) -> None:
        self._record_call(call, result, context)
        self._approval_event(result)

    def _record_call(
        self,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        context: toolwire.CallContext,
    ) -> None:
        running = self._running.pop(id(context), None) if self._running else None
        fields = None
        if running is not None and running.context is context and running.written is not None:
            seq, success, kind = running.written
            if (success, kind) == (result.success, _kind(result)):
                return
            fields = self.call_fields(call, result, context, round(result.elapsed_ms * 1000))
            fields["amends"] = seq
        if fields is None:
            fields = self.call_fields(call, result, context, round(result.elapsed_ms * 1000))
        try:
            trail = self._open_trail()
        except AuditWriteError as exc:
            _log.error("toolwire_audit.record_lost", call_id=result.call_id, error=str(exc))
            return
        try:
            trail.append(fields)
        except AuditWriteError as exc:
            trail.note_lost()
            _log.error(
                "toolwire_audit.record_lost",
                call_id=result.call_id,
                tool=fields["tool"],
                error=str(exc),
                lost=trail.lost,
            )

    def _approval_event(self, result: toolwire.DispatchResult) -> None:
        """The approval event a finished call stands for: a gated call asks; the call that a
        decision ends (run, rejected, expired) records that decision, next to its call record."""
        approval = getattr(result, "approval", None)
        if approval is None:
            return
        kind = result.error.kind if result.error is not None else None
        event = _EVENT_OF_KIND.get(kind or "")
        if event is None and approval.status in ("approved", "executed"):
            event = "approved"
        if event is None:
            return
        try:
            arguments = json.loads(approval.arguments)  # canonical JSON, digest-bound
        except (TypeError, ValueError):
            arguments = None
        try:
            self.record_approval(
                event,
                approval_id=approval.id,
                call_id=approval.call_id,
                tool=approval.tool,
                arguments=arguments,
                role=approval.role,
                principal=approval.principal,
                decided_by=approval.decided_by,
                reason=approval.reason if event == "requested" else approval.message,
            )
        except AuditWriteError as exc:
            lost = None
            if self.trail is not None:  # configured: the next record says this one is missing
                self.trail.note_lost()
                lost = self.trail.lost
            _log.error(
                "toolwire_audit.record_lost", approval_id=approval.id, error=str(exc), lost=lost
            )

    # -- records ---------------------------------------------------------------------------

    def call_fields(
        self,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        context: toolwire.CallContext,
        duration_us: int,
    ) -> dict[str, Any]:
        """The fields of a call's record (the trail adds ``v``, ``seq``, ``time`` and the hashes).

        Returns:
            ``event`` (``"call"``), ``instance``, ``call_id``, ``tool``, ``plugin``,
            ``distribution`` and ``version`` of the package the tool's function comes from,
            ``role``, ``principal``, ``arguments_hmac``, ``arguments`` (with
            ``include_arguments``), ``outcome`` (``"ok"`` or ``"error"``), ``error_kind``,
            ``attempts``, ``duration_us``, ``approval_id`` and ``decided_by``; and
            ``caller`` (``"direct"``, ``"program"``, ``"unknown"``) for a call whose provider
            said who made it.
        """
        tool = context.tool
        name = tool.name if tool is not None else call.name
        distribution, version = self._pack_of(tool)
        approval = getattr(result, "approval", None)
        fields: dict[str, Any] = {
            "event": "call",
            "instance": self.instance,
            "call_id": str(result.call_id),
            "tool": name[:200] if isinstance(name, str) else "",
            "plugin": context.plugin,
            "distribution": distribution,
            "version": version,
            "role": context.role,
            "principal": _principal(context.state.get(self.settings.principal_key)),
            "arguments_hmac": arguments_digest(self._key, call.arguments),
            "outcome": "ok" if result.success else "error",
            "error_kind": _kind(result),
            "attempts": int(result.attempts),
            "duration_us": max(0, int(duration_us)),
            "approval_id": _text(_first_attribute(approval, "id", "approval_id")),
            "decided_by": _text(_first_attribute(approval, "decided_by", "by")),
        }
        caller = getattr(context, "caller", None)
        if caller is not None:
            fields["caller"] = str(caller)[:20]
        if self.settings.include_arguments:
            fields["arguments"] = recorded_arguments(call.arguments, self._redact)
        return fields

    def record_approval(
        self,
        event: ApprovalEvent,
        *,
        approval_id: str,
        call_id: str,
        tool: str,
        arguments: Any = None,
        role: str | None = None,
        principal: Any = None,
        decided_by: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Append one approval event (``approval.requested``, ``.approved``, ``.rejected``,
        ``.expired``) to the trail, chained like call records.

        For the approvals store to call as each event happens; the call that an approval lets
        run gets its own call record, with ``approval_id`` and ``decided_by``.

        Returns:
            The record as written.

        Raises:
            ValueError: an event name not in ``APPROVAL_EVENTS``.
            AuditWriteError: the record could not be written.
        """
        if event not in APPROVAL_EVENTS:
            raise ValueError(f"unknown approval event {event!r}; expected one of {APPROVAL_EVENTS}")
        if reason is not None:  # a person's words may quote a secret argument: masked
            redaction = toolwire.types.Redaction(self._redact)
            reason = redaction.mask(reason, redaction.secret_values(arguments))
        fields: dict[str, Any] = {
            "event": f"approval.{event}",
            "instance": self.instance,
            "approval_id": str(approval_id),
            "call_id": str(call_id),
            "tool": str(tool)[:200],
            "role": role,
            "principal": _principal(principal),
            "arguments_hmac": arguments_digest(self._key, arguments),
            "decided_by": _text(decided_by),
            "reason": _text(reason),
        }
        if self.settings.include_arguments:
            fields["arguments"] = recorded_arguments(arguments, self._redact)
        return self._open_trail().append(fields)

    def stats(self) -> dict[str, int]:
        """What the trail did in this process (shared by every dispatcher writing its file).

        A host that loads the plugin through its entry point holds no instance of it:
        ``toolwire_audit.stats(path)`` returns the same.

        Returns:
            ``records``: records written. ``failures``: writes (and opens) that failed.
            ``lost``: calls left without a record because it could not be written; the next
            record written carries ``lost`` with their number, so ``verify`` reports them. With
            ``required = false`` any call can be lost; with ``required = true`` only a call whose
            tool did not run (an unknown tool, a denial, a call refused because the trail
            could not be written) or whose value was withheld (it ended with
            ``internal_error``): a value that reached the model always has its record.
            ``seq``: the last sequence number (0 before the first write).
        """
        trail = self.trail
        if trail is None:
            return {"records": 0, "failures": 0, "lost": 0, "seq": 0}
        return trail.stats()

    # -- helpers ---------------------------------------------------------------------------

    def _open_trail(self) -> AuditTrail:
        """The trail; taken again when the dispatcher is used after ``close()`` (a new start)."""
        if self.trail is None:
            if not self.settings.path:
                raise AuditWriteError("the audit plugin is not configured (no toolwire_configure)")
            try:
                self.trail = open_trail(self.settings.path, self.settings.trail_options)
            except ValueError as exc:
                raise AuditWriteError(str(exc)) from None
        return self.trail

    def _pack_of(self, tool: toolwire.Tool | None) -> tuple[str | None, str | None]:
        """The distribution the tool's function comes from, and its version (cached per module)."""
        if tool is None:
            return None, None
        module = getattr(tool.function, "__module__", None)
        top = module.partition(".")[0] if isinstance(module, str) else ""
        found = self._packs.get(top)
        if found is not None:
            return found
        with self._packs_lock:
            if self._distributions is None:
                self._distributions = importlib.metadata.packages_distributions()
            names = self._distributions.get(top) or []
            found = (None, None)
            for name in names:
                try:
                    found = (name, importlib.metadata.version(name))
                    break
                except importlib.metadata.PackageNotFoundError:
                    continue
            self._packs[top] = found
        return found


def _kind(result: toolwire.DispatchResult) -> str | None:
    return result.error.kind if result.error is not None else None


def _principal(value: Any) -> str | int | bool | None:
    if value is None or isinstance(value, str | int | bool):
        return value[:200] if isinstance(value, str) else value
    return str(value)[:200]


def _first_attribute(obj: Any, *names: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj if names[0] == "id" else None
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:200]
