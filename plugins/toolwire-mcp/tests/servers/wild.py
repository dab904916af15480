"""An MCP server as found in the wild: dotted and slashed tool names (one clashing with a
plain one once made safe), an image, a resource link and an embedded PDF in one result, an
error that carries structured content, and an OData-style tool (``$top``, ``filter[status]``,
a nested ``@odata.type``) whose output model has field aliases."""

from __future__ import annotations

import base64
import inspect
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)
from pydantic import BaseModel, ConfigDict, Field

server = MCPServer("wild")


class Where(BaseModel):
    """A nested filter, its keys as an OData service spells them."""

    model_config = ConfigDict(populate_by_name=True)
    odata_type: str = Field(alias="@odata.type")
    field_name: str = Field(alias="field name")


class Issue(BaseModel):
    """One issue, serialized under its aliases (the outputSchema says so too)."""

    model_config = ConfigDict(populate_by_name=True)
    issue_id: int = Field(alias="issueId")
    odata_type: str = Field(alias="@odata.type")
    status: str


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


def list_issues(**arguments: Any) -> list[Issue]:
    """List issues, OData style."""
    # The SDK passes each argument under its alias ($top), which no Python parameter can be.
    where = arguments.get("where")
    kind = where.odata_type if where is not None else "#issue"
    status = arguments.get("filter[status]", "open")
    return [
        Issue(issue_id=i, odata_type=kind, status=status) for i in range(1, arguments["$top"] + 1)
    ]


list_issues.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            "top",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[int, Field(alias="$top", ge=1, le=50)],
        ),
        inspect.Parameter(
            "status",
            inspect.Parameter.KEYWORD_ONLY,
            default="open",
            annotation=Annotated[str, Field(alias="filter[status]")],
        ),
        inspect.Parameter(
            "where", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Where | None
        ),
    ],
    return_annotation=list[Issue],
)
server.add_tool(list_issues, name="issues.list")


server.run()
