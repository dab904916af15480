"""What goes into a dispatch (``ToolCall``) and what comes out (``DispatchResult``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import ToolError


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
    """

    name: str
    arguments: str | bytes | Mapping[str, Any] | None = None
    call_id: str = ""


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
    """

    success: bool
    call_id: str
    name: str
    result: Any = None
    error: ToolError | None = None
    elapsed_ms: float = 0.0
    attempts: int = 0
    output: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as the CLI prints it."""
        return {
            "success": self.success,
            "call_id": self.call_id,
            "name": self.name,
            "output": self.output,
            "error": self.error.to_dict() if self.error is not None else None,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "attempts": self.attempts,
        }
