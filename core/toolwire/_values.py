"""The plain records of a call: what goes in (``ToolCall``), what it runs with (``CallContext``),
what comes out (``DispatchResult``)."""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._errors import ToolError
from ._serialize import utf8_safe

if TYPE_CHECKING:
    from ._approvals._records import Approval
    from ._policy import ToolPolicy
    from ._tools import Tool

#: What a host passes as ``progress=`` to ``dispatch``: called as
#: ``progress(progress, total, message)`` from the thread the tool runs in, each time the tool
#: calls ``CallContext.report_progress``. It must not block. (Public as
#: ``toolwire.types.ProgressCallback``.)
ProgressCallback = Callable[[float, "float | None", "str | None"], None]


# Not frozen: a frozen dataclass costs about 1.5 us to build, and one call builds several.
# Treat both as read-only values; hooks replace a result, they do not edit it.
@dataclass(slots=True)
class ToolCall:
    """One call the model asked for.

    Args:
        name: The tool's name as the model sent it.
        arguments: A JSON string, a mapping, or ``None`` as received; in per-call hooks
            this is the parsed and validated ``dict``.
        call_id: The provider's id for the call; results carry it back.
        caller: Who made the call: ``None`` or ``"direct"`` for the model itself,
            ``"program"`` for code the model runs (a provider's programmatic tool calling),
            ``"unknown"`` for a caller the provider named that toolwire does not know.
    """

    name: str
    arguments: str | bytes | Mapping[str, Any] | None = None
    call_id: str = ""
    caller: str | None = None


@dataclass(slots=True)
class DispatchResult:
    """The outcome of one call: exactly one per call, always.

    Attributes:
        success: ``True`` when the tool ran and its result was serialized.
        call_id: The call's id.
        name: The tool name as the model sent it.
        result: The tool's return value (``None`` on error).
        error: The ``ToolError`` on failure, else ``None``.
        elapsed_ms: Wall time of the whole pipeline for this call.
        attempts: How many times the tool function was started (0 when it never ran).
        output: The text the model receives: the serialized result, or the error object.
        approval: The ``Approval`` record of a call that waits (or waited) for a person;
            ``None`` for a call that needed none.
    """

    success: bool
    call_id: str
    name: str
    result: Any = None
    error: ToolError | None = None
    elapsed_ms: float = 0.0
    attempts: int = 0
    output: str = field(default="", repr=False)
    approval: Approval | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as the CLI prints it (``approval`` only for a call that had one)."""
        view = {
            "success": self.success,
            "call_id": self.call_id,
            "name": self.name,
            "output": self.output,
            "error": self.error.to_dict() if self.error is not None else None,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "attempts": self.attempts,
        }
        if self.approval is not None:
            view["approval"] = self.approval.to_dict()
        return view


@dataclass(slots=True)
class CallContext:
    """Facts about the call being made, for tools, hooks and middleware.

    A tool parameter annotated ``toolwire.CallContext`` receives it; such a parameter is
    left out of the tool's schema, and a model that tries to set it is refused.

    Attributes:
        call_id: The call's id.
        tool: The resolved tool; ``None`` only when the name matched no enabled tool.
        role: The role the host dispatched under (``None`` when it gave none).
        state: Host-provided values (a principal, a session...); never set by the model. The
            host's own mapping, as passed (writes to a dict reach the host); a read-only
            empty mapping when the host passed none.
        policy: The tool's effective policy (code, overridden by config, over defaults).
        attempt: How many times the function has been started for this call.
        arguments: The keyword arguments the function receives (converted, context injected).
        plugin: The plugin that registered the tool (``None`` until the tool is resolved).
        progress: Where ``report_progress`` sends reports: the ``progress=`` callback the host
            passed to ``dispatch``, else ``None`` (reports are then dropped); ``None`` too
            once the call has ended.
        approval_id: The id of the approval a person gave this call; ``None`` for a call that
            needed none.
        caller: Who made the call (``ToolCall.caller``): ``None`` or ``"direct"`` for the
            model itself, ``"program"`` for code the model runs. A tool's
            ``allowed_callers`` is checked against it before the permission hooks run.
    """

    call_id: str
    tool: Tool | None
    role: str | None
    state: Mapping[str, Any] = field(default_factory=dict)
    policy: ToolPolicy | None = None
    attempt: int = 0
    arguments: dict[str, Any] = field(default_factory=dict)
    progress: ProgressCallback | None = None
    plugin: str | None = None
    approval_id: str | None = None
    caller: str | None = None

    #: How the schema layer, which stands below this module, tells a parameter annotated
    #: ``CallContext`` from any other: by this mark, never by importing the class.
    __toolwire_call_context__: ClassVar[bool] = True

    def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Tell whoever asked how far the call has got; does nothing when nobody asked.

        Served over MCP this is a ``notifications/progress`` to a client that sent a progress
        token. Safe from any thread the tool runs in; it never blocks, and never raises but
        for a ``KeyboardInterrupt`` or ``SystemExit`` in the main thread (the host's own
        Ctrl-C or exit): whatever else the listener raises is logged as
        ``toolwire.progress_failed``. A report made once its call has ended (its result
        returned, or the caller cancelled it) is dropped: whoever asked has its result
        already.

        Args:
            progress: How much is done, in any unit; it should grow with each report. It and
                ``total`` must be finite numbers, or the report is dropped (and logged as
                ``toolwire.progress_failed``).
            total: How much there is to do, in the same unit, when known.
            message: A short human-readable status, passed on as text: a lone surrogate
                becomes U+FFFD, and past ``MAX_STATUS_CHARS`` (1,024) characters it is cut,
                ending in "…".
        """
        callback = self.progress
        if callback is None:
            return
        try:
            done, whole = float(progress), None if total is None else float(total)
            if not math.isfinite(done) or (whole is not None and not math.isfinite(whole)):
                raise ValueError(f"progress {done!r} of {whole!r}: both must be finite numbers")
            answer = callback(done, whole, None if message is None else _status(message))
            if inspect.isawaitable(answer):
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
                raise TypeError("a progress callback must be a plain function, not async")
        except BaseException as exc:  # a broken listener must not end the call, nor its loop
            if isinstance(exc, KeyboardInterrupt | SystemExit) and (
                threading.current_thread() is threading.main_thread()
            ):
                raise  # the host's own Ctrl-C or exit, where the host can take it
            from ._logging import log

            log.warning("toolwire.progress_failed", call_id=self.call_id, error=repr(exc))


#: The longest progress status passed on, in characters: a status is a short line.
MAX_STATUS_CHARS: Final = 1024


def _status(message: Any) -> str:
    """A progress message as text any transport can send, at most ``MAX_STATUS_CHARS``."""
    # A str subclass is read as the text it holds (its own __str__ may do anything).
    text = utf8_safe(str.__str__(message) if isinstance(message, str) else str(message))
    return text if len(text) <= MAX_STATUS_CHARS else text[: MAX_STATUS_CHARS - 1] + "…"
