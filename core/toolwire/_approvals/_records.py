"""Approval records and held turns: the values, their canonical JSON and digests, ids."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .._logging import Redaction


#: Every state a record can be in.
STATUSES: Final = ("pending", "approved", "running", "rejected", "expired", "executed")
#: The states a decision (approve, reject, expire) can claim a record from: it waits.
WAITING: Final = ("pending", "approved")


@dataclass(frozen=True, slots=True)
class Approval:
    """One call waiting for (or decided by) a person. Times are Unix seconds (UTC).

    Attributes:
        id: Unguessable (``secrets.token_urlsafe``): the only handle a decision takes.
        call_id: The provider's id for the call.
        tool: The tool's name.
        arguments: The validated arguments as canonical JSON: exactly what runs on approval.
        digest: SHA-256 (hex) of the record's binding (tool, plugin, fingerprint, arguments,
            role, principal, call id, expiry) as canonical JSON, checked again before the
            call runs: an edited record never runs.
        role: The role the call was dispatched under.
        principal: The value of the host state's ``[approvals] principal_key``, as text.
        reason: Why a person must decide (the ``RequireApproval`` reason, or the policy).
        created_at: When the call asked.
        expires_at: When the approval lapses (``[approvals] ttl`` after ``created_at``): a
            call that has not run by then (``pending``, or ``approved``) never runs.
        status: ``pending`` (waits for a person); ``running`` (approved, and claimed by the
            process that runs it; the tool runs at most once); ``executed`` (the tool
            started: the stored result says how it ended, an error included); ``approved``
            (approved, but its run failed before the tool started: nothing ran, and the next
            ``approve`` runs it); ``rejected``; ``expired``.
        turn_id: The held turn the call belongs to, if it came in a held response.
        provider: The provider the turn's items are shaped for (with ``turn_id``).
        decided_by: Who approved or rejected it, the last to approve it when it was approved
            again (``None`` while pending, and when it expired).
        decided_at: When it was decided or expired.
        message: What the person said when rejecting it.
        plugin: The plugin that registered the tool that asked.
        fingerprint: SHA-256 (hex) of that tool's name, plugin and parameter schema: only a
            process whose tool of that name has the same fingerprint may run the call.
        caller: Who made the call (``CallContext.caller``): ``None`` for the model itself,
            ``"program"`` for code the model ran. Covered by ``digest`` when set, and checked
            against the tool's ``allowed_callers`` again when the call runs.
    """

    id: str
    call_id: str
    tool: str
    arguments: str
    digest: str
    role: str | None
    principal: str | None
    reason: str
    created_at: float
    expires_at: float
    status: str = "pending"
    turn_id: str | None = None
    provider: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    message: str | None = None
    plugin: str | None = None
    fingerprint: str | None = None
    caller: str | None = None

    def binding(self) -> str:
        """What ``digest`` covers, as canonical JSON (``caller`` only when set: a record made
        before calls carried their caller keeps its digest)."""
        caller = {} if self.caller is None else {"caller": self.caller}
        return canonical_json(
            {
                **caller,
                "tool": self.tool,
                "plugin": self.plugin,
                "fingerprint": self.fingerprint,
                "arguments": self.arguments,
                "role": self.role,
                "principal": self.principal,
                "call_id": self.call_id,
                "expires_at": self.expires_at,
                "turn_id": self.turn_id,
                "provider": self.provider,
            }
        )

    def intact(self) -> bool:
        """Whether the record still matches its ``digest``: ``False`` when anything it binds
        (the arguments, tool, role, principal, expiry...) was edited in the store since it
        was made. Such a call never runs."""
        return digest_of(self.binding()) == self.digest

    def to_dict(self, redaction: Redaction | None = None) -> dict[str, Any]:
        """The record as JSON data, ``arguments`` parsed (as ``toolwire approvals list --json``).

        Args:
            redaction: What to hide, as the log hides it (``toolwire.types.Redaction``): the
                values of secret arguments, by key in ``arguments`` and wherever the
                arguments, the reason or the rejection message quote them.
        """
        data = dataclasses.asdict(self)
        data["arguments"] = json.loads(self.arguments)
        if redaction is not None:
            secrets = redaction.secret_values(data["arguments"])
            data["arguments"] = redaction.mask(redaction.redact(data["arguments"]), secrets)
            for text in ("reason", "message"):
                data[text] = redaction.mask(data[text], secrets)
        return data

    def __repr__(self) -> str:
        return f"<toolwire.Approval {self.id} tool={self.tool!r} status={self.status!r}>"

    def expired(self, now: float) -> bool:
        """Whether it waits (``pending``, or ``approved`` and not run) past its expiry."""
        return self.status in WAITING and now >= self.expires_at


#: The fields fixed when a record is made, stored as one JSON text.
_FIXED: Final = (
    "id", "call_id", "tool", "arguments", "digest", "role", "principal", "reason",
    "created_at", "expires_at", "turn_id", "provider", "plugin", "fingerprint", "caller",
)  # fmt: skip


class ApprovalError(Exception):
    """A host's request about approvals that cannot be met: an unknown id or turn, a turn not
    yet decided, or a store that failed.

    Attributes:
        pending: For ``resume``, the approvals of the turn still undecided (else empty).
    """

    def __init__(self, message: str, pending: Sequence[Approval] = ()) -> None:
        super().__init__(message)
        self.pending: tuple[Approval, ...] = tuple(pending)


class HeldTurn(list[Any]):
    """What ``process_response`` returns for a held turn: no items yet (append nothing).

    ``dispatcher.resume(turn_id)`` returns every item of the turn, as ``process_response``
    would have, once each of ``pending`` is decided.

    Attributes:
        turn_id: The turn's id, for ``resume``.
        pending: The approvals the turn waits for, in call order.
        ran: The items of the calls that ran (or were answered at once), in call order, as the
            provider formats one call's result: what happened, not yet to append (``resume``
            gives them again, in the turn's items).
    """

    def __init__(self, turn_id: str, pending: Sequence[Approval], ran: Sequence[Any] = ()) -> None:
        super().__init__()
        self.turn_id = turn_id
        self.pending: tuple[Approval, ...] = tuple(pending)
        self.ran: tuple[Any, ...] = tuple(ran)

    def __repr__(self) -> str:
        return f"<toolwire.HeldTurn {self.turn_id!r} pending={[a.id for a in self.pending]}>"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII as is: one text for one value.

    Raises:
        ValueError: a value JSON cannot carry (``NaN``, an unknown type).
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def digest_of(text: str) -> str:
    """SHA-256 of the UTF-8 text, in hex."""
    import hashlib  # here, like sqlite3: only a host whose calls wait for a person loads it

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """An unguessable id: 128 random bits, URL-safe."""
    import secrets

    return f"{prefix}_{secrets.token_urlsafe(16)}"
