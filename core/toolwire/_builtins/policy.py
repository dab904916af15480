"""The built-in ``policy`` plugin: registers ``Retry``, ``ConcurrencyLimit`` and ``Timeout``.

Each is put only on the tools whose policy asks for it; where each sits is its ``order``
(``toolwire.middleware.Order``), not the order of registration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._config import Config
from ..hookspecs import hookimpl
from ..middleware import ConcurrencyLimit, Retry, Timeout


class ExecutionPolicy:
    """Registers the policy middleware; ``[plugins.policy]`` tunes the retry backoff."""

    def __init__(self) -> None:
        self.retry = Retry()
        self.concurrency = ConcurrencyLimit()
        self.timeout = Timeout()

    @hookimpl
    def toolwire_configure(self, config: Config) -> None:
        settings = config.plugin_settings("policy")
        self.retry.initial_delay = float(settings.get("retry_initial_delay", 0.2))
        self.retry.max_delay = float(settings.get("retry_max_delay", 5.0))

    @hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        register(self.retry)
        register(self.concurrency)
        register(self.timeout)
