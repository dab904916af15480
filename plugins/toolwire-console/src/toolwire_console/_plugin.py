"""The plugin toolwire loads: checks ``[plugins.console]`` at start and brings ``toolwire console``."""

from __future__ import annotations

from collections.abc import Callable

import toolwire
from toolwire.types import Command

from ._settings import Settings

# starlette, uvicorn and jinja2 are imported when the console is served, not to list
# commands: every ``toolwire`` command asks this plugin for its commands.


class ConsolePlugin:
    """Checks ``[plugins.console]`` when a dispatcher starts (a mistake stops the start, as
    every plugin's table does); brings the ``toolwire console`` command. It adds nothing to a
    call's path."""

    def __init__(self) -> None:
        self.settings = Settings()

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self.settings = Settings.from_config(config)

    @toolwire.hookimpl
    def toolwire_register_commands(self, register: Callable[[Command], None]) -> None:
        from ._cli import console_command

        register(console_command())
