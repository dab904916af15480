"""A dispatcher's tools as an MCP server: the SDK's low-level server, every call through the
whole pipeline.

toolwire's own schemas are sent as they are (the low-level server re-infers nothing). A call
goes to ``dispatcher.dispatch`` under the caller's role, so validation, permission, hooks,
policy and the output budget apply exactly as for a provider's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import mcp_types as types
import toolwire
import toolwire.propagation
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from opentelemetry import baggage
from opentelemetry import context as otel_context

#: Where an HTTP gate leaves the caller's role and principal in the ASGI scope.
ROLE_KEY: Final = "toolwire_mcp.role"
PRINCIPAL_KEY: Final = "toolwire_mcp.principal"

RoleOf = Callable[[Any], "str | None"]


def server(
    dispatcher: toolwire.Dispatcher, *, role: str | None = None, name: str = "toolwire"
) -> Server[Any]:
    """The SDK's low-level MCP server serving ``dispatcher``'s tools, for any transport.

    ``tools/list`` answers the tools the caller's role may call; ``tools/call`` runs
    ``dispatcher.dispatch`` under that role. Over HTTP behind ``asgi_app`` the role is the
    one the caller's token gives; otherwise it is ``role``.

    Args:
        dispatcher: The dispatcher whose tools are served (started, if it was not).
        role: The role of callers the transport does not identify (stdio).
        name: The server's name in the handshake.

    Returns:
        A ``mcp.server.lowlevel.Server``; run it with ``server.run(read, write,
        server.create_initialization_options())`` or mount ``asgi_app``.
    """
    served = _Served(dispatcher, role)
    return Server(
        name,
        version=_version(),
        on_list_tools=served.list_tools,
        on_call_tool=served.call_tool,
        get_tool_input_schema=served.input_schema,
    )


class _Served:
    """What the handlers share: the dispatcher and each tool's MCP description, built once."""

    def __init__(self, dispatcher: toolwire.Dispatcher, role: str | None) -> None:
        self.dispatcher = dispatcher.start()
        self.role = role
        self._described: dict[str, types.Tool] = {}
        #: Per tool, whether its output schema wraps the result as ``{"result": ...}``; a tool
        #: without an output schema is absent.
        self._wrapped: dict[str, bool] = {}
        self._schemas: dict[str, Mapping[str, Any]] | None = None

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """A tool's input schema by name, for the 2026-07-28 HTTP header checks (which would
        otherwise run ``tools/list`` for every call). The call itself is checked by role."""
        schemas = self._schemas
        if schemas is None:
            schemas = self._schemas = {
                t.name: t.parameters for t in self.dispatcher.tools(all_roles=True)
            }
        return schemas.get(name)

    def role_of(self, ctx: Any) -> tuple[str | None, str | None]:
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        if isinstance(scope, Mapping) and ROLE_KEY in scope:
            return scope[ROLE_KEY], scope.get(PRINCIPAL_KEY)
        return self.role, None

    async def list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        role, _ = self.role_of(ctx)
        return types.ListToolsResult(tools=[self.describe(t) for t in self.dispatcher.tools(role)])

    def describe(self, tool: toolwire.Tool) -> types.Tool:
        described = self._described.get(tool.name)
        if described is None:
            hints = self.dispatcher.policy(tool.name).annotations()
            output = output_schema(tool)
            if output is not None:
                self._wrapped[tool.name] = output is not tool.output_schema
            described = self._described[tool.name] = types.Tool(
                name=tool.name,
                description=tool.description or None,
                input_schema=tool.parameters,
                output_schema=output,
                annotations=types.ToolAnnotations(
                    read_only_hint=hints.get("read_only"),
                    destructive_hint=hints.get("destructive"),
                    idempotent_hint=hints.get("idempotent"),
                    open_world_hint=hints.get("open_world"),
                )
                if hints
                else None,
            )
        return described

    async def call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        role, principal = self.role_of(ctx)
        name = params.name
        tools = {t.name: t for t in self.dispatcher.tools(role)}
        tool = tools.get(name)
        if tool is None:
            raise _unknown_tool(name, list(tools))
        self.describe(tool)
        relay = _ProgressRelay(ctx) if _progress_token(ctx) is not None else None
        state = {"principal": principal} if principal is not None else None
        try:
            with _baggage_of(ctx):
                result = await self.dispatcher.dispatch(
                    name,
                    params.arguments if params.arguments is not None else {},
                    role=role,
                    state=state,
                    progress=relay.report if relay is not None else None,
                )
        finally:
            if relay is not None:
                await relay.finish()
        if not result.success:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=result.output)], is_error=True
            )
        return self._result(tool, result)

    def _result(self, tool: toolwire.Tool, result: toolwire.DispatchResult) -> types.CallToolResult:
        value = result.result
        content: list[types.ContentBlock] = [types.TextContent(type="text", text=result.output)]
        if isinstance(value, toolwire.Content):
            content += [block for part in value.parts if (block := _block(part)) is not None]
        wrapped = self._wrapped.get(tool.name)
        if wrapped is None:
            structured: Any = None
            if isinstance(value, Mapping):  # no schema promised: an object, when it is one
                with contextlib.suppress(ValueError):
                    structured = json.loads(result.output)
            if not isinstance(structured, dict):
                structured = None
            return types.CallToolResult(content=content, structured_content=structured)
        # A schema was advertised: the result's JSON data, whole (the pipeline refuses a
        # structured result over the output budget), shaped as the schema says.
        data = json.loads(toolwire.to_json(value))
        return types.CallToolResult(
            content=content, structured_content={"result": data} if wrapped else data
        )


def output_schema(tool: toolwire.Tool) -> dict[str, Any] | None:
    """The ``outputSchema`` MCP gets: the tool's output schema, wrapped as ``{"result": ...}``
    when it is not an object schema (MCP's ``structuredContent`` is always an object)."""
    schema = tool.output_schema
    if schema is None:
        return None
    if schema.get("type") == "object":
        return schema
    inner = {k: v for k, v in schema.items() if k != "$defs"}
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {"result": inner},
        "required": ["result"],
    }
    if "$defs" in schema:
        wrapped["$defs"] = schema["$defs"]  # "#/$defs/..." still resolves from the root
    return wrapped


def _block(part: Any) -> types.ContentBlock | None:
    """A result part as MCP content (text parts are in the text block already)."""
    if isinstance(part, toolwire.ImagePart):
        return types.ImageContent(type="image", data=part.data, mime_type=part.media_type)
    if isinstance(part, toolwire.AudioPart):
        return types.AudioContent(type="audio", data=part.data, mime_type=part.media_type)
    if isinstance(part, toolwire.FilePart):
        name = part.name or "file"
        return types.EmbeddedResource(
            type="resource",
            resource=types.BlobResourceContents(
                uri=f"toolwire://result/{urllib.parse.quote(name)}",
                mime_type=part.media_type,
                blob=part.data,
            ),
        )
    if isinstance(part, toolwire.LinkPart):
        return types.ResourceLink(
            type="resource_link",
            uri=part.uri,
            name=part.name,
            mime_type=part.media_type,
            description=part.description,
        )
    return None


def _unknown_tool(name: str, known: list[str]) -> MCPError:
    close = difflib.get_close_matches(name[:64], known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return MCPError(
        code=types.INVALID_PARAMS,
        message=f"Unknown tool: {name[:64]!r}{hint}",
        data={"closest": close},
    )


@contextlib.contextmanager
def _baggage_of(ctx: Any) -> Iterator[None]:
    """The client's ``_meta.baggage`` made current for the call. (The SDK makes the client's
    ``traceparent`` the parent of its server span, but keeps no baggage.)"""
    meta = getattr(ctx, "meta", None)
    entries = (
        baggage.get_all(toolwire.propagation.extract({"baggage": meta["baggage"]}))
        if isinstance(meta, Mapping) and isinstance(meta.get("baggage"), str)
        else None
    )
    if not entries:
        yield
        return
    current = otel_context.get_current()
    for key, value in entries.items():
        current = baggage.set_baggage(key, value, context=current)
    token = otel_context.attach(current)
    try:
        yield
    finally:
        otel_context.detach(token)


def _progress_token(ctx: Any) -> Any:
    meta = getattr(ctx, "meta", None)
    if not isinstance(meta, Mapping):
        return None
    return meta.get("progress_token", meta.get("progressToken"))


class _ProgressRelay:
    """Sends a call's progress reports, in order, before its result.

    ``report`` is called from the thread the tool runs in; it only queues.
    """

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[float, float | None, str | None] | None] = asyncio.Queue()
        self._sender = self._loop.create_task(self._send())

    def report(self, progress: float, total: float | None, message: str | None) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (progress, total, message))

    async def _send(self) -> None:
        while (item := await self._queue.get()) is not None:
            with contextlib.suppress(Exception):  # a client gone away just misses reports
                await self._ctx.session.report_progress(*item)

    async def finish(self) -> None:
        self._queue.put_nowait(None)
        try:
            await asyncio.shield(self._sender)
        except asyncio.CancelledError:
            self._sender.cancel()
            raise


async def serve_stdio(dispatcher: toolwire.Dispatcher, *, role: str | None = None) -> None:
    """Serve over this process's stdin and stdout until the client closes stdin.

    Nothing but protocol reaches stdout meanwhile: the SDK points file descriptor 1 at
    stderr while it serves, and ``sys.stdout`` is sent to stderr too (tools that print, a
    logger writing to stdout).
    """
    mcp_server = server(dispatcher, role=role)
    # The SDK claims the real stdout first (it needs sys.stdout to find it), then diverts it.
    async with stdio_server() as (read, write):
        with contextlib.redirect_stdout(sys.stderr):
            await mcp_server.run(read, write, mcp_server.create_initialization_options())


def _version() -> str:
    from importlib.metadata import version

    return version("toolwire-mcp")
