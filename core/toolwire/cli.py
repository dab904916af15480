"""The ``toolwire`` command: what is installed, what a role may call, and calls by hand.

Results go to stdout, logs to stderr. This is the one place that configures structlog: the
library only logs. Exit codes: 0 success, 1 a tool error (or, for ``check``, problems found),
2 a usage or config error, reported as one line on stderr and never as a traceback, 3 a turn
held for a person's decision (``dispatch``, ``approvals resume``).

What the CLI prints about a call hides its secrets as the log does (``[logging] redact``):
``call`` and the ``approvals`` commands print no secret argument's value.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn, TextIO

import structlog

from ._approvals import STATUSES, Approval, ApprovalError, HeldTurn
from ._builtins import BUILTIN_PLUGINS
from ._check import check
from ._commands import PluginCommands, collect_commands
from ._config import Config, load_config
from ._discovery import PluginInfo, installed_plugins
from ._dispatcher import Dispatcher
from ._errors import ConfigError
from ._logging import Redaction
from ._plugins import own_version
from ._responses import parse_response
from ._values import DispatchResult
from .types import Command

EXIT_OK: Final = 0
EXIT_TOOL_ERROR: Final = 1
EXIT_USAGE: Final = 2
#: A turn is held: some of its calls wait for a person (``dispatch``, ``approvals resume``).
EXIT_HELD: Final = 3

LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
_DESCRIPTION_WIDTH: Final = 60
#: The widest the arguments of an approval show in ``toolwire approvals list``; --json has all.
_ARGUMENTS_WIDTH: Final = 60


class UsageError(Exception):
    """An operator's mistake the CLI found itself (a file, a JSON argument); exit 2."""


# -- commands ---------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every plugin, built-in and installed, with its status.

    It always runs: when the plugins cannot start together (a plugin refuses its settings,
    two bring one tool name), each plugin is loaded on its own, as ``toolwire check`` does,
    and each problem shows on its plugin's row; the exit code is then 1.
    """
    code = EXIT_OK
    try:
        with _dispatcher(args) as dispatcher:
            rows = dispatcher.plugins()
    except ConfigError as exc:
        report = check(args.config)
        rows = report.rows
        unplaced = [str(p) for p in report.problems if not p.where.startswith("plugin ")]
        for problem in unplaced or [str(exc)]:
            print(f"toolwire: problem: {problem}", file=sys.stderr)
        code = EXIT_TOOL_ERROR
    if args.json:
        _print_json([row.to_dict() for row in rows])
        return code
    header: tuple[str, ...] = (
        "NAME",
        "DISTRIBUTION",
        "VERSION",
        "STATUS",
        "TOOLS",
        "HOOKS",
        "ERROR",
    )
    table = [_plugin_row(row) for row in rows]
    if not any(row.error for row in rows):
        header, table = header[:-1], [row[:-1] for row in table]
    _print_table(header, table)
    return code


def cmd_tools(args: argparse.Namespace) -> int:
    """List the tools a role may call, or the ``tools`` list one provider's API receives."""
    with _dispatcher(args) as dispatcher:
        if args.provider is not None:
            _print_json(dispatcher.tool_definitions(args.provider, role=args.role))
            return EXIT_OK
        tools = dispatcher.tools(args.role)
        rows: list[dict[str, Any]] = []
        for tool in tools:
            policy = dispatcher.policy(tool.name)
            rows.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "plugin": dispatcher.plugin_of(tool.name),
                    "pack": tool.pack,
                    "roles": sorted(policy.roles) if policy.roles else None,
                    "annotations": policy.annotations(),
                    "parameters": tool.parameters,
                }
            )
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            ("NAME", "PLUGIN", "ROLES", "DESCRIPTION"),
            [
                (
                    row["name"],
                    row["plugin"] or "",
                    ",".join(row["roles"]) if row["roles"] else "(any)",
                    _first_line(row["description"]),
                )
                for row in rows
            ],
        )
    return EXIT_OK


def cmd_call(args: argparse.Namespace) -> int:
    """Run one call through the whole pipeline and print its ``DispatchResult``."""
    arguments = _read_text(args.arguments) if args.arguments == "-" else args.arguments
    _parse_json_object(arguments, "ARGS_JSON")
    state = _parse_json_object(args.state, "--state") if args.state is not None else None
    with _dispatcher(args) as dispatcher:
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
    print(
        f"toolwire: turn {items.turn_id} is held until a person decides: {waiting} "
        f"(toolwire approvals approve|reject ID --by NAME, then {held['resume']})",
        file=sys.stderr,
    )
    _print_json(held)
    return EXIT_HELD


def _check_approvals_outlive_the_command(dispatcher: Dispatcher, names: Sequence[Any]) -> None:
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
        why = f"the response calls {', '.join(gated)}, which must wait for a person's approval"
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
        "redis://HOST:PORT/DB) and dispatch again"
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


def cmd_check(args: argparse.Namespace) -> int:
    """Check the config and every enabled tool; list every problem."""
    report = check(args.config)
    if args.json:
        _print_json(report.to_dict())
    else:
        for finding in report.problems:
            print(f"problem: {finding}")
        for finding in report.notes:
            print(f"note: {finding}")
        for key, path in sorted(report.paths.items()):
            print(f"path: {key} = {path}")
        config = report.source or "built-in defaults"
        if report.ok:
            print(f"ok: {config}, {report.plugins} plugin(s), {report.tools} tool(s)")
        else:
            print(
                f"{len(report.problems)} problem(s) in {config}, "
                f"{report.plugins} plugin(s), {report.tools} tool(s)"
            )
    return EXIT_OK if report.ok else EXIT_TOOL_ERROR


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
    """Run an approved call once; print its ``DispatchResult``."""
    with _dispatcher(args) as dispatcher:
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
    if approval.decided_at is not None:
        stamp = datetime.datetime.fromtimestamp(approval.decided_at, datetime.UTC)
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


# -- the parser -------------------------------------------------------------------------------


BUILTIN_COMMANDS: Final = frozenset({"plugins", "tools", "call", "dispatch", "check", "approvals"})


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

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], summary: str, description: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=summary, description=description)
        sub.set_defaults(handler=handler)
        return sub

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

    def action(
        name: str, handler: Callable[[argparse.Namespace], int], summary: str, description: str
    ) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, parents=[common], help=summary, description=description)
        sub.set_defaults(handler=handler)
        return sub

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
        "start).",
    )
    approve.add_argument("id", metavar="ID", help="the approval's id")
    approve.add_argument("--by", metavar="NAME", required=True, help="who approves (recorded)")
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


# -- running ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The ``toolwire`` console script.

    Returns:
        The exit code: 0 success, 1 a tool error (or problems found by ``check``), 2 a usage
        or config error, 3 a held turn.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    contributed = _plugin_commands(argv)
    args = build_parser([command for command, _ in contributed.commands.values()]).parse_args(argv)
    try:
        configure_logging(
            level=args.log_level or "warning",
            log_format=args.log_format or _configured_format(args),
        )
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except (ConfigError, UsageError, ApprovalError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (``toolwire plugins | head``): not an error worth a word.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        return _fail(_describe_os_error(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        logging.getLogger("toolwire").debug("the command failed", exc_info=exc)
        print(
            f"toolwire: error: {args.command} failed: {type(exc).__name__}: {exc} "
            "(--log-level debug shows where)",
            file=sys.stderr,
        )
        return EXIT_TOOL_ERROR


def configure_logging(*, level: str = "warning", log_format: str = "console") -> None:
    """Configure structlog for the CLI: logs on stderr, console or JSON, filtered by level."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if log_format == "json":
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=_is_tty(sys.stderr)))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _plugin_commands(argv: Sequence[str]) -> PluginCommands:
    """The commands the enabled plugins bring; a broken config or plugin brings none.

    Only a named command that is missing says why: ``toolwire NAME`` for a plugin that failed
    prints the plugin's error rather than argparse's "invalid choice".
    """
    early = argparse.ArgumentParser(add_help=False)
    _add_global_options(early, None)
    try:
        known, rest = early.parse_known_args(argv)
    except SystemExit:  # a bad global option: the real parser says so
        return PluginCommands()
    try:
        found = collect_commands(load_config(known.config), BUILTIN_COMMANDS)
    except ConfigError as exc:
        found = PluginCommands(problems=[str(exc)])
    wanted = next((word for word in rest if not word.startswith("-")), None)
    for problem in found.problems:
        if wanted is not None and f"command {wanted!r}" in problem:
            print(f"toolwire: warning: {problem}", file=sys.stderr)
    if (
        wanted is not None
        and found.problems
        and wanted not in BUILTIN_COMMANDS
        and wanted not in found.commands
    ):
        lines = "\n".join(f"  - {p}" for p in found.problems)
        print(
            f"toolwire: error: no command {wanted!r}; plugins that could bring one failed:\n{lines}",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    return found


def _configured_format(args: argparse.Namespace) -> str:
    """``[logging] format`` when the config sets it, else JSON for ``--json``, else console."""
    try:
        config = load_config(args.config)
    except ConfigError:
        config = Config()  # the command itself reports the config's mistakes
    stated = config.data.get("logging", {}).get("format")
    if isinstance(stated, str):
        return stated
    return "json" if args.json else "console"


def _dispatcher(args: argparse.Namespace) -> Dispatcher:
    """The dispatcher a command runs with: the config's plugins, the CLI's log level."""
    config = load_config(args.config)
    if args.log_level is not None:
        # The call log follows --log-level too, so "--log-level info" shows every call.
        logging_table = {**config.data.get("logging", {}), "level": args.log_level}
        config = Config(config.source, {**config.data, "logging": logging_table}, config.origins)
    return Dispatcher.from_config(config)


def _read_text(file: str) -> str:
    """A file's text, or stdin's for ``-``."""
    try:
        if file == "-":
            return sys.stdin.read()
        with open(file, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(_describe_os_error(exc)) from None
    except UnicodeDecodeError as exc:
        where = "stdin" if file == "-" else file
        raise UsageError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _parse_json_object(text: str, what: str) -> dict[str, Any]:
    value = _parse_json(text, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what}: expected a JSON object, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _fail(message: str) -> int:
    """One line naming the thing; a config with several mistakes adds one line per mistake."""
    print(f"toolwire: error: {message.strip()}", file=sys.stderr)
    return EXIT_USAGE


# -- output -----------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _plugin_row(info: PluginInfo) -> tuple[object, ...]:
    hooks = ",".join(h.removeprefix("toolwire_") for h in info.hooks)
    name = f"{info.name} (built-in)" if info.builtin else info.name
    return (
        name, info.distribution, info.version, info.status, info.tools, hooks or "-",
        _one_line(info.error or ""),
    )  # fmt: skip


def _result_view(
    result: DispatchResult, redaction: Redaction, arguments: Any = None
) -> dict[str, Any]:
    """``result.to_dict()``, the call's secrets hidden as the log hides them.

    The secrets are the values under redacted keys in ``arguments`` (what ``call`` was given)
    or in the approval's stored arguments; they are masked in the output and the error, and
    the approval's arguments are redacted by key.
    """
    view = result.to_dict()
    approval = result.approval
    if approval is not None:
        view["approval"] = approval.to_dict(redaction)
        if arguments is None:
            arguments = approval.arguments
    secrets = redaction.secret_values(arguments)
    view["output"] = redaction.mask(view["output"], secrets)
    error = view["error"]
    if error is not None:
        for key in ("message", "details"):
            if key in error:
                error[key] = redaction.mask(error[key], secrets)
    return view


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


def _printable(text: str) -> str:
    """``text`` with what a terminal would act on rather than show (escape sequences, bidi
    overrides, other control and format characters) written as its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _shortened(text: str) -> str:
    """At most ``_ARGUMENTS_WIDTH`` characters of one line, ``...`` where it was cut."""
    return text if len(text) <= _ARGUMENTS_WIDTH else text[: _ARGUMENTS_WIDTH - 3] + "..."


def _silence_stdout() -> None:
    """Point stdout at devnull so that the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _DESCRIPTION_WIDTH else line[: _DESCRIPTION_WIDTH - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


if __name__ == "__main__":
    sys.exit(main())
