"""An operator's console for toolwire: a web page to decide approvals and see what runs under
which policy.

``toolwire console`` serves it (bound to 127.0.0.1 unless told otherwise); a host can mount
``asgi_app(dispatcher)`` in its own ASGI server instead. People sign in with tokens the
operator sets in environment variables, each mapped to a principal and a permission
(``view`` or ``approve``) in ``[plugins.console.tokens.NAME]``.
"""

from __future__ import annotations

from typing import Any, Final

from ._app import asgi_app
from ._plugin import ConsolePlugin
from ._settings import PERMISSIONS, Grant, Settings

#: What the ``toolwire`` entry point ``console`` resolves to.
plugin: Final = ConsolePlugin

__all__ = [
    "PERMISSIONS",
    "ConsolePlugin",
    "Grant",
    "Settings",
    "__version__",
    "asgi_app",
    "plugin",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire-console")
    raise AttributeError(f"module 'toolwire_console' has no attribute {name!r}")
