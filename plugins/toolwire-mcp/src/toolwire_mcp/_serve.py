"""A dispatcher's tools as an MCP server: the SDK's low-level server, every call through the
whole pipeline.

toolwire's own schemas are sent as they are (the low-level server re-infers nothing). A call
goes to ``dispatcher.dispatch`` under the caller's role, so validation, permission, hooks,
policy and the output budget apply exactly as for a provider's call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import difflib
import json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import mcp_types as types
import toolwire
import toolwire.propagation
import toolwire.settings
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from opentelemetry import baggage
from opentelemetry import context as otel_context
from pydantic import ValidationError
from toolwire.types import ProgressCallback

from . import _tasks
from ._exchange import exchange_of
from ._settings import REQUEST_STATE_KEY_BYTES, Settings

#: Where an HTTP gate leaves the caller's role and principal in the ASGI scope.
ROLE_KEY: Final = "toolwire_mcp.role"
PRINCIPAL_KEY: Final = "toolwire_mcp.principal"
#: And the caller's whole identity, as its sessions are owned: a token's role, client id,
#: issuer and subject, or an anonymous caller's address (what a task's owner is made of).
OWNER_KEY: Final = "toolwire_mcp.owner"

_log = toolwire.get_logger("toolwire.mcp")
#: The longest a call waits for a person to answer through the client (seconds); then it
#: answers ``approval_required``, the approval still pending, to be decided elsewhere.
ELICITATION_WAIT: Final = 300.0
#: Progress reports a call holds for a client that reads slower than its tool reports.
MAX_WAITING_REPORTS: Final = 256
#: The key of the one input request an approval makes on 2026-07-28 (``inputRequests``), and
#: of its answer in the retry's ``inputResponses``.
APPROVAL_INPUT: Final = "approval"

RoleOf = Callable[[Any], "str | None"]


def server(
    dispatcher: toolwire.Dispatcher,
    *,
    role: str | None = None,
    name: str = "toolwire",
    request_state_key: bytes | None = None,
) -> Server[Any]:
    """The SDK's low-level MCP server serving ``dispatcher``'s tools, for any transport.

    ``tools/list`` answers the tools the caller's role may call; ``tools/call`` runs
    ``dispatcher.dispatch`` under that role. Over HTTP behind ``asgi_app`` the role is the
    one the caller's token gives; otherwise it is ``role``.

    Args:
        dispatcher: The dispatcher whose tools are served (started, if it was not).
        role: The role of callers the transport does not identify (stdio).
        name: The server's name in the handshake (and the audience of its ``requestState``).
        request_state_key: The secret (at least 32 bytes) that seals the ``requestState`` of
            2026-07-28 input-required results, shared by the processes that may receive a
            client's retry; by default a key made now, known to this process only.

    Returns:
        A ``mcp.server.lowlevel.Server``; run it with ``server.run(read, write,
        server.create_initialization_options())`` or mount ``asgi_app``.

    Raises:
        toolwire.ConfigError: ``request_state_key`` is shorter than 32 bytes.
    """
    return served_server(dispatcher, role=role, name=name, request_state_key=request_state_key)[0]


def served_server(
    dispatcher: toolwire.Dispatcher,
    *,
    role: str | None = None,
    name: str = "toolwire",
    request_state_key: bytes | None = None,
) -> tuple[Server[Any], Callable[[], None]]:
    """``server``, and what stops it: the task runs of this process are ended ``failed``
    (``SHUTDOWN``) at once, rather than left for their leases to run out. For a transport
    that can be stopped by a signal whose default ends the process (``SIGTERM``)."""
    if request_state_key is not None and len(request_state_key) < REQUEST_STATE_KEY_BYTES:
        raise toolwire.ConfigError(
            f"request_state_key: {len(request_state_key)} bytes; it needs at least "
            f"{REQUEST_STATE_KEY_BYTES} random bytes; make one with {toolwire.settings.MAKE_A_SECRET}"
        )
    served = _Served(dispatcher, role)
    mcp_server: Server[Any] = Server(
        name,
        version=_version(),
        on_list_tools=served.list_tools,
        on_call_tool=served.call_tool,
        get_tool_input_schema=served.input_schema,
    )
    # Inside OpenTelemetry (spans see the sealed form), before the task interception.
    mcp_server.middleware.append(_SealedState(served, name, request_state_key))
    if served.tasks is not None:
        served.tasks.install(mcp_server)
        return mcp_server, served.tasks.runs.stop
    return mcp_server, lambda: None


class _SealedState:
    """The SDK's ``RequestStateBoundary`` on 2026-07-28 requests (the revision of
    input-required results; an earlier one passes as it did, ``requestState`` unread).

    The client echoes ``requestState`` and may have changed it: the boundary opens only what
    this key sealed, for this caller (its whole identity), tool, arguments and server, within
    the state's lifetime, before any handler sees it; anything else is its invalid-state
    error.
    """

    def __init__(self, served: _Served, name: str, key: bytes | None) -> None:
        security = RequestStateSecurity(
            keys=[key if key is not None else os.urandom(32)],
            bind_principal=served.principal_of,
        )
        self.boundary: Final = RequestStateBoundary(security, default_audience=name)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return await self.boundary(ctx, call_next)
        return await call_next(ctx)


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
        self.redaction = toolwire.types.Redaction.from_config(self.dispatcher.config)
        #: Under which host-state key a call's record keeps its principal (the record of a
        #: caller whose principal is passed under another key keeps none).
        self._principal_key: str = self.dispatcher.config.section("approvals")["principal_key"]
        from ._settings import Settings

        #: ``[plugins.mcp.serve] elicit_approvals``: ask the client's person about approvals.
        self.elicit_approvals = Settings.from_config(self.dispatcher.config).serve.elicit_approvals
        task_tools = {
            t.name
            for t in self.dispatcher.tools(all_roles=True)
            if self.dispatcher.policy(t.name).task
        }
        #: MCP tasks, when a tool is marked ``task = true`` (its store opened at start).
        self.tasks = _TaskServing(self, task_tools) if task_tools else None

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """A tool's input schema by name, for the 2026-07-28 HTTP header checks (which would
        otherwise run ``tools/list`` for every call). The call itself is checked by role."""
        schemas = self._schemas
        if schemas is None:
            schemas = self._schemas = {
                t.name: t.parameters for t in self.dispatcher.tools(all_roles=True)
            }
        return schemas.get(name)

    def owner_of(self, ctx: Any) -> list[Any]:
        """Who a task belongs to: the HTTP caller's whole identity (``OWNER_KEY``), kept apart
        part by part (a client id is never taken for a subject), or over stdio this server's
        one client, by role."""
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        if isinstance(scope, Mapping) and OWNER_KEY in scope:
            return list(scope[OWNER_KEY])
        return ["stdio", self.role]

    def principal_of(self, ctx: Any) -> str:
        """Whom a ``requestState`` is bound to (the SDK's boundary seals and checks it): the
        caller's whole identity, as its sessions and tasks are owned."""
        return json.dumps(self.owner_of(ctx), separators=(",", ":"))

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
        described = [self.describe(t) for t in self.dispatcher.tools(role)]
        if (
            self.tasks is not None
            and getattr(ctx, "protocol_version", None) not in _tasks.REVISIONS
        ):
            # A revision without tasks has no taskSupport to read: none is offered there.
            described = [
                d.model_copy(update={"execution": None}) if d.execution is not None else d
                for d in described
            ]
        return types.ListToolsResult(tools=described)

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
                execution=types.ToolExecution(task_support="optional")
                if self.tasks is not None and tool.name in self.tasks.tools
                else None,
            )
        return described

    async def call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        role, principal = self.role_of(ctx)
        name = params.name
        tool = self.dispatcher.find_tool(name, role)
        if tool is None:
            raise _unknown_tool(name, [t.name for t in self.dispatcher.tools(role)])
        self.describe(tool)
        modern = getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS
        # Over HTTP a client asks for progress with a token; over stdio or in-process the
        # SDK's session knows whether anyone listens (an in-process client's callback needs
        # no token), and drops reports nobody asked for.
        wanted = _progress_token(ctx) is not None or getattr(ctx, "request", None) is None
        relay = _ProgressRelay(ctx) if wanted else None
        progress = relay.report if relay is not None else None
        try:
            if modern and params.request_state is not None:
                # A retry after an input-required result: the approval it names decides it.
                retried = await self._retried(params, tool, role, principal, progress)
                return self.answer(tool, retried)
            state = {"principal": principal} if principal is not None else None
            with _baggage_of(ctx):
                result = await self.dispatcher.dispatch(
                    name,
                    params.arguments if params.arguments is not None else {},
                    role=role,
                    state=state,
                    progress=progress,
                )
            approval = result.approval
            if approval is not None and self.elicit_approvals and _elicitation_declared(ctx):
                if modern:
                    return self._input_required(approval)
                if _can_send_request(ctx):
                    result = await self._ask(ctx, result, principal, progress)
            return self.answer(tool, result)
        finally:
            if relay is not None:  # every report out before the result
                await relay.finish()

    def answer(self, tool: toolwire.Tool, result: toolwire.DispatchResult) -> types.CallToolResult:
        """A dispatch result as MCP's ``CallToolResult``."""
        if not result.success:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=result.output)], is_error=True
            )
        return self._result(tool, result)

    async def _ask(
        self,
        ctx: Any,
        waiting: toolwire.DispatchResult,
        principal: str | None,
        progress: ProgressCallback | None,
    ) -> toolwire.DispatchResult:
        """Ask the client's person about a call waiting for approval; their answer decides it.

        They see the tool and its arguments, masked with ``[logging] redact``. Accept approves
        the record (bound to its digest; a record decides once) and runs the call; decline or
        cancel rejects it. Who decided is the caller's principal, or ``mcp client``. A client
        that fails to answer leaves the approval pending, as a client without elicitation does.
        """
        approval = waiting.approval
        assert approval is not None
        message = self._question(approval)
        by = principal or "mcp client"
        # A person who never answers must not hold the request open: past the approval's
        # expiry, or ELICITATION_WAIT, the call answers as without elicitation (pending).
        wait = min(ELICITATION_WAIT, max(0.0, approval.expires_at - time.time()))
        try:
            async with asyncio.timeout(wait):
                answer = await ctx.session.elicit_form(
                    message,
                    {"type": "object", "properties": {}},
                    related_request_id=ctx.request_id,
                )
        except Exception:  # noqa: BLE001  # no answer: the approval stays pending
            return waiting
        if answer.action == "accept":
            return await self.dispatcher.approve(approval.id, by=by, progress=progress)
        said = {"decline": "declined", "cancel": "cancelled"}.get(answer.action, answer.action)
        return await self.dispatcher.reject(
            approval.id, by=by, message=f"{said} through the MCP client"
        )

    def _question(self, approval: toolwire.Approval) -> str:
        """What the person is asked: the tool, the reason, and the arguments masked with
        ``[logging] redact``."""
        try:
            arguments = json.loads(approval.arguments)
        except (TypeError, ValueError):
            arguments = {}
        shown = json.dumps(self.redaction.redact(arguments), sort_keys=True, indent=2)
        reason = f"\nWhy: {approval.reason}" if approval.reason else ""
        return f"Allow the call of tool {approval.tool!r}?{reason}\nArguments:\n{shown}"

    def _input_required(self, approval: toolwire.Approval) -> types.InputRequiredResult:
        """The 2026-07-28 way to ask: the client asks its person and retries the call with the
        answer and this ``requestState`` (naming the record; sealed by the SDK's boundary)."""
        ask = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=self._question(approval),
                requested_schema={"type": "object", "properties": {}},
            )
        )
        return types.InputRequiredResult(
            input_requests={APPROVAL_INPUT: ask},
            request_state=json.dumps({"approval": approval.id}, separators=(",", ":")),
        )

    async def _retried(
        self,
        params: types.CallToolRequestParams,
        tool: toolwire.Tool,
        role: str | None,
        principal: str | None,
        progress: ProgressCallback | None,
    ) -> toolwire.DispatchResult:
        """A 2026-07-28 retry: the person's answer decides the record its ``requestState``
        names, once that record proves to be this caller's call of this tool.

        The SDK's boundary let through only a state this server sealed for this caller, tool
        and arguments; the record is checked again here (the store is shared, and a key may be
        too): it must exist, be for this tool, and have been made under this caller's role and
        principal, or the retry gets the invalid-state error and nothing is decided. Accept
        approves it (``dispatcher.approve``: run once) and decline or cancel rejects it; a
        record decided before keeps its stored result either way. A retry without an answer
        gets ``approval_required`` for the same record (a record approved elsewhere but not
        run yet runs here).
        """
        approval = await self._named_approval(params.request_state)
        recorded = principal if self._principal_key == "principal" else None
        if approval is None or (approval.tool, approval.role, approval.principal) != (
            tool.name,
            role,
            recorded,
        ):
            _log.warning("toolwire_mcp.request_state_refused", tool=tool.name, reason="record")
            raise _invalid_state()
        answer = (params.input_responses or {}).get(APPROVAL_INPUT)
        by = principal or "mcp client"
        try:
            if isinstance(answer, types.ElicitResult) and answer.action == "accept":
                return await self.dispatcher.approve(approval.id, by=by, progress=progress)
            if isinstance(answer, types.ElicitResult):
                said = "declined" if answer.action == "decline" else "cancelled"
                return await self.dispatcher.reject(
                    approval.id, by=by, message=f"{said} through the MCP client"
                )
            if approval.status == "pending":
                return _still_waiting(approval)
            if approval.status == "approved":
                return await self.dispatcher.run_approved(approval.id, progress=progress)
            # Decided: the stored result (a decided record keeps it; nothing is decided here).
            return await self.dispatcher.reject(approval.id, by=by)
        except toolwire.ApprovalError as exc:
            error = toolwire.ToolError(
                f"the approval of this call could not be decided here: {exc}",
                kind="internal_error",
            )
            return toolwire.DispatchResult(
                False, approval.call_id, tool.name, error=error, output=_error_text(error)
            )

    async def _named_approval(self, state: str | None) -> toolwire.Approval | None:
        """The record a (verified) ``requestState`` names, as the store holds it now."""
        try:
            named = json.loads(state) if state is not None else None
        except ValueError:
            return None
        approval_id = named.get("approval") if isinstance(named, dict) else None
        if not isinstance(approval_id, str):
            return None
        try:
            return await self.dispatcher.approval(approval_id)
        except toolwire.ApprovalError:
            return None

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
        data = json.loads(tool.result_json(value))
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
            name=part.name or part.uri,  # a LinkPart always has one (its URI's last segment)
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


def _elicitation_declared(ctx: Any) -> bool:
    """Whether the client said it can ask a person (form elicitation): in its handshake, or
    on 2026-07-28 in the request's own capabilities."""
    session = getattr(ctx, "session", None)
    capabilities = session.client_capabilities if session is not None else None
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _can_send_request(ctx: Any) -> bool:
    """Whether the connection carries server requests (``elicitation/create`` on 2025-11-25)."""
    return bool(getattr(getattr(ctx, "session", None), "can_send_request", False))


def _invalid_state() -> MCPError:
    """The SDK boundary's own answer to a ``requestState`` it refuses, word for word: a client
    learns nothing more from a record check than from a broken seal."""
    return MCPError(
        code=types.INVALID_PARAMS,
        message="Invalid or expired requestState",
        data={"reason": "invalid_request_state"},
    )


def _still_waiting(approval: toolwire.Approval) -> toolwire.DispatchResult:
    """``approval_required`` for a record that still waits, as the call got it at first."""
    error = toolwire.ToolError(
        f"{approval.tool} needs a person's approval before it runs ({approval.reason}); "
        f"it has not run. Approval id: {approval.id}",
        kind="approval_required",
        details={"approval_id": approval.id, "expires_at": approval.expires_at},
    )
    return toolwire.DispatchResult(
        False, approval.call_id, approval.tool, error=error, output=_error_text(error),
        approval=approval,
    )  # fmt: skip


def _error_text(error: toolwire.ToolError) -> str:
    return json.dumps(error.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _progress_token(ctx: Any) -> Any:
    meta = getattr(ctx, "meta", None)
    if not isinstance(meta, Mapping):
        return None
    return meta.get("progress_token", meta.get("progressToken"))


def _progress_notification(
    ctx: Any, progress: float, total: float | None, message: str | None
) -> dict[str, Any]:
    """``notifications/progress`` for the request's token, as the SDK writes it."""
    params = {"progressToken": _progress_token(ctx), "progress": progress}
    if total is not None:
        params["total"] = total
    if message is not None:
        params["message"] = message
    return {"jsonrpc": "2.0", "method": "notifications/progress", "params": params}


class _ProgressRelay:
    """Sends a call's progress reports, in order, before its result.

    ``report`` is called from the thread the tool runs in, or from the loop's own (an
    ``async def`` tool); it only queues. A client that reads slower than the tool reports holds
    at most ``MAX_WAITING_REPORTS`` reports here: past that, each new report takes the place of
    the newest one waiting, so the client still gets the latest, and the server's memory stays
    bounded (a report's message is at most ``toolwire``'s 1,024 characters). A report whose
    progress does not grow past the last one's is dropped, as MCP requires.
    """

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        # A sessionless request answered by the SDK's JSON mode sends its events itself.
        self._exchange = exchange_of(getattr(getattr(ctx, "request", None), "scope", None))
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._waiting: collections.deque[tuple[float, float | None, str | None] | None] = (
            collections.deque()
        )
        self._last: float | None = None  # the progress of the last report queued
        # Made at the first report: a call that reports nothing costs no task.
        self._ready: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None

    def report(self, progress: float, total: float | None, message: str | None) -> None:
        if threading.get_ident() == self._thread:
            # Queued now: the call may end before the loop runs anything scheduled.
            self._put((progress, total, message))
            return
        with contextlib.suppress(RuntimeError):  # a thread that outlived its server's loop
            self._loop.call_soon_threadsafe(self._put, (progress, total, message))

    def _put(self, item: tuple[float, float | None, str | None] | None) -> None:
        if item is not None:
            # MCP: progress grows with each notification; a report that does not (threads
            # reporting at once) is dropped, not sent to break the client's rule.
            if self._last is not None and item[0] <= self._last:
                return
            self._last = item[0]
        if self._ready is None:
            if item is None:
                return  # nothing was reported
            self._ready = asyncio.Event()
            self._sender = self._loop.create_task(self._send(self._ready))
        waiting = self._waiting
        if item is not None and len(waiting) >= MAX_WAITING_REPORTS and waiting[-1] is not None:
            waiting[-1] = item
        else:
            waiting.append(item)
        self._ready.set()

    async def _send(self, ready: asyncio.Event) -> None:
        while True:
            while not self._waiting:
                ready.clear()
                await ready.wait()
            item = self._waiting.popleft()
            if item is None:
                return
            with contextlib.suppress(Exception):  # a client gone away just misses reports
                if self._exchange is None:
                    await self._ctx.session.report_progress(*item)
                else:
                    await self._exchange.progress(_progress_notification(self._ctx, *item))

    async def finish(self) -> None:
        # After every report queued so far: a thread's reports were scheduled on the loop
        # before the result that let this call end.
        self._put(None)
        if self._sender is None:
            return
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

    Raises:
        toolwire.ConfigError: ``[plugins.mcp.serve] request_state_key_env`` names a variable
            that is unset or holds a weak key.
    """
    key = Settings.from_config(dispatcher.config).serve.request_state_key()
    mcp_server = server(dispatcher, role=role, request_state_key=key)
    # The SDK claims the real stdout first (it needs sys.stdout to find it), then diverts it.
    async with stdio_server() as (read, write):
        with contextlib.redirect_stdout(sys.stderr):
            await mcp_server.run(read, write, mcp_server.create_initialization_options())


def _version() -> str:
    from importlib.metadata import version

    return version("toolwire-mcp")


class _TaskServing:
    """MCP tasks for the tools marked ``task = true``, on the revisions that define them
    (``_tasks.REVISIONS``); on any other a call of such a tool is a plain call."""

    def __init__(self, served: _Served, tools: set[str]) -> None:
        self.served = served
        self.tools = frozenset(tools)
        self.store = _tasks.open_task_store(served.dispatcher.config)
        self.runs = _tasks.Runs(self.store)

    def install(self, mcp_server: Server[Any]) -> None:
        """The task methods, the ``tools/call`` interception and the capability ad."""
        mcp_server.add_request_handler("tasks/get", types.GetTaskRequestParams, self.get)
        mcp_server.add_request_handler(
            "tasks/result", types.GetTaskPayloadRequestParams, self.result
        )
        mcp_server.add_request_handler("tasks/cancel", types.CancelTaskRequestParams, self.cancel)
        mcp_server.middleware.append(self.intercept)

    def _owner(self, ctx: Any) -> str:
        return _tasks.dumps(self.served.owner_of(ctx))

    async def intercept(self, ctx: Any, call_next: Any) -> Any:
        """The capability ad in a handshake that settles on a revision with tasks; a
        ``tools/call`` of a task tool with ``params.task``, on such a revision, answers with the
        created task."""
        if ctx.method == "initialize":
            return _advertise_tasks(await call_next(ctx))
        params = ctx.params
        if (
            ctx.method != "tools/call"
            or ctx.request_id is None
            or ctx.protocol_version not in _tasks.REVISIONS
            or not isinstance(params, Mapping)
            or params.get("task") is None
            or params.get("name") not in self.tools
        ):
            return await call_next(ctx)
        try:
            typed = types.CallToolRequestParams.model_validate(params, by_name=False)
        except ValidationError:
            raise MCPError(
                code=types.INVALID_PARAMS, message="Invalid request parameters: params.task"
            ) from None
        role, principal = self.served.role_of(ctx)
        tool = self.served.dispatcher.find_tool(typed.name, role)
        if tool is None:  # not this caller's: the plain path answers as for any call
            return await call_next(ctx)
        ttl = _tasks.granted_ttl(typed.task.ttl if typed.task is not None else None)
        row = await asyncio.to_thread(self.store.create, self._owner(ctx), ttl)
        session = ctx.session
        run = asyncio.get_running_loop().create_task(
            self._run(row["id"], session, tool, typed, role, principal)
        )
        self.runs.start(row["id"], run)
        # ``content`` too: clients that check a tools/call result as CallToolResult accept it.
        return {"task": _tasks.wire(row), "content": []}

    async def _run(
        self,
        task_id: str,
        session: Any,
        tool: toolwire.Tool,
        params: types.CallToolRequestParams,
        role: str | None,
        principal: str | None,
    ) -> None:
        state = {"principal": principal} if principal is not None else None
        try:
            result = await self.served.dispatcher.dispatch(
                tool.name, params.arguments or {}, role=role, state=state
            )
            answer = self.served.answer(tool, result)
            payload = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
            status = "completed" if result.success else "failed"
            message = None if result.success else (result.error.kind if result.error else None)
            ended = await asyncio.to_thread(
                self.store.finish, task_id, status, message, _tasks.dumps(payload)
            )
        except asyncio.CancelledError:
            # A client's tasks/cancel recorded ``cancelled`` first; otherwise this server is
            # stopping, and the task must not read ``working`` (synchronous: the loop may be
            # closing). A task ends once, so the first record stays. A store that is away
            # leaves the lease to run out instead.
            with contextlib.suppress(Exception):
                self.store.finish(task_id, "failed", _tasks.SHUTDOWN)
            raise
        except Exception as exc:  # noqa: BLE001  # the store is away: the lease runs out instead
            _log.warning("toolwire_mcp.task_not_recorded", error=type(exc).__name__)
            return
        if ended:
            self.runs.ended(task_id)
            await self._notify(session, task_id)

    async def _notify(self, session: Any, task_id: str) -> None:
        """``notifications/tasks/status`` on the connection's own channel (stdio, or the HTTP
        session's GET stream), not the request's: the request that made the task has ended."""
        with contextlib.suppress(Exception):  # a store or client gone away: the client polls
            row = await asyncio.to_thread(self.store.get, task_id)
            if row is None:
                return
            await session.send_notification(
                types.TaskStatusNotification(
                    params=types.TaskStatusNotificationParams.model_validate(_tasks.wire(row))
                )
            )

    async def _find(self, ctx: Any, task_id: str) -> dict[str, Any]:
        if ctx.protocol_version not in _tasks.REVISIONS:
            raise MCPError(code=types.METHOD_NOT_FOUND, message="Method not found", data=ctx.method)
        row = (
            await asyncio.to_thread(self.store.read, task_id)
            if _tasks.well_formed(task_id)
            else None
        )
        if row is None or row["owner"] != self._owner(ctx):  # another caller's is not found
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown task: {task_id[:64]!r}")
        return row

    async def get(self, ctx: Any, params: types.GetTaskRequestParams) -> dict[str, Any]:
        return _tasks.wire(await self._find(ctx, params.task_id))

    async def result(self, ctx: Any, params: types.GetTaskPayloadRequestParams) -> dict[str, Any]:
        """The call's result once the task ends (waits for it, as the revision says)."""
        row = await self._find(ctx, params.task_id)
        while row["status"] not in _tasks.TERMINAL:
            await asyncio.sleep(_tasks.POLL_MS / 1000)
            row = await self._find(ctx, params.task_id)
        related = {"io.modelcontextprotocol/related-task": {"taskId": row["id"]}}
        if row["result"] is not None:
            return {**json.loads(row["result"]), "_meta": related}
        text = row["message"] or row["status"]
        return {
            "content": [{"type": "text", "text": f"task {row['status']}: {text}"}],
            "isError": True,
            "_meta": related,
        }

    async def cancel(self, ctx: Any, params: types.CancelTaskRequestParams) -> dict[str, Any]:
        row = await self._find(ctx, params.task_id)
        if row["status"] in _tasks.TERMINAL:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"task {params.task_id[:64]!r} is already {row['status']}",
            )
        ended = await asyncio.to_thread(
            self.store.finish, row["id"], "cancelled", "cancelled by the client"
        )
        self.runs.cancel(row["id"])  # here; another process sees it at its next renewal
        row = await self._find(ctx, params.task_id)
        if ended:
            await self._notify(ctx.session, row["id"])
        return _tasks.wire(row)


def _advertise_tasks(result: Any) -> Any:
    """An ``initialize`` result with ``capabilities.tasks`` when the revision it settles on
    defines tasks (``tasks/cancel`` and task-augmented ``tools/call``)."""
    if isinstance(result, dict) and result.get("protocolVersion") in _tasks.REVISIONS:
        capabilities = result.get("capabilities")
        if isinstance(capabilities, dict):
            capabilities["tasks"] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
    return result
