"""What every command shares: exit codes, reading files and JSON, printing tables and JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

from .._config import Config, load_config
from .._dispatcher import Dispatcher
from .._errors import ConfigError
from .._logging import Redaction
from .._problems import json_type
from .._values import DispatchResult

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


def _tools_print_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """While a command's tools run: what they print goes to stderr, so that stdout holds only
    the command's own output (JSON a pipe reads)."""
    return contextlib.redirect_stdout(sys.stderr)


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
    except RecursionError:
        raise UsageError(f"{what}: JSON nested too deep to read") from None


def _parse_json_object(text: str, what: str) -> dict[str, Any]:
    value = _parse_json(text, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what}: expected a JSON object, got {json_type(value)}")
    return value


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _fail(message: str) -> int:
    """One line naming the thing; a config with several mistakes adds one line per mistake."""
    print(f"toolwire: error: {message.strip()}", file=sys.stderr)
    return EXIT_USAGE


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
