"""``toolwire`` subcommands that plugins contribute through ``toolwire_register_commands``.

The command line asks the plugins the config enables before it parses its arguments. No
dispatcher is started for that: a plugin is imported and asked for its commands, nothing
else, so a plugin whose tools are costly to start (an MCP server) starts nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from ._config import Config
from ._discovery import describe_exception, installed_plugins, load_entry_point
from .types import Command


@dataclass
class PluginCommands:
    """What the enabled plugins contribute, and why any of them could not say."""

    commands: dict[str, tuple[Command, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def collect_commands(config: Config, reserved: frozenset[str]) -> PluginCommands:
    """Ask every plugin the config enables for its commands.

    Args:
        config: Which plugins are enabled (``[plugins]``, ``TOOLWIRE_PLUGINS``...).
        reserved: The built-in command names, which no plugin may take.

    Returns:
        The commands by name, each with the plugin that brought it, and one line per plugin
        that failed to load or brought a command that clashes.
    """
    found = PluginCommands()
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for candidate in installed_plugins():
        name = candidate.name
        if name in config.disable or not (config.autoload or name in config.enable):
            continue
        try:
            obj: Any = load_entry_point(candidate)
            if isinstance(obj, type):
                obj = obj()
            if not hasattr(obj, "toolwire_register_commands"):
                continue
            pm.register(obj, name=name)
            brought: list[Command] = []
            for impl in pm.hook.toolwire_register_commands.get_hookimpls():
                if impl.plugin is obj:
                    impl.function(brought.append)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, never fatal to the CLI
            found.problems.append(f"plugin {name!r}: {describe_exception(exc)}")
            continue
        for command in brought:
            if not isinstance(command, Command):
                found.problems.append(
                    f"plugin {name!r} registered a {type(command).__name__}, not a "
                    "toolwire.types.Command"
                )
            elif command.name in reserved or command.name in found.commands:
                other = "toolwire" if command.name in reserved else found.commands[command.name][1]
                found.problems.append(
                    f"plugin {name!r} and {other!r} both bring the command {command.name!r}"
                )
            else:
                found.commands[command.name] = (command, name)
    return found
