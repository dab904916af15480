"""``toolwire approvals``: list, approve, reject, and resume a held turn."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from .._approvals._records import ApprovalError
from .._logging import Redaction
from .._values import DispatchResult
from ._calls import (
    _command_line,
    _pending_view,
)
from ._common import (
    EXIT_HELD,
    EXIT_OK,
    EXIT_TOOL_ERROR,
    _dispatcher,
    _first_line,
    _one_line,
    _print_json,
    _print_table,
    _printable,
    _result_view,
    _shortened,
    _tools_print_to_stderr,
)


def cmd_approvals_list(args: argparse.Namespace) -> int:
    """List approval records, oldest first (overdue pending ones are expired first)."""
    with _dispatcher(args) as dispatcher:
        rows = dispatcher.approvals_sync(args.status)
        redaction = Redaction.from_config(dispatcher.config)
    views = [row.to_dict(redaction) for row in rows]
    if args.json:
        _print_json(views)
        return EXIT_OK
    _print_table(
        (
            "ID", "STATUS", "TOOL", "ROLE", "PRINCIPAL", "EXPIRES", "DECIDED BY", "ARGUMENTS",
            "REASON",
        ),
        [_approval_row(view) for view in views],
    )  # fmt: skip
    return EXIT_OK


def cmd_approvals_approve(args: argparse.Namespace) -> int:
    """Run an approved call once; print its ``DispatchResult``. With ``--no-run``, record the
    approval only (the host that holds the call runs it) and print the record."""
    if args.no_run:
        with _dispatcher(args) as dispatcher:
            record = dispatcher.approve_sync(args.id, by=args.by, run=False)
            redaction = Redaction.from_config(dispatcher.config)
        _print_json(record.to_dict(redaction))
        if record.status == "approved" and record.decided_by == args.by:
            return EXIT_OK
        print(
            f"toolwire: error: approval {args.id} was already decided: it is {record.status}"
            f" (decided by {record.decided_by or 'nobody'})",
            file=sys.stderr,
        )
        return EXIT_TOOL_ERROR
    with _dispatcher(args) as dispatcher:
        with _tools_print_to_stderr():
            result = dispatcher.approve_sync(args.id, by=args.by)
        redaction = Redaction.from_config(dispatcher.config)
    _print_json(_result_view(result, redaction))
    return EXIT_OK if result.success else EXIT_TOOL_ERROR


def cmd_approvals_reject(args: argparse.Namespace) -> int:
    """End a waiting call with ``approval_denied``; print its ``DispatchResult``."""
    with _dispatcher(args) as dispatcher:
        result = dispatcher.reject_sync(args.id, by=args.by, message=args.message)
        redaction = Redaction.from_config(dispatcher.config)
    _print_json(_result_view(result, redaction))
    approval = result.approval
    if approval is not None and approval.status == "rejected" and approval.decided_by == args.by:
        return EXIT_OK
    print(f"toolwire: error: {_not_rejected(args.id, result)}", file=sys.stderr)
    return EXIT_TOOL_ERROR


def cmd_approvals_resume(args: argparse.Namespace) -> int:
    """Print every item of a held turn once each of its approvals is decided; exit 3 while
    some wait, 1 for an unknown turn or one resumed before."""
    with _dispatcher(args) as dispatcher:
        try:
            with _tools_print_to_stderr():  # approved calls run here
                items = dispatcher.resume_sync(args.turn, once=True)
        except ApprovalError as exc:
            if not exc.pending:
                print(f"toolwire: error: {exc}", file=sys.stderr)
                return EXIT_TOOL_ERROR
            redaction = Redaction.from_config(dispatcher.config)
            view = {
                "turn_id": args.turn,
                "status": "held",
                "pending": [_pending_view(approval, redaction) for approval in exc.pending],
                "resume": _command_line(dispatcher.config, "approvals", "resume", args.turn),
            }
            print(
                f"toolwire: {exc}; nothing was run (toolwire approvals approve|reject ID "
                "--by NAME, then resume again)",
                file=sys.stderr,
            )
            _print_json(view)
            return EXIT_HELD
    _print_json(items)
    return EXIT_OK


def _not_rejected(approval_id: str, result: DispatchResult) -> str:
    """Why ``approvals reject`` did not reject: the record was decided before it came."""
    approval = result.approval
    if approval is None:
        return f"approval {approval_id} was not rejected: {_first_line(result.output)}"
    by = f" by {approval.decided_by}" if approval.decided_by else ""
    when = ""
    # An expired record lapsed at its expiry, whenever a look at the store marked it so.
    moment = approval.expires_at if approval.status == "expired" else approval.decided_at
    if moment is not None:
        stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC)
        when = f" at {stamp.isoformat(timespec='seconds')}"
    status = {
        "executed": "already approved and run",
        "running": "already approved and running now",
        "rejected": "already rejected",
        "expired": "already expired",
    }.get(approval.status, f"already {approval.status}")
    return (
        f"approval {approval_id} was not rejected: it was {status}{by}{when}; "
        "a decision is made once"
    )


def _approval_row(view: dict[str, Any]) -> tuple[object, ...]:
    """A table row from ``Approval.to_dict(redaction)``: secrets already hidden."""
    expires = datetime.datetime.fromtimestamp(view["expires_at"], datetime.UTC)
    return (
        view["id"], view["status"], view["tool"], view["role"] or "-",
        view["principal"] or "-", expires.isoformat(timespec="seconds"),
        view["decided_by"] or "-",
        _shortened(_printable(json.dumps(view["arguments"], ensure_ascii=False))),
        _printable(_one_line(view["reason"])),
    )  # fmt: skip
