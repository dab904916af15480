"""An MCP server as found in the wild: dotted and slashed tool names (one clashing with a
plain one once made safe), an image, a resource link and an embedded PDF in one result, and
an error that carries structured content."""

from __future__ import annotations

import base64

from mcp.server.mcpserver import MCPServer
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)

server = MCPServer("wild")

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nwild").decode()
PDF = base64.b64encode(b"%PDF-1.4 wild").decode()


@server.tool(name="calendar.listEvents")
def list_events(day: str) -> str:
    """List the events of a day."""
    return f"events on {day}: standup"


@server.tool(name="calendar_listEvents")
def list_events_plain(day: str) -> str:
    """The same name once made safe: it keeps its own."""
    return f"plain events on {day}"


@server.tool(name="drive/search")
def drive_search(query: str) -> str:
    """Search the drive."""
    return f"found {query}.txt"


@server.tool()
def media() -> CallToolResult:
    """An image, a link to a resource and an embedded PDF."""
    return CallToolResult(
        content=[
            TextContent(type="text", text="the quarter"),
            ImageContent(type="image", data=PNG, mime_type="image/png"),
            ResourceLink(
                type="resource_link",
                uri="file:///reports/q3.csv",
                name="q3.csv",
                mime_type="text/csv",
                description="every row",
            ),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri="file:///reports/q3.pdf", mime_type="application/pdf", blob=PDF
                ),
            ),
        ]
    )


@server.tool()
def book(room: str) -> CallToolResult:
    """Fails, saying why in structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text=f"{room} is taken")],
        structured_content={"room": room, "free_from": "14:00"},
        is_error=True,
    )


server.run()
