"""``toolwire plugins``, ``toolwire tools`` and ``toolwire check``: what is installed and enabled, and
what a role may call."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

from .._check import check
from .._discovery import PluginInfo
from .._errors import ConfigError
from ._common import (
    EXIT_OK,
    EXIT_TOOL_ERROR,
    _dispatcher,
    _first_line,
    _one_line,
    _print_json,
    _print_table,
)


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


#: Tool options holding the name a tool has where it comes from, when it is offered under
#: another (the ``mcp`` plugin's ``mcp_name``: a server's ``calendar.listEvents``).
_SOURCE_NAME_OPTIONS: Final = ("mcp_name",)


def cmd_tools(args: argparse.Namespace) -> int:
    """List the tools a role may call, or the ``tools`` list one provider's API receives.

    A tool offered under another name than its source's shows both: ``NAME (source name)``.
    """
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
                    "output_schema": tool.output_schema,
                    "options": dict(policy.options),
                }
            )
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            ("NAME", "PLUGIN", "ROLES", "DESCRIPTION"),
            [
                (
                    _shown_name(row["name"], row["options"]),
                    row["plugin"] or "",
                    ",".join(row["roles"]) if row["roles"] else "(any)",
                    _first_line(row["description"]),
                )
                for row in rows
            ],
        )
    return EXIT_OK


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


def _shown_name(name: str, options: dict[str, Any]) -> str:
    source = next(
        (options[k] for k in _SOURCE_NAME_OPTIONS if isinstance(options.get(k), str)), None
    )
    return f"{name} ({source})" if source is not None and source != name else name


def _plugin_row(info: PluginInfo) -> tuple[object, ...]:
    hooks = ",".join(h.removeprefix("toolwire_") for h in info.hooks)
    name = f"{info.name} (built-in)" if info.builtin else info.name
    return (
        name, info.distribution, info.version, info.status, info.tools, hooks or "-",
        _one_line(info.error or ""),
    )  # fmt: skip
