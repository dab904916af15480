"""The built-in providers, registered through the same hook a third-party provider uses."""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl
from ..providers import Provider, builtin_providers


class BuiltinProviders:
    """Registers ``openai-responses``, ``openai-chat``, ``anthropic`` and ``gemini``."""

    @hookimpl
    def toolwire_register_providers(self, register: Callable[[Provider], None]) -> None:
        for provider in builtin_providers():
            register(provider)
