"""A loaded server's tool called as an MCP task (revision 2025-11-25), followed to its end.

``tools/call`` with ``params.task`` answers with a created task; ``tasks/get`` is polled (at the
server's ``pollInterval``, kept within ``POLL_MIN``..``POLL_MAX``) until the task ends or asks for
input; ``tasks/result`` then gives the call's result (a server delivers the requests for input
of an ``input_required`` task while that request is open). The caller holds the deadline; when
it cancels, ``cancel`` sends ``tasks/cancel`` and waits for the answer at most ``CANCEL_WAIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Annotated, Any, Final

import mcp_types as types
import toolwire
from mcp import Client
from pydantic import Field, TypeAdapter

#: Seconds between two ``tasks/get``, whatever the server's ``pollInterval`` says.
POLL_MIN: Final = 0.05
POLL_MAX: Final = 5.0
#: When the server suggests no interval.
POLL_DEFAULT: Final = 0.5
#: Seconds a ``tasks/cancel`` may take before the call ends without its answer.
CANCEL_WAIT: Final = 5.0
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})

_Created = TypeAdapter(
    Annotated[types.CreateTaskResult | types.CallToolResult, Field(union_mode="left_to_right")]
)


class Followed:
    """One task-augmented call: the task's id once the server created it, its last status."""

    def __init__(self, server: str, tool: str) -> None:
        self.server = server
        self.tool = tool
        self.task_id: str | None = None
        self.status: str | None = None


async def call_as_task(
    client: Client,
    followed: Followed,
    arguments: dict[str, Any],
    ttl_ms: int,
    created: Callable[[str], None],
) -> types.CallToolResult:
    """Call ``followed.tool`` as a task and follow it; the call's result.

    A server that answers with a plain result (it ran the call at once) is taken at its word.

    Raises:
        toolwire.ToolError: ``execution_error`` when the task ends ``failed`` or ``cancelled``
            (``details``: ``task_id``, ``status``).
    """
    params = {"name": followed.tool, "arguments": arguments, "task": {"ttl": ttl_ms}}
    answer = _Created.validate_python(await _raw_request(client, "tools/call", params))
    if isinstance(answer, types.CallToolResult):
        return answer
    task: types.Task = answer.task
    task_id = task.task_id  # the task created; a later answer naming another is not followed
    followed.task_id, followed.status = task_id, task.status
    created(task_id)
    while task.status not in TERMINAL and task.status != "input_required":
        await asyncio.sleep(_interval(task.poll_interval))
        task = await client.session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)),
            types.GetTaskResult,
        )
        followed.status = task.status
    if task.status == "cancelled":
        raise _ended(followed, task, None)
    result = await client.session.send_request(
        types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
        types.CallToolResult,
    )
    if task.status not in TERMINAL:  # it asked for input: the result came once it ended
        task = await client.session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)),
            types.GetTaskResult,
        )
        followed.status = task.status
    if task.status in ("failed", "cancelled"):
        raise _ended(followed, task, result)
    return result


async def cancel(client: Client, followed: Followed) -> bool:
    """Send ``tasks/cancel`` for a task still under way; wait at most ``CANCEL_WAIT``.
    Whether it was sent (a task that had ended, or none yet, is not cancelled).

    Runs while the caller is being cancelled: the request is shielded, and whatever the
    server answers (a task already ended is refused) the call goes on ending.
    """
    if followed.task_id is None or followed.status in TERMINAL:
        return False
    request = client.session.send_request(
        types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=followed.task_id)),
        types.CancelTaskResult,
    )
    sending = asyncio.ensure_future(request)
    try:
        async with asyncio.timeout(CANCEL_WAIT):
            await asyncio.shield(sending)
        followed.status = "cancelled"
    except BaseException:  # noqa: BLE001 - ending the call matters more than the answer
        sending.cancel()
        with contextlib.suppress(BaseException):
            await sending
    return True


def _interval(poll_ms: int | None) -> float:
    seconds = POLL_DEFAULT if poll_ms is None else poll_ms / 1000
    return min(max(seconds, POLL_MIN), POLL_MAX)


def _ended(
    followed: Followed, task: types.Task, result: types.CallToolResult | None
) -> toolwire.ToolError:
    said = task.status_message or ""
    if result is not None:
        texts = [b.text for b in result.content if isinstance(b, types.TextContent)]
        said = "; ".join(t for t in (said, "\n".join(texts).strip()) if t)
    verb = "failed" if task.status == "failed" else "was cancelled on the server"
    return toolwire.ToolError(
        f"the MCP server {followed.server!r} ran {followed.tool!r} as a task, which {verb}"
        + (f": {said[:500]}" if said else ""),
        kind="execution_error",
        details={"task_id": followed.task_id, "status": task.status},
    )


async def _raw_request(client: Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A request whose answer is checked here, not by the SDK.

    The SDK's ``send_request`` checks every 2025-11-25 ``tools/call`` answer as a
    ``CallToolResult``, which requires ``content``: a ``CreateTaskResult`` (which has none)
    would be refused. The session's dispatcher sends the request as it is; the answer is
    validated by the caller.
    """
    dispatcher = getattr(client.session, "_dispatcher", None)
    send = getattr(dispatcher, "send_raw_request", None)
    if send is None:  # another SDK layout: the SDK's own check, and its answer
        answer = await client.session.send_request(
            types.CallToolRequest(params=types.CallToolRequestParams.model_validate(params)),
            types.CreateTaskResult,
        )
        return answer.model_dump(by_alias=True, mode="json", exclude_none=True)
    raw = await send(method, params, {})
    if not isinstance(raw, dict):
        raise toolwire.ToolError(
            f"the MCP server answered {method} with {type(raw).__name__}, not an object",
            kind="execution_error",
        )
    return raw
