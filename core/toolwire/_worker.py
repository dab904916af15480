"""The worker's side of a remote executor: ``Dispatcher.execute`` runs one call's function that
a host handed over, in this process, on the tool as this process has it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._arguments import parse_arguments
from ._content import as_content
from ._errors import ToolError
from ._serialize import to_json
from ._values import CallContext, ProgressCallback

if TYPE_CHECKING:
    from ._plan import Plan
    from ._threads import ThreadRunner


async def run_here(
    plan: Plan,
    threads: ThreadRunner,
    name: str,
    arguments: Any,
    *,
    executor: str,
    call_id: str,
    role: str | None,
    attempt: int,
    progress: ProgressCallback | None = None,
) -> str:
    """Run the function of one call that a host handed to ``executor``, in this process.

    The worker's side of a remote executor: the arguments are parsed and validated again
    against the tool as this process has it; only the function runs (hooks and middleware ran
    in the host), then its result is serialized.

    Raises:
        ToolError: ``executor_unavailable`` (not retryable) for a tool this process does not
            have bound to ``executor``; ``invalid_arguments``; ``output_error``; or the tool's
            own ``ToolError``.
        Exception: whatever else the tool raised, unchanged.
    """
    route = plan.routes.get(name) if isinstance(name, str) else None
    if route is None or route.policy.executor != executor:
        raise ToolError(
            f"this worker does not run {str(name)[:64]!r} on executor {executor!r}; "
            "its config or packs differ from the host's",
            kind="executor_unavailable",
            retryable=False,
        )
    limits = plan.limits
    parsed = parse_arguments(arguments, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    validated = route.validator.validate(parsed)
    context = CallContext(
        call_id, route.tool, role, {}, route.policy, attempt, progress=progress, plugin=route.plugin
    )
    kwargs = route.validator.keyword_arguments(validated, context)
    context.arguments = kwargs
    function = route.tool.function
    if route.tool.is_async:
        value = await function(**kwargs)
    else:
        value = await threads.run(function, kwargs)
    content = as_content(value)
    if content is not None:
        value = str(content)  # parts do not travel as JSON: the text, each part described
    return to_json(value)


class WorkerEntryPoint:
    """``Dispatcher.execute``: the entry point of a remote executor's workers."""

    _threads: ThreadRunner

    _ready: Callable[[], Plan]  # the dispatcher's

    async def execute(
        self,
        name: str,
        arguments: Any,
        *,
        executor: str,
        call_id: str = "",
        role: str | None = None,
        attempt: int = 1,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Run only the function of a call a host handed to executor ``executor``.

        For the workers of a remote executor, which load the same config and packs as the
        host: the tool must be bound to ``executor`` here too; its arguments (a JSON object
        or its text) are validated again; no hook or middleware runs (they ran in the host).
        ``progress`` receives the tool's ``CallContext.report_progress``, for the worker to
        carry back to the host.

        Returns:
            The function's result, serialized as the JSON text the host decodes.

        Raises:
            ToolError: ``executor_unavailable`` (not retryable) when this dispatcher does not
                run that tool on ``executor``; ``invalid_arguments``; ``output_error``; or the
                tool's own ``ToolError``.
            Exception: whatever else the tool raised.
        """
        return await run_here(
            self._ready(),
            self._threads,
            name,
            arguments,
            executor=executor,
            call_id=call_id,
            role=role,
            attempt=attempt,
            progress=progress,
        )
