"""What the pages show, gathered from the dispatcher's public API: approvals, policies, plugins
and the audit trail. Secrets are masked here, before anything reaches a template."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

import toolwire
from toolwire.types import Redaction

#: A value longer than this is shortened in the list; the whole value is one click away.
SHORT: Final = 80
#: The policy fields the tools page shows first, in this order; any other field follows.
POLICY_ORDER: Final = (
    "roles", "timeout", "retries", "executor", "approval", "max_concurrency", "sequential",
    "max_output_chars", "read_only", "destructive", "idempotent", "open_world",
)  # fmt: skip
#: Fields that are not a value to show (``enabled``: only enabled tools are listed).
_HIDDEN_FIELDS: Final = frozenset({"enabled", "options"})
#: How much of the end of the newest trail file the audit page reads.
_TAIL_BYTES: Final = 512 * 1024
#: Each status as the pages say it.
STATES: Final = {
    "pending": "waits for a decision",
    "approved": "approved, waiting for its host",
    "running": "approved, running",
    "executed": "approved and run",
    "rejected": "rejected",
    "expired": "expired",
}
#: Approved and not finished: the host that holds the call runs it (or is running it).
_APPROVED: Final = ("approved", "running")


def when(stamp: float | None) -> str:
    """A Unix time as UTC, to the second."""
    if stamp is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A duration for people: ``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``."""
    seconds = max(0, int(seconds))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                      ("m", 60, "s", 1)):  # fmt: skip
        if seconds >= size:
            rest = (seconds % size) // sub_size
            return f"{seconds // size}{unit} {rest}{sub}" if rest else f"{seconds // size}{unit}"
    return f"{seconds}s"


#: Characters that change how the text around them reads without showing themselves, beyond
#: the Unicode format characters (category Cf: bidirectional overrides and isolates, zero-width
#: marks, soft hyphens, tags): line and paragraph separators, fillers that show as blanks, and
#: variation selectors. Shown as their escapes, so a name or an argument cannot make a person
#: read another value than the one stored.
_INVISIBLE_TOO: Final = frozenset(
    "\u2028\u2029\u034f\u115f\u1160\u3164\uffa0" + "".join(map(chr, range(0xFE00, 0xFE10)))
)


def _shown(char: str) -> str:
    if char in _INVISIBLE_TOO or unicodedata.category(char) == "Cf":
        code = ord(char)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def visible(value: Any) -> Any:
    """``value`` with every invisible formatting character in its text shown as its escape
    (``\\u202e``, ``\\U000e0041``); mappings and lists copied, anything else as it is."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return "".join(map(_shown, value))
    if isinstance(value, Mapping):
        return {visible(k): visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [visible(v) for v in value]
    return value


def argument_rows(arguments: Any) -> list[dict[str, Any]]:
    """One row per top-level argument: its name, the value as JSON, and a short form of it
    when it is longer than ``SHORT`` characters (``None`` otherwise)."""
    if not isinstance(arguments, Mapping):
        arguments = {"(arguments)": arguments}
    rows = []
    for name, value in arguments.items():
        text = json.dumps(value, ensure_ascii=False, indent=None)
        short = text[: SHORT - 1] + "…" if len(text) > SHORT else None
        rows.append({"name": str(name), "value": text, "short": short})
    return rows


def approval_view(approval: toolwire.Approval, redaction: Redaction, now: float) -> dict[str, Any]:
    """One approval record as the pages show it, secrets masked (``Approval.to_dict``)."""
    data = visible(approval.to_dict(redaction))
    return {
        **data,
        "arguments": argument_rows(data["arguments"]),
        "intact": approval.intact(),
        "created": when(approval.created_at),
        "age": span(now - approval.created_at),
        "expires": when(approval.expires_at),
        "expires_in": span(approval.expires_at - now),
        "decided": when(approval.decided_at),
        "state": STATES.get(approval.status, approval.status),
    }


def approvals_page(records: Sequence[toolwire.Approval], redaction: Redaction) -> dict[str, Any]:
    """Pending approvals newest first; approved ones waiting for their host; the held turns
    they belong to; and recent decisions."""
    now = time.time()
    pending = sorted(
        (r for r in records if r.status == "pending"), key=lambda r: r.created_at, reverse=True
    )
    approved = sorted(
        (r for r in records if r.status in _APPROVED),
        key=lambda r: r.decided_at or 0.0,
        reverse=True,
    )
    turns: dict[str, list[toolwire.Approval]] = {}
    for record in records:
        if record.turn_id is not None:
            turns.setdefault(record.turn_id, []).append(record)
    held = [
        {
            "turn_id": turn_id,
            "calls": [
                {
                    "id": r.id,
                    "tool": visible(r.tool),
                    "status": r.status,
                    "state": STATES.get(r.status, r.status),
                    "waits": r.status == "pending",
                }
                for r in sorted(members, key=lambda r: r.created_at)
            ],
            "waiting": sum(r.status == "pending" for r in members),
            "approved": sum(r.status in _APPROVED for r in members),
        }
        for turn_id, members in turns.items()
        if any(r.status == "pending" or r.status in _APPROVED for r in members)
    ]
    decided = sorted(
        (r for r in records if r.status != "pending" and r.decided_at is not None),
        key=lambda r: r.decided_at or 0.0,
        reverse=True,
    )[:20]
    return {
        "pending": [approval_view(r, redaction, now) for r in pending],
        "approved": [approval_view(r, redaction, now) for r in approved],
        "held": held,
        "decided": [approval_view(r, redaction, now) for r in decided],
    }


def shown_value(value: Any) -> str:
    """A policy value as text: sets sorted, exception types by name, ``-`` for unset."""
    if value is None:
        return "-"
    if isinstance(value, frozenset | set):
        return ", ".join(sorted(map(str, value))) or "(none)"
    if isinstance(value, tuple):
        return ", ".join(getattr(v, "__name__", str(v)) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False, default=str, sort_keys=True)
    return str(value)


def tools_page(dispatcher: toolwire.Dispatcher) -> dict[str, Any]:
    """Every enabled tool with its effective policy, each value with its source; and every
    plugin as ``toolwire plugins`` shows it."""
    tools = []
    for tool in dispatcher.tools(all_roles=True):
        policy = dispatcher.policy(tool.name)
        sources = dispatcher.policy_sources(tool.name)
        names = [f.name for f in dataclasses.fields(policy) if f.name not in _HIDDEN_FIELDS]
        ordered = [n for n in POLICY_ORDER if n in names] + [
            n for n in names if n not in POLICY_ORDER
        ]
        rows = [
            {"name": n, "value": shown_value(getattr(policy, n)), "source": sources.get(n, "-")}
            for n in ordered
            if getattr(policy, n) is not None or sources.get(n, "not set") != "not set"
        ]
        rows += [
            {"name": n, "value": shown_value(v), "source": sources.get(n, "-")}
            for n, v in sorted(policy.options.items())
        ]
        tools.append(
            {
                "name": tool.name,
                "plugin": dispatcher.plugin_of(tool.name),
                "description": (tool.description or "").strip().splitlines()[0:1],
                "policy": rows,
            }
        )
    return {"tools": tools, "plugins": [p.to_dict() for p in dispatcher.plugins()]}


def audit_page(dispatcher: toolwire.Dispatcher, limit: int) -> dict[str, Any]:
    """The newest call records of the audit trail and the chain's verification, or why not.

    Reads the trail through ``toolwire_audit``'s public API (``Settings``, ``trail_files``,
    ``verify_trail``); says so when the plugin is not installed or not enabled.
    """
    row = next((p for p in dispatcher.plugins() if p.name == "audit"), None)
    try:
        import toolwire_audit
    except ImportError:
        return {"state": "missing", "why": "the audit plugin (toolwire-audit) is not installed"}
    if row is None or row.status != "enabled":
        status = row.status if row is not None else "not loaded"
        return {"state": "off", "why": f"the audit plugin is {status} in this config"}
    audit_settings = toolwire_audit.Settings.from_config(dispatcher.config)
    path = audit_settings.path
    verification, files = toolwire_audit.verify_trail(path)
    records = _newest_calls(files, limit)
    problem = verification.problem
    return {
        "state": "on",
        "path": path,
        "files": len(files),
        "ok": verification.ok,
        "verified": verification.records,
        "problem": None if problem is None else f"{problem.kind}: {problem.message}",
        "torn": len(verification.torn),
        "lost": sum(x.records for x in verification.lost),
        "calls": records,
    }


def _newest_calls(files: Sequence[Any], limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` call records of a trail's files, newest first."""
    found: list[dict[str, Any]] = []
    for file in reversed(files):
        with open(file, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().splitlines()
        if size > _TAIL_BYTES:
            lines = lines[1:]  # the first line read may be cut
        for raw in reversed(lines):
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a torn last line: the verification reports it
            if not isinstance(record, dict) or record.get("event") != "call":
                continue
            found.append(
                visible(
                    {
                        "time": str(record.get("time", "")),
                        "tool": str(record.get("tool", "")),
                        "principal": record.get("principal"),
                        "role": record.get("role"),
                        "outcome": str(record.get("outcome", "")),
                        "error_kind": record.get("error_kind"),
                        "duration": _duration(record.get("duration_us")),
                        "decided_by": record.get("decided_by"),
                    }
                )
            )
            if len(found) >= limit:
                return found
    return found


def _duration(micros: Any) -> str:
    if not isinstance(micros, int):
        return "-"
    if micros >= 1_000_000:
        return f"{micros / 1_000_000:.2f} s"
    return f"{micros / 1000:.1f} ms"
