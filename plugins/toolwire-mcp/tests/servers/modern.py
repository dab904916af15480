"""An MCP server written with the SDK's MCPServer (it speaks 2026-07-28): ``grow`` adds a tool
and announces it on the ``subscriptions/listen`` stream."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("modern")


def extra() -> str:
    """A tool that appears later."""
    return "extra"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool ``extra``."""
    server.add_tool(extra)
    await ctx.notify_tools_changed()
    return "grown"


server.run()
