"""The error record a call can end with, and the exceptions tools and plugins raise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

ErrorKind = Literal[
    "unknown_tool",
    "invalid_arguments",
    "permission_denied",
    "rejected",
    "approval_required",
    "approval_denied",
    "approval_expired",
    "rate_limited",
    "timeout",
    "execution_error",
    "executor_lost",
    "executor_unavailable",
    "output_error",
    "output_too_large",
    "cancelled",
    "internal_error",
]

#: Whether a retry of the same call can help, per kind, unless the raiser says otherwise.
RETRYABLE: Final[Mapping[str, bool]] = {
    "unknown_tool": False,
    "invalid_arguments": False,
    "permission_denied": False,
    "rejected": False,
    "approval_required": True,  # once a person approves, or in a later turn
    "approval_denied": False,  # a person said no to exactly this call
    "approval_expired": True,  # nobody decided in time; asking again may reach someone
    "rate_limited": True,
    "timeout": True,
    "execution_error": False,
    # The call may have run partly: only a tool marked idempotent is safe to run again (the
    # dispatcher then says so on the error it returns).
    "executor_lost": False,
    "executor_unavailable": True,  # nothing ran
    "output_error": False,
    "output_too_large": False,  # the same call gives the same result; ask for less
    "cancelled": True,
    "internal_error": False,
}

ERROR_KINDS: Final[tuple[str, ...]] = tuple(RETRYABLE)


class ToolError(Exception):
    """An error meant for the model: both the exception a tool raises and the record a call ends with.

    A tool that raises ``ToolError("City not found")`` sends exactly that message to the
    model. Any other exception sends a generic message and the details go to the log.

    Args:
        message: What the model is told. Keep it short and actionable.
        kind: One of the error kinds (see ``toolwire.ERROR_KINDS``).
        retryable: Whether retrying the same call can help; the kind's default when omitted.
        details: Extra JSON-serializable facts the model may use (``retry_after``, ``accepted``...).
    """

    __slots__ = ("details", "kind", "message", "retryable")

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = "execution_error",
        retryable: bool | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if kind not in RETRYABLE:
            raise ValueError(f"unknown error kind {kind!r}; expected one of {ERROR_KINDS}")
        super().__init__(message)
        self.message: str = message
        self.kind: ErrorKind = kind
        self.retryable: bool = RETRYABLE[kind] if retryable is None else retryable
        self.details: dict[str, Any] = dict(details) if details else {}

    def to_dict(self) -> dict[str, Any]:
        """The short JSON object the model sees: kind, message, retryable and any details."""
        out: dict[str, Any] = {
            "error": self.kind,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.details:
            out["details"] = self.details
        return out

    def __repr__(self) -> str:
        return (
            f"toolwire.ToolError({self.message!r}, kind={self.kind!r}, "
            f"retryable={self.retryable!r}, details={self.details!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolError):
            return NotImplemented
        return (self.kind, self.message, self.retryable, self.details) == (
            other.kind,
            other.message,
            other.retryable,
            other.details,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.message, self.retryable))


class TransientError(Exception):
    """Raise from a tool for a failure that is worth retrying (retried when ``retries=`` is set)."""


class Reject(Exception):
    """Raised by a ``toolwire_before_call`` implementation to refuse a call.

    Args:
        reason: Sent to the model as the ``rejected`` error's message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Deny:
    """A permission vote against a call, with the reason the model is told.

    Return it from ``toolwire_check_permission``; a bare ``False`` denies without a reason.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str = "permission denied") -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"toolwire.Deny({self.reason!r})"


class RequireApproval:
    """A permission vote that asks a person first: the call waits for an approval.

    Return it from ``toolwire_check_permission``. Any deny still wins over it; it wins over
    any allow.

    Args:
        reason: Why a person must decide, shown to whoever approves (and in the record).
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str = "this call needs a person's approval") -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"toolwire.RequireApproval({self.reason!r})"


class ConfigError(Exception):
    """The host's or operator's mistake found at start: bad config, duplicate tool, bad schema.

    Attributes:
        problems: Each problem found, one line each (a config may have several).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class DuplicateToolError(ConfigError):
    """Two tools share one name; the message names both sources."""


class PluginError(ConfigError):
    """A plugin could not be loaded while ``strict`` is on, or one enabled is not installed."""
