"""The call log: one event per finished call, secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from .._config import Config
from .._hookwalk import idle_when
from .._logging import log, redact, redact_names, secret_values
from .._values import CallContext, DispatchResult, ToolCall
from ..hookspecs import hookimpl

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _quiet_on(plugin: CallLog, success: bool) -> bool:
    """A success logs at ``info``: below a floor of ``warning`` or more, never at all."""
    return success and plugin._threshold > logging.INFO


class CallLog:
    """Logs each call as ``toolwire.call``: tool, call_id, role, outcome, error kind, duration;
    for a call that waits (or waited) for a person, the approval id and who decided.

    Successful calls log at ``info``, failed ones at ``warning``. Nothing is built when the
    level is below ``[logging] level`` (a floor) or below what the host's logger keeps.
    Arguments are logged (redacted) at ``debug`` only; the values of secret arguments are
    masked wherever else they show (the error message a tool chose, the output).
    """

    def __init__(self) -> None:
        self._threshold = logging.INFO
        self._redact: frozenset[str] = frozenset()
        self._log = log

    @hookimpl
    def toolwire_configure(self, config: Config) -> None:
        settings = config.section("logging")
        self._threshold = _LEVELS[settings["level"]]
        self._redact = redact_names(settings)

    @hookimpl
    @idle_when(_quiet_on)
    def toolwire_call_finished(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> None:
        level = logging.INFO if result.success else logging.WARNING
        if level < self._threshold or not self._log.enabled(level):
            return
        event: dict[str, Any] = {
            "tool": call.name[:200],
            "call_id": call.call_id,
            "role": context.role,
            "outcome": "ok" if result.success else "error",
            "error_kind": result.error.kind if result.error is not None else None,
            "error": result.error.message if result.error is not None else None,
            "elapsed_ms": round(result.elapsed_ms, 3),
            "attempts": result.attempts,
        }
        if result.approval is not None:
            event["approval_id"] = result.approval.id
            event["decided_by"] = result.approval.decided_by
        if self._threshold <= logging.DEBUG and self._log.enabled(logging.DEBUG):
            if isinstance(call.arguments, Mapping):
                event["arguments"] = redact(call.arguments, self._redact)
            event["output"] = result.output
        secrets = secret_values(call.arguments, self._redact)
        self._log.log(level, "toolwire.call", secrets=secrets, **event)
