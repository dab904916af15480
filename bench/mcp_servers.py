"""One small tool served over streamable HTTP on loopback, by toolwire, the SDK's MCPServer or
FastMCP: ``python bench/mcp_servers.py toolwire|sdk|fastmcp PORT``. Used by ``bench/run.py``.

Two tools: ``echo``, ``async``, which each server runs on its loop (the figure compares the
servers, not their thread pools), and ``echo_plain``, a plain function, which each runs as it
runs any (toolwire and the SDK on a worker thread).
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn


async def echo(text: str) -> str:
    """Send the text back.

    Args:
        text: Any text.
    """
    return text


def echo_plain(text: str) -> str:
    """Send the text back, from a plain function.

    Args:
        text: Any text.
    """
    return text


def toolwire_app() -> Any:
    import toolwire
    import toolwire_mcp

    dispatcher = toolwire.Dispatcher().add(toolwire.tool(echo)).add(toolwire.tool(echo_plain))
    return toolwire_mcp.asgi_app(dispatcher, anonymous_role="bench")


def sdk_app() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")
    server.tool()(echo)
    server.tool()(echo_plain)
    return server.streamable_http_app()


def fastmcp_app() -> Any:
    from fastmcp import FastMCP

    server = FastMCP("bench")
    server.tool(echo)
    server.tool(echo_plain)
    return server.http_app(path="/mcp")


if __name__ == "__main__":
    import logging

    import structlog

    # A host's usual setting: warnings and worse; per-call info lines are not built.
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    kind, port = sys.argv[1], int(sys.argv[2])
    app = {"toolwire": toolwire_app, "sdk": sdk_app, "fastmcp": fastmcp_app}[kind]()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
