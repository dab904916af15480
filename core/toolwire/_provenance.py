"""Where each value of a tool's effective policy came from, for people reading it.

The plan decides a tool's policy as ``_plan.build_routes`` does: the built-in defaults and
``[defaults]``, then what the tool declares in code (``defer_loading`` as its pack's
``[plugins.NAME]`` sets it, where it does: ``_selection``), then ``[tools.NAME]``; ``approval``
by its own rule (``_plan._needs_approval``). This module names, for each field, the layer that
set the value the plan kept; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ._config import Config
from ._policy import BUILTIN_DEFAULTS, CORE_FIELDS, ToolPolicy

CODE: Final = "code"
DEFAULTS: Final = "[defaults]"
BUILT_IN: Final = "built-in default"
NOT_SET: Final = "not set"

#: Policy fields a pack's ``[plugins.NAME]`` sets for its every tool.
PACK_FIELDS: Final = frozenset({"defer_loading"})
#: ``[defaults]`` keys that bound a batch or are decided per tool, not a tool's policy layer.
_NOT_A_LAYER: Final = frozenset({"max_concurrency", "approval"})


def policy_sources(
    config: Config, tool_name: str, declared: ToolPolicy, author: str, plugin: str | None = None
) -> dict[str, str]:
    """The source of each policy field of one tool, plugin options included (by name).

    Args:
        config: The dispatcher's config.
        tool_name: The tool's name (its ``[tools.NAME]`` table).
        declared: What the tool declares in its code (``Tool.policy``).
        author: How to name the code that declared it: ``code`` for a tool the host added,
            ``plugin NAME`` for one an installed plugin registered.
        plugin: The plugin that registered the tool, whose ``[plugins.NAME]`` may set
            ``defer_loading`` for its every tool.

    Returns:
        Field name -> ``[tools.NAME]``, ``author``, ``[defaults]``, ``built-in default`` or
        ``not set``; a value an environment variable set names the variable too.
    """
    table = config.tool_settings(tool_name)
    raw_defaults: Mapping[str, object] = config.data.get("defaults", {})
    own = f"[tools.{tool_name}]"
    pack = config.plugin_table(plugin) if plugin is not None else {}

    def named(layer: str, key: str) -> str:
        origin = config.origins.get(key)
        return f"{layer} (from {origin})" if origin else layer

    sources: dict[str, str] = {}
    for name in CORE_FIELDS:
        if name in table:
            sources[name] = named(own, f"tools.{tool_name}.{name}")
        elif name == "approval":
            sources[name] = _approval_source(raw_defaults, declared, author, named)
        elif name in PACK_FIELDS and name in pack:
            sources[name] = named(f"[plugins.{plugin}]", f"plugins.{plugin}.{name}")
        elif getattr(declared, name) is not None:
            sources[name] = author
        elif name in raw_defaults and name not in _NOT_A_LAYER:
            sources[name] = named(DEFAULTS, f"defaults.{name}")
        elif BUILTIN_DEFAULTS.get(name) is not None:
            sources[name] = BUILT_IN
        else:
            sources[name] = NOT_SET
    for option in {*declared.options, *table, *raw_defaults}:
        if option in CORE_FIELDS or option in sources:
            continue
        if option in table:
            sources[option] = named(own, f"tools.{tool_name}.{option}")
        elif option in declared.options:
            sources[option] = author
        elif option not in _NOT_A_LAYER:
            sources[option] = named(DEFAULTS, f"defaults.{option}")
    return sources


def _approval_source(
    raw_defaults: Mapping[str, object],
    declared: ToolPolicy,
    author: str,
    named: Callable[[str, str], str],
) -> str:
    """``approval`` without ``[tools.NAME] approval``: the code asks, else ``[defaults]``."""
    if declared.approval:
        return author
    if "approval" in raw_defaults:
        return named(DEFAULTS, "defaults.approval")
    return BUILT_IN
