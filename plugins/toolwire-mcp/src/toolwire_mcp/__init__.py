"""MCP both ways for toolwire.

Load MCP servers as tool packs (``[plugins.mcp.servers.NAME]`` or an ``mcpServers`` JSON file):
each server is the plugin ``mcp.NAME``, its tools governed like local ones; their tasks are
followed, and their requests for input answered by ``McpPlugin(elicitation=...)``. Serve a
dispatcher's tools to MCP clients: ``toolwire mcp serve``, ``server(dispatcher)`` for any
transport, ``asgi_app(dispatcher)`` to mount in a web app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ._elicit import (
    Elicitation,
    ElicitationAnswer,
    ElicitationCall,
    ElicitationRequest,
)
from ._plugin import McpPlugin
from ._settings import Settings

if TYPE_CHECKING:
    from ._http import IntrospectionVerifier, StaticTokens, asgi_app, role_from
    from ._link import StartError
    from ._pack import result_value
    from ._serve import output_schema, serve_stdio, server

#: Names whose modules import the MCP SDK, imported on first use.
_LAZY: Final = {
    "IntrospectionVerifier": "._http",
    "StaticTokens": "._http",
    "asgi_app": "._http",
    "role_from": "._http",
    "StartError": "._link",
    "result_value": "._pack",
    "output_schema": "._serve",
    "serve_stdio": "._serve",
    "server": "._serve",
}

#: What the ``toolwire`` entry point ``mcp`` resolves to: a class, so every dispatcher gets
#: sessions and server processes of its own.
plugin: Final = McpPlugin

__all__ = [
    "Elicitation",
    "ElicitationAnswer",
    "ElicitationCall",
    "ElicitationRequest",
    "IntrospectionVerifier",
    "McpPlugin",
    "Settings",
    "StartError",
    "StaticTokens",
    "__version__",
    "asgi_app",
    "output_schema",
    "plugin",
    "result_value",
    "role_from",
    "serve_stdio",
    "server",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire-mcp")
    raise AttributeError(f"module 'toolwire_mcp' has no attribute {name!r}")
