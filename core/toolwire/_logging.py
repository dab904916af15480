"""The library's logger: structlog, imported when first used.

toolwire logs and never configures logging; the host does. Deferring the import keeps
``import toolwire`` light for hosts that only define tools.
"""

from __future__ import annotations

from typing import Any


class _Logger:
    """Forwards to ``structlog.get_logger("toolwire")``, made on first use."""

    __slots__ = ("_logger",)

    def __init__(self) -> None:
        self._logger: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._logger is None:
            import structlog

            self._logger = structlog.get_logger("toolwire")
        return getattr(self._logger, name)


log = _Logger()
