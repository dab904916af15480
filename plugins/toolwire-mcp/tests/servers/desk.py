"""An MCP server written with the SDK's MCPServer (it speaks 2026-07-28) whose tool ``greet``
asks for the person's name the 2026-07-28 way: an ``InputRequiredResult`` the client answers
and retries with."""

from __future__ import annotations

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("desk")
ASK = types.ElicitRequest(
    params=types.ElicitRequestFormParams(
        message="What is your name?",
        requested_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
    )
)


@server.tool()
async def greet(ctx: Context) -> str | types.InputRequiredResult:
    """Greet the person, asking their name first."""
    answers = ctx.input_responses
    if not answers:
        return types.InputRequiredResult(input_requests={"name": ASK})
    answer = answers["name"]
    if isinstance(answer, types.ElicitResult) and answer.action == "accept" and answer.content:
        return f"hello {answer.content['name']}"
    return getattr(answer, "action", "no answer")


server.run()
