"""Running the ``toolwire`` command: the parser, logging on stderr, and one line per failure."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from .._approvals._records import ApprovalError
from .._commands import PluginCommands, collect_commands
from .._config import load_config
from .._errors import ConfigError
from ._common import (
    EXIT_OK,
    EXIT_TOOL_ERROR,
    EXIT_USAGE,
    UsageError,
    _configured_format,
    _describe_os_error,
    _fail,
    _is_tty,
    _silence_stdout,
)
from ._parser import BUILTIN_COMMANDS, _add_global_options, build_parser


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
    _drop_commands_that_cannot_set_up(found)
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


def _drop_commands_that_cannot_set_up(found: PluginCommands) -> None:
    """Try each contributed command's ``setup`` on a parser of its own first: one that fails
    (an option that clashes with a global one, such as ``--config``) is dropped and said, so
    one plugin's mistake never breaks the ``toolwire`` command."""
    for name, (command, plugin) in list(found.commands.items()):
        if command.setup is None:
            continue
        trial = argparse.ArgumentParser(prog=f"toolwire {name}", add_help=False)
        _add_global_options(trial, argparse.SUPPRESS)
        try:
            command.setup(trial)
        except Exception as exc:  # noqa: BLE001 - said, never fatal to the CLI
            del found.commands[name]
            found.problems.append(
                f"plugin {plugin!r}: command {name!r} could not set up its arguments: "
                f"{type(exc).__name__}: {exc}"
            )
