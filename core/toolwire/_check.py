"""``toolwire check``: every problem in a config and in the tools it enables, not just the first.

Starting a dispatcher stops at the first mistake, which is right for a host and wrong for an
operator fixing a config: they want the whole list at once. So the check reads the config
itself, keeps the parts of it that are valid, and loads each enabled plugin into a dispatcher
of its own, so that one plugin's failure (or a tool name two plugins share) hides nothing
about the others.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._approvals._open import default_store_path
from ._builtins import BUILTIN_PLUGINS
from ._config import (
    CONFIG_SCHEMA,
    Config,
    apply_env,
    config_problems,
    env_origins,
    find_config_file,
)
from ._discovery import (
    Candidate,
    PluginInfo,
    PluginLoadError,
    installed_plugins,
    load_entry_point,
)
from ._dispatcher import Dispatcher
from ._errors import ConfigError, PluginError
from ._plugins import not_installed
from ._schema import TOOL_NAME_RE, check_schema
from ._strict import strict_schema
from ._tools import Tool
from .providers import Provider


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the check found: where it is, and what is wrong (or worth knowing) there."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


@dataclass(slots=True)
class CheckReport:
    """Everything ``toolwire check`` found.

    Attributes:
        source: The config file checked, or ``None`` for built-in defaults.
        problems: Mistakes: each one makes the check fail.
        notes: What a provider changes or drops when it describes a tool; not a failure.
        plugins: How many plugins loaded (built-in ones included).
        tools: How many enabled tools were checked.
        paths: Every file or folder the config names, by dotted key, as toolwire and the
            plugins resolve it (a relative path in a file is relative to that file).
        rows: One row per plugin, as ``toolwire plugins`` shows it, each plugin loaded on its
            own: a plugin that refused its settings, failed to load, or brings a tool name
            another plugin brings too is ``failed`` with the reason as its error.
    """

    source: str | None
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    plugins: int = 0
    tools: int = 0
    paths: dict[str, str] = field(default_factory=dict)
    rows: list[PluginInfo] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": self.source,
            "problems": [p.to_dict() for p in self.problems],
            "notes": [n.to_dict() for n in self.notes],
            "plugins": self.plugins,
            "tools": self.tools,
            "paths": dict(sorted(self.paths.items())),
        }


def check(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CheckReport:
    """Check a config and every tool it enables, collecting every problem.

    Args:
        path: The config file; found the way ``load_config`` finds it when omitted.
        env: The environment (``TOOLWIRE_PLUGINS``... apply as they do at start).
        cwd: Where ``./toolwire.toml`` is looked for.

    Raises:
        ConfigError: the named config file does not exist (nothing to check).
    """
    env = os.environ if env is None else env
    file = Path(path) if path is not None else find_config_file(cwd, env)
    source = str(file) if file is not None else None
    report = CheckReport(source)
    where = source or "config"
    raw: dict[str, Any] = {}
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"config file not found: {file}")
        try:
            raw = _read(file)
        except ValueError as exc:  # nothing else can be known about a file that does not parse
            report.problems.append(Finding(where, str(exc)))
            return report
    data = apply_env(raw, env)
    report.problems.extend(Finding(where, p) for p in config_problems(data))

    candidates = {c.name: c for c in installed_plugins()}
    report.problems.extend(_unknown_plugin_names(data, candidates, where, env))
    config = Config(source, _valid_parts(data), env_origins(env))
    _check_plugins(report, config, candidates)
    report.paths.update((key, str(path)) for key, path in config.resolved_paths.items())
    approvals = data.get("approvals")
    given = approvals.get("store") if isinstance(approvals, Mapping) else None
    if given is None:  # an invalid one is a problem above, never "the default"
        report.paths["approvals.store"] = f"{default_store_path()} (the default)"
    return report


def _read(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror}") from None
    if file.name == "pyproject.toml":
        table = raw.get("tool", {}).get("toolwire", {})
        return table if isinstance(table, dict) else {}
    return raw


def _valid_parts(data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are valid on their own, so the rest of the check can use them."""
    sections = CONFIG_SCHEMA["properties"]
    valid: dict[str, Any] = {}
    for section, table in data.items():
        if section not in sections or not isinstance(table, Mapping):
            continue
        for key, value in table.items():
            if not config_problems({section: {key: value}}):
                valid.setdefault(section, {})[key] = value
    return valid


def _unknown_plugin_names(
    data: Mapping[str, Any],
    candidates: Mapping[str, Candidate],
    where: str,
    env: Mapping[str, str],
) -> list[Finding]:
    plugins = data.get("plugins")
    if not isinstance(plugins, Mapping):
        return []
    found = []
    for key in ("enable", "disable"):
        names = plugins.get(key)
        if not isinstance(names, list):
            continue
        origin = "TOOLWIRE_PLUGINS" if key == "enable" and "TOOLWIRE_PLUGINS" in env else where
        for name in names:
            if isinstance(name, str) and name not in candidates and name not in BUILTIN_PLUGINS:
                found.append(
                    Finding(origin, f"[plugins] {key} names {name!r}, which is not installed")
                )
    for name, table in plugins.items():
        root = name.split(".")[0]  # "mcp.time": a plugin the installed "mcp" contributes
        if isinstance(table, Mapping) and root not in candidates and name not in BUILTIN_PLUGINS:
            found.append(
                Finding(
                    where,
                    f"[plugins.{name}] holds settings for a plugin that is not installed: "
                    f"{not_installed(name, candidates)}",
                )
            )
    return found


def _check_plugins(
    report: CheckReport, config: Config, candidates: Mapping[str, Candidate]
) -> None:
    tools: list[tuple[Tool, str]] = []
    rows: dict[str, PluginInfo] = {}
    with Dispatcher(config) as builtins:
        providers = builtins.providers()
        report.plugins = sum(p.status == "enabled" for p in builtins.plugins())
        rows.update((row.name, row) for row in builtins.plugins() if row.builtin)
    for candidate in candidates.values():
        if candidate.name in config.disable:
            rows[candidate.name] = candidate.info("blocked")
            continue
        if not (config.autoload or candidate.name in config.enable):
            rows[candidate.name] = candidate.info("disabled")
            continue
        plugin = f"plugin {candidate.name!r} ({candidate.distribution} {candidate.version})"
        try:
            brought, own_providers, failed, own_rows = _contributions(candidate, config)
        except ConfigError as exc:
            report.problems.append(Finding(plugin, str(exc)))
            rows[candidate.name] = candidate.info("enabled").with_status("failed", str(exc))
            continue
        rows.update((row.name, row) for row in own_rows)
        report.problems.extend(
            Finding(f"plugin {row.name!r} (from {candidate.name!r})", f"failed: {row.error}")
            for row in failed
        )
        report.plugins += 1
        tools.extend(brought)
        for name, provider in own_providers.items():
            if name in providers:
                report.problems.append(
                    Finding(plugin, f"registers provider {name!r}, which is already registered")
                )
            else:
                providers[name] = provider
    problems, notes = check_tools(tools, providers)
    report.problems.extend(problems)
    report.notes.extend(notes)
    report.tools = len({tool.name for tool, _ in tools})
    for name, owners in _shared_names(tools).items():
        for owner in owners:
            others = ", ".join(repr(o) for o in owners if o != owner)
            row = rows.get(owner)
            if row is not None:
                clash = (
                    f"tool {name!r} is also brought by plugin {others}; see [plugins.NAME] prefix"
                )
                error = f"{row.error}; {clash}" if row.error else clash
                rows[owner] = row.with_status("failed", error)
    report.rows = list(rows.values())
    _check_start(report, config)


def _shared_names(tools: Sequence[tuple[Tool, str]]) -> dict[str, list[str]]:
    """Tool names more than one plugin brings, each with those plugins."""
    owners: dict[str, list[str]] = {}
    for tool, plugin in tools:
        owners.setdefault(tool.name, []).append(plugin)
    return {name: plugins for name, plugins in owners.items() if len(set(plugins)) > 1}


def _check_start(report: CheckReport, config: Config) -> None:
    """Start the whole dispatcher once: what only the plugins together decide (tool options
    no loaded plugin enforces, values a plugin refuses) is found here."""
    try:
        dispatcher = Dispatcher.from_config(config)
    except (ConfigError, PluginError):
        return  # what stops loading was found by the config and plugin checks above
    try:
        dispatcher.start()
    except ConfigError as exc:
        report.problems.extend(Finding("start", problem) for problem in exc.problems)
    finally:
        dispatcher.close()


def _contributions(
    candidate: Candidate, config: Config
) -> tuple[list[tuple[Tool, str]], dict[str, Provider], list[PluginInfo], list[PluginInfo]]:
    """Load one plugin into a dispatcher of its own: the enabled tools and providers it brings,
    the plugins it contributed that failed (an MCP server that did not start), and the rows
    of the plugin and those it contributed.

    Raises:
        ConfigError: the plugin failed to import or to register.
    """
    try:
        obj = load_entry_point(candidate)
    except PluginLoadError as exc:
        raise ConfigError(f"failed to load: {exc}") from None
    # The built-in plugins stay out, so the providers listed are this plugin's own.
    alone = Config(
        config.source,
        {
            **config.data,
            "plugins": {
                **config.data.get("plugins", {}),
                "disable": sorted({*config.disable, *BUILTIN_PLUGINS}),
            },
        },
        config.origins,
    )
    with Dispatcher(alone) as dispatcher:
        try:
            dispatcher.add(obj, name=candidate.name)
        except ConfigError as exc:
            raise ConfigError(f"failed to register: {exc}") from None
        finally:
            config.resolved_paths.update(alone.resolved_paths)
        own = [
            replace(p, distribution=candidate.distribution, version=candidate.version)
            for p in dispatcher.plugins()
            if not p.builtin
        ]
        failed = [p for p in own if p.status == "failed"]
        return _enabled_tools(dispatcher, config), dispatcher.providers(), failed, own


def _enabled_tools(dispatcher: Dispatcher, config: Config) -> list[tuple[Tool, str]]:
    """Every tool the config leaves enabled, whichever roles may call it, with its plugin.

    Read from the catalogue, not a started dispatcher: a plugin checked alone may use tool
    options another plugin enforces; the whole start is checked once at the end.
    """
    enabled = []
    for tool, plugin in dispatcher._host.catalogue.tools():
        setting = config.tool_settings(tool.name).get("enabled")
        if (tool.policy.enabled if setting is None else setting) is not False:
            enabled.append((tool, plugin))
    return enabled


def check_tools(
    tools: Sequence[tuple[Tool, str | None]], providers: Mapping[str, Provider]
) -> tuple[list[Finding], list[Finding]]:
    """The one tool checker behind ``toolwire check`` and ``toolwire.testing.check_toolset``.

    Args:
        tools: The tools, each with the plugin that brings it (``None`` for a pack checked
            on its own).
        providers: The providers whose definitions are checked, by name.

    Returns:
        ``(problems, notes)``. Problems fail both: a name taken twice or not valid for every
        provider, a schema the metaschema refuses, one OpenAI strict mode cannot express, a
        provider that cannot describe the tool, a tool without a description. Notes fail
        neither: what a provider changes or drops when it describes a tool, a parameter
        without a description.
    """
    problems: list[Finding] = []
    notes: list[Finding] = []
    by_name: dict[str, list[tuple[Tool, str | None]]] = {}
    for tool, plugin in tools:
        by_name.setdefault(tool.name, []).append((tool, plugin))
    for name, same in by_name.items():
        if len(same) > 1:
            sources = ", ".join(f"plugin {plugin!r}" for _, plugin in same)
            problems.append(
                Finding(f"tool {name!r}", f"{len(same)} tools have this name: {sources}")
            )
            continue
        _check_tool(problems, notes, *same[0], providers)
    return problems, notes


def _check_tool(
    problems: list[Finding],
    notes: list[Finding],
    tool: Tool,
    plugin: str | None,
    providers: Mapping[str, Provider],
) -> None:
    where = f"tool {tool.name!r}" + (f" (plugin {plugin!r})" if plugin is not None else "")
    if not TOOL_NAME_RE.match(tool.name):
        problems.append(
            Finding(
                where,
                "the name is not valid for every provider: use 1 to 64 letters, digits, '_' or "
                "'-', starting with a letter or '_'",
            )
        )
    try:
        check_schema(tool.name, tool.parameters)
    except ConfigError as exc:
        problems.append(Finding(where, str(exc)))
        return
    strict, reasons = strict_schema(tool.parameters)
    if strict is None:
        problems.append(
            Finding(where, f"not compatible with OpenAI strict mode: {'; '.join(reasons)}")
        )
    # Both OpenAI providers give the same notes; each note is listed once, with who gave it.
    given: dict[str, list[str]] = {}
    for name, provider in sorted(providers.items()):
        try:
            definition = provider.tool_definition(tool)
        except Exception as exc:  # noqa: BLE001 - a provider plugin's bug is a finding, not a crash
            problems.append(
                Finding(where, f"provider {name!r} cannot describe it: {type(exc).__name__}: {exc}")
            )
            continue
        for note in definition.problems:
            if strict is None and note in reasons:
                continue  # already a problem above
            given.setdefault(note, []).append(name)
    notes.extend(Finding(f"{where} for {', '.join(by)}", note) for note, by in given.items())
    if not tool.description.strip():
        problems.append(Finding(where, "no description (write a docstring)"))
    for param, schema in tool.parameters.get("properties", {}).items():
        if not (isinstance(schema, Mapping) and schema.get("description")):
            notes.append(Finding(where, f"parameter {param!r} has no description"))
