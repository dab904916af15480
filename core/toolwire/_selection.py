"""A pack's tools as the operator selects them: ``[plugins.NAME] prefix``, ``include``,
``exclude`` and ``defer_loading``, with the same meaning as for an MCP server's tools.

``include`` and ``exclude`` name the pack's own tool names (before the prefix); a name that
matches none of the pack's tools stops the start (a misspelt ``exclude`` would leave offered
the tool it meant to hide). ``prefix`` is put before every kept tool's name, so two packs that
both bring ``get_weather`` can be installed side by side. ``defer_loading = true`` defers every
kept tool (``[tools.NAME] defer_loading`` still has the last word on one tool).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from ._config import PACK_KEYS
from ._errors import ConfigError
from ._schema import check_tool_name
from ._tools import Tool


def selection_of(table: Mapping[str, Any]) -> dict[str, Any]:
    """The core's keys of one ``[plugins.NAME]`` table (empty when it sets none)."""
    return {key: table[key] for key in PACK_KEYS if key in table}


def select_tools(
    source: str, tools: Sequence[Tool], selection: Mapping[str, Any], *, strict: bool = True
) -> list[Tool]:
    """The tools of ``source`` that the operator keeps, renamed with the prefix.

    Args:
        source: The plugin's name, as ``[plugins.NAME]`` names it.
        tools: What the plugin registered.
        selection: ``prefix``, ``include``, ``exclude`` and ``defer_loading`` (validated by the
            config schema).
        strict: Whether a name in ``include`` or ``exclude`` that matches no tool is an error
            (at registration); a plugin that changes its tools later is held to the same
            selection without it, since a tool may come and go.

    Returns:
        The kept tools, in order; copies when a prefix or ``defer_loading`` is set (the
        originals are never changed).

    Raises:
        ConfigError: a name that matches none of the pack's tools, a name both included and
            excluded, or a prefix that makes a name invalid.
    """
    if not selection:
        return list(tools)
    include: list[str] | None = selection.get("include")
    exclude: list[str] = selection.get("exclude") or []
    prefix: str = selection.get("prefix", "")
    where = f"[plugins.{source}]"
    if strict:
        _check_names(where, tools, include, exclude)
    kept = [
        tool
        for tool in tools
        if (include is None or tool.name in include) and tool.name not in exclude
    ]
    if prefix:
        kept = [_renamed(tool, prefix + tool.name, where) for tool in kept]
    if "defer_loading" in selection:
        kept = [_deferred(tool, bool(selection["defer_loading"])) for tool in kept]
    return kept


def _deferred(tool: Tool, defer: bool) -> Tool:
    """A copy of ``tool`` whose declared ``defer_loading`` is the pack's setting."""
    copied = copy.copy(tool)
    copied.policy = dataclasses.replace(tool.policy, defer_loading=defer)
    return copied


def _check_names(
    where: str, tools: Sequence[Tool], include: list[str] | None, exclude: list[str]
) -> None:
    names = [tool.name for tool in tools]
    problems: list[str] = []
    for key, listed in (("include", include or []), ("exclude", exclude)):
        for name in listed:
            if name in names:
                continue
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"its tools: {', '.join(names) or 'none'}"
            )
            problems.append(f"{key} names {name!r}, which the pack does not bring ({hint})")
    both = sorted(set(include or ()) & set(exclude))
    if both:
        problems.append(f"{', '.join(map(repr, both))} both included and excluded")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def _renamed(tool: Tool, name: str, where: str) -> Tool:
    try:
        check_tool_name(name)
    except ConfigError as exc:
        raise ConfigError(f"{where} prefix: {exc}") from None
    renamed = copy.copy(tool)
    renamed.name = name
    return renamed
