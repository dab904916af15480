"""The tool catalogue: what plugins brought (tools, middleware, providers, tool options,
executors), each attributed to the plugin that brought it. Nothing added is changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._errors import ConfigError, DuplicateToolError
from ._middleware import check_shape
from ._tools import Tool
from .providers import Provider


class Catalogue:
    """The dispatcher's table of contributions, added to one plugin at a time, atomically."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[Tool, str]] = {}
        self._middleware: list[tuple[str, Any]] = []
        self._providers: dict[str, tuple[Provider, str]] = {}
        self._options: dict[str, tuple[Callable[[Any], Any], str]] = {}
        self._executors: dict[str, tuple[Any, str]] = {}

    def add(
        self,
        source: str,
        tools: Sequence[Tool],
        middleware: Sequence[Any],
        providers: Sequence[Provider],
        options: Mapping[str, Callable[[Any], Any]] | None = None,
        executors: Mapping[str, Any] | None = None,
    ) -> None:
        """Add everything one source brings, or nothing if any of it conflicts.

        Raises:
            DuplicateToolError: a tool name is taken; the message names both sources.
            ConfigError: a middleware that is not callable, or a provider or executor name
                taken.
        """
        names: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools or tool.name in names:
                first = (
                    self._tools[tool.name]
                    if tool.name in self._tools
                    else (names[tool.name], source)
                )
                raise DuplicateToolError(
                    f"two tools are named {tool.name!r}: one from {_origin(*first)}, "
                    f"one from {_origin(tool, source)}"
                )
            names[tool.name] = tool
        for layer in middleware:
            check_shape(layer, source)
        for provider in providers:
            if not isinstance(provider, Provider) or not provider.name:
                raise ConfigError(f"{source!r} registered {provider!r}, not a named Provider")
            if provider.name in self._providers:
                raise ConfigError(
                    f"two providers are named {provider.name!r}: from "
                    f"{self._providers[provider.name][1]!r} and {source!r}"
                )
        for option in options or {}:
            if option in self._options:
                raise ConfigError(
                    f"two plugins claim the tool option {option!r}: "
                    f"{self._options[option][1]!r} and {source!r}"
                )
        for name in executors or {}:
            if name in self._executors:
                raise ConfigError(
                    f"two plugins register an executor named {name!r}: "
                    f"{self._executors[name][1]!r} and {source!r}"
                )
        for tool in tools:
            self._tools[tool.name] = (tool, source)
        self._middleware.extend((source, layer) for layer in middleware)
        for provider in providers:
            self._providers[provider.name] = (provider, source)
        for option, check in (options or {}).items():
            self._options[option] = (check, source)
        for name, executor in (executors or {}).items():
            self._executors[name] = (executor, source)

    def replace_tools(self, source: str, tools: Sequence[Tool]) -> list[Tool]:
        """Swap every tool ``source`` registered for ``tools``; return the ones it had.

        Raises:
            DuplicateToolError: a name is taken by another source's tool (nothing changes).
        """
        kept = {name: entry for name, entry in self._tools.items() if entry[1] != source}
        old = [tool for tool, owner in self._tools.values() if owner == source]
        names: dict[str, Tool] = {}
        for tool in tools:
            clash = kept.get(tool.name)
            if clash is not None or tool.name in names:
                first = clash if clash is not None else (names[tool.name], source)
                raise DuplicateToolError(
                    f"two tools are named {tool.name!r}: one from {_origin(*first)}, "
                    f"one from {_origin(tool, source)}"
                )
            names[tool.name] = tool
        kept.update((tool.name, (tool, source)) for tool in tools)
        self._tools = kept
        return old

    def tools(self) -> list[tuple[Tool, str]]:
        """Every tool with the plugin that registered it."""
        return list(self._tools.values())

    def middleware(self) -> list[tuple[Any, str]]:
        """Every middleware with its plugin, in registration order."""
        return [(layer, source) for source, layer in self._middleware]

    def options(self) -> dict[str, tuple[Callable[[Any], Any], str]]:
        """Claimed tool options: name -> (check, the plugin that claimed it)."""
        return dict(self._options)

    def executors(self) -> dict[str, tuple[Any, str]]:
        """Registered executors: name -> (executor, the plugin that registered it)."""
        return dict(self._executors)

    def providers(self) -> dict[str, Provider]:
        return {name: provider for name, (provider, _) in self._providers.items()}


def _origin(tool: Tool, source: str) -> str:
    pack = f" (pack {tool.pack!r})" if tool.pack and tool.pack != source else ""
    return f"plugin {source!r}{pack}"
