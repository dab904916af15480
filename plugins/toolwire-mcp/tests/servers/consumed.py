"""An MCP server (revision 2025-11-25) with task tools and a tool that asks for input, written
with the SDK's lowlevel server: ``consumed.py EVENTS_FILE``.

The SDK defines the task types but dispatches none of their methods, so ``tasks/get``,
``tasks/result`` and ``tasks/cancel`` are request handlers of this server, and a
``tools/call`` that carries ``params.task`` is answered by a middleware with the created task
(as a server following the revision does: no ``content``). It serves only the handshake era,
as servers written before 2026-07-28 do, so clients speak 2025-11-25 with it. Each task event is appended to ``EVENTS_FILE``, one line each
(``created ID``, ``cancel ID``, ``run-cancelled ID``...), for the tests to read.

Tools:

- ``slow_sum(a, b, pause)``, task required: ``a + b`` after ``pause`` seconds.
- ``failing()``, task required: the task ends ``failed`` ("disk full").
- ``optional_sum(a, b)``, task optional: says whether it ran as a task.
- ``ask_name()``: asks for ``{"name": string}`` (``elicitation/create``) and says what came back.
- ``shifty_sum(a, b)``, task required: as ``slow_sum`` after 0.3 s, but every ``tasks/get``
  of it answers with another task's id (``task-999``); each such read is noted
  (``get ID``).
- ``late_result()``, task required: completes at once, but ``tasks/result`` of it never
  answers.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.runner import _serve_legacy_stream
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

EVENTS = sys.argv[1]
POLL_MS = 100
_ids = itertools.count(1)
tasks: dict[str, dict[str, Any]] = {}
runs: dict[str, asyncio.Task[None]] = {}


def note(line: str) -> None:
    with open(EVENTS, "a") as events:
        events.write(line + "\n")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _schema(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


TOOLS = [
    types.Tool(
        name="slow_sum",
        description="Add two numbers after a pause.",
        input_schema=_schema(
            a={"type": "integer"}, b={"type": "integer"}, pause={"type": "number"}
        ),
        execution=types.ToolExecution(task_support="required"),
    ),
    types.Tool(
        name="failing",
        description="A task that fails.",
        input_schema={"type": "object", "properties": {}},
        execution=types.ToolExecution(task_support="required"),
    ),
    types.Tool(
        name="optional_sum",
        description="Add two numbers, as a task or not.",
        input_schema=_schema(a={"type": "integer"}, b={"type": "integer"}),
        execution=types.ToolExecution(task_support="optional"),
    ),
    types.Tool(
        name="shifty_sum",
        description="Add two numbers, naming another task when asked about this one.",
        input_schema=_schema(a={"type": "integer"}, b={"type": "integer"}),
        execution=types.ToolExecution(task_support="required"),
    ),
    types.Tool(
        name="late_result",
        description="A task whose result never comes.",
        input_schema={"type": "object", "properties": {}},
        execution=types.ToolExecution(task_support="required"),
    ),
    types.Tool(
        name="ask_name",
        description="Ask the person for their name.",
        input_schema={"type": "object", "properties": {}},
    ),
]


def _text(text: str, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": error}


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    arguments = params.arguments or {}
    if params.name == "optional_sum":
        return types.CallToolResult(
            content=[types.TextContent(text=f"plain {arguments['a'] + arguments['b']}")]
        )
    if params.name == "ask_name":
        schema = _schema(name={"type": "string", "minLength": 1})
        answer = await ctx.session.elicit_form(
            "What is your name?", schema, related_request_id=ctx.request_id
        )
        if answer.action == "accept":
            return types.CallToolResult(
                content=[types.TextContent(text=f"hello {answer.content['name']}")]
            )
        return types.CallToolResult(content=[types.TextContent(text=answer.action)])
    raise MCPError(code=types.INVALID_PARAMS, message=f"{params.name} must be called as a task")


def _wire(task_id: str) -> dict[str, Any]:
    task = tasks[task_id]
    wire = {
        "taskId": task_id,
        "status": task["status"],
        "createdAt": task["created"],
        "lastUpdatedAt": task["updated"],
        "ttl": 60_000,
        "pollInterval": POLL_MS,
    }
    if task.get("shifty"):
        wire["taskId"] = "task-999"
    if task.get("message"):
        wire["statusMessage"] = task["message"]
    return wire


def _finish(task_id: str, status: str, message: str | None, result: dict[str, Any] | None) -> None:
    task = tasks[task_id]
    if task["status"] in ("completed", "failed", "cancelled"):
        return
    task.update(status=status, message=message, result=result, updated=_now())


async def _run(task_id: str, name: str, arguments: Mapping[str, Any]) -> None:
    try:
        if name in ("slow_sum", "shifty_sum"):
            await asyncio.sleep(float(arguments.get("pause", 0.3)))
            _finish(task_id, "completed", None, _text(str(arguments["a"] + arguments["b"])))
        elif name == "late_result":
            _finish(task_id, "completed", None, _text("too late"))
            tasks[task_id]["late"] = True
        elif name == "failing":
            await asyncio.sleep(0.05)
            _finish(task_id, "failed", "disk full", _text("could not write: disk full", True))
        else:
            _finish(task_id, "completed", None, _text(f"task {arguments['a'] + arguments['b']}"))
        note(f"{tasks[task_id]['status']} {task_id}")
    except asyncio.CancelledError:
        note(f"run-cancelled {task_id}")
        raise


async def intercept(ctx: Any, call_next: Any) -> Any:
    params = ctx.params
    if (
        ctx.method != "tools/call"
        or not isinstance(params, Mapping)
        or not isinstance(params.get("task"), Mapping)
    ):
        return await call_next(ctx)
    task_id = f"task-{next(_ids)}"
    tasks[task_id] = {"status": "working", "created": _now(), "updated": _now()}
    created = _wire(task_id)  # the create answer names the task itself
    tasks[task_id]["shifty"] = params["name"] == "shifty_sum"
    runs[task_id] = asyncio.get_running_loop().create_task(
        _run(task_id, params["name"], params.get("arguments") or {})
    )
    note(f"created {task_id} {params['name']}")
    return {"task": created}


def _known(task_id: str) -> None:
    if task_id not in tasks:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown task: {task_id!r}")


async def get_task(ctx: Any, params: types.GetTaskRequestParams) -> dict[str, Any]:
    _known(params.task_id)
    if tasks[params.task_id].get("shifty"):
        note(f"get {params.task_id}")
    return _wire(params.task_id)


async def task_result(ctx: Any, params: types.GetTaskPayloadRequestParams) -> dict[str, Any]:
    _known(params.task_id)
    if tasks[params.task_id].get("late"):
        await anyio.sleep_forever()
    while tasks[params.task_id]["status"] == "working":
        await anyio.sleep(POLL_MS / 1000)
    task = tasks[params.task_id]
    note(f"result {params.task_id}")
    return task["result"] or _text(f"task {task['status']}", True)


async def cancel_task(ctx: Any, params: types.CancelTaskRequestParams) -> dict[str, Any]:
    _known(params.task_id)
    note(f"cancel {params.task_id}")
    if tasks[params.task_id]["status"] != "working":
        raise MCPError(code=types.INVALID_PARAMS, message="the task has ended")
    _finish(params.task_id, "cancelled", "cancelled by the client", None)
    runs[params.task_id].cancel()
    return _wire(params.task_id)


server: Server[Any] = Server("consumed", on_list_tools=list_tools, on_call_tool=call_tool)
server.add_request_handler("tasks/get", types.GetTaskRequestParams, get_task)
server.add_request_handler("tasks/result", types.GetTaskPayloadRequestParams, task_result)
server.add_request_handler("tasks/cancel", types.CancelTaskRequestParams, cancel_task)
server.middleware.append(intercept)


async def main() -> None:
    options = server.create_initialization_options()
    options.capabilities.tasks = types.ServerTasksCapability(
        cancel=types.TasksCancelCapability(),
        requests=types.ServerTasksRequestsCapability(
            tools=types.TasksToolsCapability(call=types.TasksCallCapability())
        ),
    )
    async with stdio_server() as (read, write), server.lifespan(server) as state:
        # The SDK's handshake-era loop alone (``Server.run`` serves both eras): a server of
        # before 2026-07-28, which answers ``server/discover`` with "method not found".
        await _serve_legacy_stream(
            server,
            read,
            write,
            lifespan_state=state,
            session_id=None,
            init_options=options,
            raise_exceptions=False,
        )


anyio.run(main)
