"""The plugin toolwire loads: reads ``[plugins.mcp]``, makes each server a plugin of its own."""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import toolwire
from toolwire.types import Command

from ._elicit import Elicitation
from ._settings import Settings

if TYPE_CHECKING:
    from ._link import ServerLink
    from ._loop import OwnLoop

# The MCP SDK is imported when a server is loaded or served, not to list commands: every
# ``toolwire`` command asks this plugin for its commands.


class McpPlugin:
    """Loads the configured MCP servers as tool packs ``mcp.NAME``; brings ``toolwire mcp``.

    The entry point names this class, so every dispatcher gets an instance, and so sessions
    and server processes, of its own; ``Dispatcher.close()`` ends them all (and so does the
    interpreter's exit, for a host that never closes its dispatcher).

    A host that answers the servers' requests for input builds it in code and adds it under
    the name ``mcp`` (instead of enabling the installed plugin)::

        dispatcher = toolwire.Dispatcher(config).add(McpPlugin(elicitation=ask), name="mcp")

    Args:
        elicitation: Called with an ``ElicitationRequest`` when a loaded server asks for input
            (``elicitation/create``) and returns an ``ElicitationAnswer``; sync (run in a
            thread) or async (run on the plugin's event loop). Without it every request is
            declined at once.
    """

    def __init__(self, *, elicitation: Elicitation | None = None) -> None:
        if elicitation is not None and not callable(elicitation):
            raise TypeError(
                "McpPlugin(elicitation=...) takes a function of an ElicitationRequest that "
                f"returns an ElicitationAnswer, not {type(elicitation).__name__}"
            )
        self.elicitation = elicitation
        self.settings = Settings()
        self.links: dict[str, ServerLink] = {}
        self._loop: OwnLoop | None = None

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self.settings = Settings.from_config(config)
        self.settings.note_ignored()  # once per start, however often the settings are read

    @toolwire.hookimpl
    def toolwire_register_tool_options(
        self, register: Callable[[str, Callable[[Any], Any]], None]
    ) -> None:
        from ._pack import ANNOTATIONS_OPTION, NAME_OPTION, check_annotations, check_name

        register(ANNOTATIONS_OPTION, check_annotations)
        register(NAME_OPTION, check_name)

    @toolwire.hookimpl
    def toolwire_register_plugins(self, register: Callable[[str, Any], None]) -> None:
        if not self.settings.servers:
            return
        from ._link import ServerLink
        from ._loop import OwnLoop
        from ._pack import ServerPack

        loop = self._loop = OwnLoop("toolwire-mcp")
        for name, server in self.settings.servers.items():
            self.links[name] = ServerLink(server, loop, self.elicitation)
        # Every server starts at once; each pack then waits for its own.
        for link in self.links.values():
            link.begin()
        _close_at_exit(self)
        for name, link in self.links.items():
            register(f"mcp.{name}", ServerPack(link))

    @toolwire.hookimpl
    def toolwire_close(self) -> None:
        self.close()

    @toolwire.hookimpl
    def toolwire_register_commands(self, register: Callable[[Command], None]) -> None:
        from ._cli import serve_command

        register(serve_command())

    def close(self) -> None:
        """End every session and server process, then the plugin's loop."""
        links, self.links = self.links, {}
        for link in links.values():
            link.close()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None


def _close_at_exit(plugin: McpPlugin) -> None:
    ref = weakref.ref(plugin)

    def close() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    atexit.register(close)
