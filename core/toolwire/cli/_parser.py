"""The ``toolwire`` argument parser: the built-in commands, the global options, plugins' commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from .._approvals._records import STATUSES
from .._builtins import BUILTIN_PLUGINS
from .._discovery import installed_plugins
from .._plugins import own_version
from ..types import Command
from ._approvals import (
    cmd_approvals_approve,
    cmd_approvals_list,
    cmd_approvals_reject,
    cmd_approvals_resume,
)
from ._calls import (
    cmd_call,
    cmd_dispatch,
)
from ._common import (
    LOG_LEVELS,
)
from ._inspect import cmd_check, cmd_plugins, cmd_tools

BUILTIN_COMMANDS: Final = frozenset({"plugins", "tools", "call", "dispatch", "check", "approvals"})


_Handler = Callable[[argparse.Namespace], int]


def _adder(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> Callable[[str, _Handler, str, str], argparse.ArgumentParser]:
    """What adds one command (or one action of a command): its handler, summary and help text,
    with the global options accepted after it too."""

    def add(
        name: str, handler: _Handler, summary: str, description: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=summary, description=description
        )
        sub.set_defaults(handler=handler)
        return sub

    return add


def build_parser(extra: Sequence[Command] = ()) -> argparse.ArgumentParser:
    """The argument parser; the docs' help texts are checked against it.

    Args:
        extra: Subcommands that plugins contribute (``toolwire_register_commands``).
    """
    parser = argparse.ArgumentParser(
        prog="toolwire",
        description="Dispatch the tool calls a language model makes: list what is installed, "
        "check the config, make calls by hand.",
        epilog="Exit codes: 0 success, 1 a tool error (check: problems found), "
        "2 a usage or config error, 3 a turn held for a person's decision.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show toolwire's version and the plugin count"
    )
    _add_global_options(parser, argparse.SUPPRESS)
    parser.set_defaults(config=None, log_level=None, log_format=None, json=False)
    # The same options after the command (``toolwire tools --json``); SUPPRESS keeps an option
    # given before the command from being reset to its default by the subparser.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = _adder(commands, common)

    command(
        "plugins",
        cmd_plugins,
        "list installed and built-in plugins",
        "Every plugin in the 'toolwire' entry-point group and every built-in one: name, "
        "distribution, version, status (enabled, disabled, blocked, failed), the hooks it "
        "implements, how many tools it brings, and why a failed one failed.",
    )
    tools = command(
        "tools",
        cmd_tools,
        "list the tools a role may call",
        "The enabled tools a role may call, with their descriptions. With --provider, the "
        "exact 'tools' list that provider's API would receive, as JSON.",
    )
    tools.add_argument("--role", help="list only the tools this role may call")
    tools.add_argument(
        "--provider",
        metavar="P",
        help="print the tools list for this provider (openai-responses, openai-chat, "
        "anthropic, gemini, or one a plugin adds)",
    )
    call = command(
        "call",
        cmd_call,
        "make one call through the full pipeline",
        "Make one call through the full pipeline (validation, permissions, hooks, "
        "middleware) and print its DispatchResult as JSON. Exit 0 when the call succeeded, "
        "1 when it ended in a tool error.",
    )
    call.add_argument("name", metavar="NAME", help="the tool's name")
    call.add_argument(
        "arguments",
        metavar="ARGS_JSON",
        nargs="?",
        default="{}",
        help="the arguments as a JSON object, or - to read them from stdin (default: {})",
    )
    call.add_argument("--role", help="call as this role")
    call.add_argument(
        "--state", metavar="JSON", help="host state the tool's CallContext receives (a JSON object)"
    )
    dispatch = command(
        "dispatch",
        cmd_dispatch,
        "dispatch the calls in a provider response",
        "Read a model API response (JSON), dispatch every tool call in it, and print the "
        "items to append to the conversation, as JSON. When a call waits for a person's "
        "approval, the turn is held: the other calls run, and what ran, what waits (secret "
        "arguments as [redacted]) and the command that finishes the turn are printed as one "
        'JSON object; exit 3. With [approvals] store = "memory://" a response whose calls '
        "could wait is refused before anything runs.",
    )
    dispatch.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default="-",
        help="the response as JSON; - or nothing reads stdin",
    )
    dispatch.add_argument(
        "--provider", metavar="P", help="the response's API (detected when omitted)"
    )
    dispatch.add_argument("--role", help="dispatch as this role")
    dispatch.add_argument(
        "--state", metavar="JSON", help="host state every call's CallContext receives"
    )
    command(
        "check",
        cmd_check,
        "validate the config and every enabled tool",
        "Validate the config (unknown keys, wrong types, plugins named but not installed) "
        "and every enabled tool (its JSON Schema, OpenAI strict-mode compatibility, a name "
        "every provider accepts, no name taken twice). Lists every problem; exit 1 if any.",
    )
    approvals = command(
        "approvals",
        cmd_approvals_list,
        "list, approve or reject calls that wait for a person; resume held turns",
        "Calls that need a person's approval wait in the approval store ([approvals] store). "
        "List them, approve one (it runs once, with exactly its stored arguments) or reject "
        "one (the model is told not to retry it), and resume a turn that dispatch held.",
    )
    actions = approvals.add_subparsers(dest="action", metavar="ACTION", required=True)
    action = _adder(actions, common)

    listing = action(
        "list",
        cmd_approvals_list,
        "list approvals, oldest first",
        "Every approval record, oldest first: id, status, tool, role, principal, expiry, who "
        "decided, the call's arguments (shortened) and why it needs approval. Pending ones past "
        "their expiry are expired first. The values of secret arguments ([logging] redact) "
        "show as [redacted].",
    )
    listing.add_argument("--status", choices=STATUSES, metavar="S",
                         help=f"only records with this status: {', '.join(STATUSES)}")  # fmt: skip
    approve = action(
        "approve",
        cmd_approvals_approve,
        "approve a call: it runs once",
        "Approve a waiting call: it runs once, with exactly its stored arguments, and its "
        "DispatchResult is printed as JSON. Approving a call that ran, or was rejected or "
        "expired, prints the stored result and runs nothing; a call whose run failed before "
        "its tool started is still approved, and runs now. Exit 0 when the call succeeded, 1 "
        "when it ended in an error (expired, rejected before, the tool failed, or it could not "
        "start). With --no-run, only the approval is recorded and the record printed: the host "
        "that holds the call runs it when it resumes (exit 1 when it was decided before).",
    )
    approve.add_argument("id", metavar="ID", help="the approval's id")
    approve.add_argument("--by", metavar="NAME", required=True, help="who approves (recorded)")
    approve.add_argument(
        "--no-run",
        action="store_true",
        help="record the approval only; the host that holds the call runs it",
    )
    reject = action(
        "reject",
        cmd_approvals_reject,
        "reject a call: it never runs",
        "Reject a waiting call: it ends with approval_denied, whose message tells the model "
        "not to retry it; the DispatchResult is printed as JSON. Exit 0 when the call is "
        "rejected (now or before), 1 when it was already decided otherwise.",
    )
    reject.add_argument("id", metavar="ID", help="the approval's id")
    reject.add_argument("--by", metavar="NAME", required=True, help="who rejects (recorded)")
    reject.add_argument("--message", metavar="TEXT", help="why, as the model will read it")
    resume = action(
        "resume",
        cmd_approvals_resume,
        "print a held turn's items once every approval is decided",
        "Once every approval of a turn that dispatch held is decided, print every item of the "
        "turn, in call order, as dispatch would have: the calls that ran, the approved ones' "
        "results and approval_denied (or approval_expired) for the others, as JSON. It runs "
        "nothing: approve runs a call. A turn is resumed once. Exit 0 when the items are "
        "printed, 3 when some approval still waits (named; nothing is printed but them), 1 for "
        "an unknown turn or one resumed before.",
    )
    resume.add_argument("turn", metavar="TURN", help="the turn's id (turn_...)")
    for contributed in extra:
        sub = command(
            contributed.name,
            contributed.run,
            contributed.help,
            contributed.description or contributed.help,
        )
        if contributed.setup is not None:
            contributed.setup(sub)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config", metavar="FILE", default=default,
        help="the config file (default: $TOOLWIRE_CONFIG, ./toolwire.toml, "
        "[tool.toolwire] in ./pyproject.toml)",
    )  # fmt: skip
    group.add_argument(
        "--log-level", choices=LOG_LEVELS, default=default, metavar="LEVEL",
        help="least level logged on stderr: debug, info, warning, error or critical "
        "(default: warning)",
    )  # fmt: skip
    group.add_argument(
        "--log-format", choices=("console", "json"), default=default, metavar="FORMAT",
        help="how logs are rendered: console or json (default: [logging] format in the "
        "config, else json with --json, else console)",
    )  # fmt: skip
    group.add_argument(
        "--json", action="store_true", default=default,
        help="machine-readable JSON output instead of a table",
    )  # fmt: skip


class _VersionAction(argparse.Action):
    """``--version``: counts installed plugins only when asked (reading metadata imports none)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        installed = sum(1 for _ in installed_plugins())
        print(
            f"toolwire {own_version()} "
            f"({installed} plugin(s) installed, {len(BUILTIN_PLUGINS)} built in)"
        )
        parser.exit()
