"""``toolwire call`` and ``toolwire dispatch``: calls by hand, and a model's response dispatched
(a held turn printed with its pending approvals, exit 3)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from .._approvals._records import Approval, HeldTurn
from .._config import Config
from .._dispatcher import Dispatcher
from .._errors import ConfigError
from .._logging import Redaction
from .._responses import parse_response
from ._common import (
    EXIT_HELD,
    EXIT_OK,
    EXIT_TOOL_ERROR,
    UsageError,
    _dispatcher,
    _parse_json,
    _parse_json_object,
    _print_json,
    _read_text,
    _result_view,
    _tools_print_to_stderr,
)


def cmd_call(args: argparse.Namespace) -> int:
    """Run one call through the whole pipeline and print its ``DispatchResult``."""
    arguments = _read_text(args.arguments) if args.arguments == "-" else args.arguments
    _parse_json_object(arguments, "ARGS_JSON")
    state = _parse_json_object(args.state, "--state") if args.state is not None else None
    with _dispatcher(args) as dispatcher:
        try:
            _check_approvals_outlive_the_command(dispatcher, [args.name], "the call is to")
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        with _tools_print_to_stderr():
            result = dispatcher.dispatch_sync(args.name, arguments, role=args.role, state=state)
        redaction = Redaction.from_config(dispatcher.config)
    _print_json(_result_view(result, redaction, arguments))
    return EXIT_OK if result.success else EXIT_TOOL_ERROR


def cmd_dispatch(args: argparse.Namespace) -> int:
    """Dispatch every call in a provider response; print the items to append to the conversation.

    A held turn (a call waits for a person) prints what ran and what waits, and exits 3; the
    turn is kept in the approval store for ``toolwire approvals resume``.
    """
    name = "stdin" if args.file == "-" else args.file
    response = _parse_json(_read_text(args.file), name)
    state = _parse_json_object(args.state, "--state") if args.state is not None else None
    with _dispatcher(args) as dispatcher:
        if args.provider is not None:
            dispatcher.provider(args.provider)  # an unknown name is the option's fault
        try:
            calls = parse_response(dispatcher.providers(), response, args.provider)[1].calls
            _check_approvals_outlive_the_command(dispatcher, [p.call.name for p in calls])
            with _tools_print_to_stderr():
                items = dispatcher.process_response_sync(
                    response, args.provider, role=args.role, state=state
                )
        except ConfigError as exc:
            raise UsageError(f"{name}: {exc}") from None
        if not isinstance(items, HeldTurn):
            _print_json(items)
            return EXIT_OK
        redaction = Redaction.from_config(dispatcher.config)
        secrets = [s for p in calls for s in redaction.secret_values(p.call.arguments)]
        held = redaction.mask(_held_view(items, redaction, dispatcher.config), secrets)
    waiting = ", ".join(approval.id for approval in items.pending)
    decide = _command_line(dispatcher.config, "approvals")
    print(
        f"toolwire: turn {items.turn_id} is held until a person decides: {waiting} "
        f"({decide} approve|reject ID --by NAME, then {held['resume']})",
        file=sys.stderr,
    )
    _print_json(held)
    return EXIT_HELD


def _check_approvals_outlive_the_command(
    dispatcher: Dispatcher, names: Sequence[Any], subject: str = "the response calls"
) -> None:
    """Refuse, before any call runs, a response whose calls could wait in a ``memory://``
    store: it ends with the command, and with it every way to decide them and finish the turn.

    A call could wait when its tool's policy asks for approval, or when an installed plugin
    votes on permissions (it may answer ``RequireApproval``).

    Raises:
        ConfigError: naming what would wait and the setting that fixes it.
    """
    if dispatcher.config.section("approvals").get("store") != "memory://":
        return
    known = {tool.name for tool in dispatcher.tools(all_roles=True)}
    named = {name for name in names if isinstance(name, str) and name in known}
    gated = sorted(name for name in named if dispatcher.policy(name).approval)
    voters = sorted(
        row.name
        for row in dispatcher.plugins()
        if not row.builtin and row.status == "enabled" and "toolwire_check_permission" in row.hooks
    )
    if gated:
        why = f"{subject} {', '.join(gated)}, which must wait for a person's approval"
    elif voters and names:
        why = (
            f"plugin(s) {', '.join(voters)} vote on permissions and may ask for a person's approval"
        )
    else:
        return
    raise ConfigError(
        f'[approvals] store = "memory://" keeps approvals only until this command ends, and '
        f"{why}: such a call could never be decided, nor its turn finished. Nothing was run. "
        'Configure a durable store ([approvals] store = "sqlite:///approvals.sqlite3", or '
        "redis://HOST:PORT/DB) and run the command again"
    )


def _held_view(held: HeldTurn, redaction: Redaction, config: Config) -> dict[str, Any]:
    """What ``dispatch`` prints for a held turn: what ran, what waits (secrets hidden as
    ``approvals list`` hides them), and the command that finishes the turn."""
    return {
        "turn_id": held.turn_id,
        "status": "held",
        "ran": list(held.ran),
        "pending": [_pending_view(approval, redaction) for approval in held.pending],
        "resume": _command_line(config, "approvals", "resume", held.turn_id),
    }


def _pending_view(approval: Approval, redaction: Redaction) -> dict[str, Any]:
    view = approval.to_dict(redaction)
    keys = ("id", "call_id", "tool", "arguments", "status", "reason", "expires_at")
    return {key: view[key] for key in keys}


def _command_line(config: Config, *words: str) -> str:
    """The ``toolwire`` command line for ``words`` on this config, quoted for a POSIX shell."""
    config_option = [] if config.source is None else ["--config", os.path.abspath(config.source)]
    return shlex.join(["toolwire", *config_option, *words])
