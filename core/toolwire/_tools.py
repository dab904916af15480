"""Tools and tool packs: ``Tool``, ``Toolset`` and the ``@tool`` decorator."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, overload

from ._errors import ConfigError
from ._policy import CALLERS, ToolPolicy
from ._schema import (
    InferredSignature,
    callable_name,
    check_tool_name,
    describe,
    given_output_schema,
    is_async_callable,
    output_of,
)

_INFER: Any = object()  # output_schema not given: inferred from the return annotation
_NO_POLICY: Final = ToolPolicy()

ToolFunction = Callable[..., Any]


class Tool:
    """A function a model can call, with its name, description, schema and policy.

    Build one with ``@toolwire.tool`` or ``@pack.tool``; the schema is inferred from the type
    hints unless ``schema=`` is given, and checked against the JSON Schema metaschema. A
    ``functools.partial``, a bound method or a callable instance is described by the function
    it wraps (its name, docstring and type hints).

    Attributes:
        name: The name the model calls it by.
        description: What the model is told the tool does.
        parameters: The JSON Schema of its arguments (an object schema).
        output_schema: The JSON Schema of its result, from the return annotation or
            ``output_schema=``; ``None`` when it has none (see ``docs/results.md``).
        function: The Python callable.
        policy: What the code declared (timeouts, roles...); config may override it.
        pack: The name of the ``Toolset`` it belongs to, if any.
        pack_description: That ``Toolset``'s description (what tool search also reads).
        dicts_as_json: Whether a ``dict`` result is known to be sent as its JSON as it is
            (no output schema, or one that any object matches, with nothing to re-shape):
            ``False`` until ``output_schema`` or ``result_json`` learnt it.
    """

    __slots__ = (
        "_output_adapter",
        "_output_check",
        "_output_schema",
        "context_param",
        "converters",
        "description",
        "dicts_as_json",
        "function",
        "is_async",
        "name",
        "pack",
        "pack_description",
        "parameters",
        "policy",
        "signature",
    )

    def __init__(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: Mapping[str, Any] | None = None,
        policy: ToolPolicy | None = None,
        pack: str | None = None,
        output_schema: Mapping[str, Any] | bool | None = None,
    ) -> None:
        if not callable(function):
            raise ConfigError(f"a tool must be callable, got {type(function).__name__}")
        tool_name = name if name is not None else callable_name(function)
        check_tool_name(tool_name)
        inferred = describe(function, tool_name, schema, description)
        self.name: str = tool_name
        self.description: str = (
            description if description is not None else inferred.description
        ) or ""
        self.parameters: dict[str, Any] = inferred.parameters
        self.function: ToolFunction = function
        self.is_async: bool = is_async_callable(function)
        self.policy: ToolPolicy = policy or _NO_POLICY
        self.pack: str | None = pack
        self.pack_description: str = ""
        self.context_param: str | None = inferred.context_param
        self.converters: Mapping[str, Callable[[Any], Any]] = inferred.converters
        self.signature: InferredSignature = inferred
        self._output_adapter: Any = None
        self._output_check: Any = None
        self.dicts_as_json: bool = output_schema is False
        if output_schema is None or output_schema is True:
            self._output_schema: dict[str, Any] | None = _INFER
        elif output_schema is False:
            self._output_schema = None
        else:
            self._output_schema = given_output_schema(tool_name, output_schema)

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the tool's result, or ``None``; inferred once, when first read."""
        schema = self._output_schema
        if schema is _INFER:
            found = output_of(self.function)
            schema = self._output_schema = None if found is None else found[1]
            self._output_adapter = None if found is None else found[0]
            self.dicts_as_json = schema is None
        return schema

    def result_json(self, value: Any) -> str:
        """``value`` as JSON, the way the dispatcher sends this tool's result.

        With an output schema: written in the schema's shape (the return annotation's fields
        by alias) and checked against it; otherwise ``toolwire.to_json(value)``.

        Raises:
            ToolError: ``output_error`` for a value JSON cannot carry, or one that does not
                match the output schema (each problem's path and what the schema expects).
        """
        check = self._output_check
        if check is None:
            schema = self.output_schema
            if schema is None:
                from ._serialize import to_json

                return to_json(value)
            from ._output import OutputCheck

            check = self._output_check = OutputCheck(self.name, schema, self._output_adapter)
            self.dicts_as_json = check.passes_dicts
        return check.to_json(value)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<toolwire.Tool {self.name!r} pack={self.pack!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as plain Python (no validation, no hooks)."""
        return self.function(*args, **kwargs)


def _policy_from(
    *,
    roles: Iterable[str] | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    retry_on: Iterable[type[BaseException]] | None = None,
    max_concurrency: int | None = None,
    sequential: bool | None = None,
    max_output_chars: int | None = None,
    max_part_bytes: int | None = None,
    enabled: bool | None = None,
    read_only: bool | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
    approval: bool | None = None,
    executor: str | None = None,
    defer_loading: bool | None = None,
    task: bool | None = None,
    allowed_callers: Iterable[str] | None = None,
    **plugin_options: Any,
) -> ToolPolicy:
    if timeout is not None and not (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and 0 < timeout < math.inf
    ):
        raise ConfigError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    for flag, given in (("enabled", enabled), ("sequential", sequential)):
        if given is not None and not isinstance(given, bool):
            raise ConfigError(f"{flag} must be True or False, got {given!r}")
    if retry_on is not None:
        if isinstance(retry_on, type):
            retry_on = (retry_on,)  # type: ignore[assignment]  # one class, as a tuple of one
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in retry_on):
            raise ConfigError(f"retry_on takes exception classes, got {retry_on!r}")
    for field, count, least in (
        ("retries", retries, 0),
        ("max_concurrency", max_concurrency, 1),
        ("max_output_chars", max_output_chars, 1),
        ("max_part_bytes", max_part_bytes, 1),
    ):
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < least
        ):
            raise ConfigError(f"{field} must be a whole number, {least} or more, got {count!r}")
    if isinstance(roles, str):
        raise ConfigError(f"roles must be a list of role names, got the string {roles!r}")
    if executor is not None and (not isinstance(executor, str) or not executor):
        raise ConfigError(f"executor must be an executor's name, got {executor!r}")
    hints = {
        "read_only": read_only,
        "destructive": destructive,
        "idempotent": idempotent,
        "open_world": open_world,
    }
    callers = _callers(allowed_callers)
    for hint, value in {
        **hints,
        "approval": approval,
        "defer_loading": defer_loading,
        "task": task,
    }.items():
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{hint} must be True or False, got {value!r}")
    policy = ToolPolicy(
        roles=frozenset(roles) if roles is not None else None,
        enabled=enabled,
        timeout=timeout,
        retries=retries,
        retry_on=tuple(retry_on) if retry_on is not None else None,
        max_concurrency=max_concurrency,
        sequential=sequential,
        max_output_chars=max_output_chars,
        max_part_bytes=max_part_bytes,
        **hints,
        approval=approval,
        executor=executor,
        defer_loading=defer_loading,
        task=task,
        allowed_callers=callers,
        options=MappingProxyType(plugin_options) if plugin_options else _NO_POLICY.options,
    )
    return _NO_POLICY if policy == _NO_POLICY else policy  # frozen: one for all that set nothing


def _callers(given: Iterable[str] | None) -> tuple[str, ...] | None:
    """``allowed_callers`` checked: a non-empty list of ``"direct"`` and ``"program"``."""
    if given is None:
        return None
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise ConfigError(
            f"allowed_callers must be a list of callers ({', '.join(CALLERS)}), got {given!r}"
        )
    callers = tuple(dict.fromkeys(given))
    wrong = [c for c in callers if c not in CALLERS]
    if wrong or not callers:
        raise ConfigError(
            f"allowed_callers takes {' and '.join(map(repr, CALLERS))} (at least one), "
            f"got {list(given)!r}"
        )
    return callers


class _ToolOptions:
    """The keyword options ``@tool(...)`` and ``@pack.tool(...)`` accept, gathered once."""

    def __init__(self, **options: Any) -> None:
        self.name: str | None = options.pop("name", None)
        self.description: str | None = options.pop("description", None)
        self.schema: Mapping[str, Any] | None = options.pop("schema", None)
        self.output_schema: Mapping[str, Any] | bool | None = options.pop("output_schema", None)
        self.policy = _policy_from(**options)

    def build(self, function: ToolFunction, pack: str | None) -> Tool:
        return Tool(
            function,
            name=self.name,
            description=self.description,
            schema=self.schema,
            policy=self.policy,
            pack=pack,
            output_schema=self.output_schema,
        )


@overload
def tool(function: ToolFunction, /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    schema: Mapping[str, Any] | None = None,
    roles: Iterable[str] | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    retry_on: Iterable[type[BaseException]] | None = None,
    max_concurrency: int | None = None,
    sequential: bool | None = None,
    max_output_chars: int | None = None,
    max_part_bytes: int | None = None,
    enabled: bool | None = None,
    read_only: bool | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
    approval: bool | None = None,
    executor: str | None = None,
    defer_loading: bool | None = None,
    task: bool | None = None,
    allowed_callers: Iterable[str] | None = None,
    **plugin_options: Any,
) -> Callable[[ToolFunction], Tool]: ...
def tool(
    function: ToolFunction | None = None, /, **options: Any
) -> Tool | Callable[[ToolFunction], Tool]:
    """Make a lone ``Tool`` from a function: ``@toolwire.tool`` or ``@toolwire.tool(name=...)``."""
    opts = _ToolOptions(**options)
    if function is not None:
        return opts.build(function, None)
    return lambda fn: opts.build(fn, None)


class Toolset:
    """A named pack of tools, the unit a plugin publishes.

    Args:
        name: The pack's name (shown in listings and errors).
        description: What the pack is for.
    """

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._tools: dict[str, Tool] = {}

    @overload
    def tool(self, function: ToolFunction, /) -> Tool: ...
    @overload
    def tool(
        self,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | bool | None = None,
        roles: Iterable[str] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        retry_on: Iterable[type[BaseException]] | None = None,
        max_concurrency: int | None = None,
        sequential: bool | None = None,
        max_output_chars: int | None = None,
        max_part_bytes: int | None = None,
        enabled: bool | None = None,
        read_only: bool | None = None,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        approval: bool | None = None,
        executor: str | None = None,
        defer_loading: bool | None = None,
        task: bool | None = None,
        allowed_callers: Iterable[str] | None = None,
        **plugin_options: Any,
    ) -> Callable[[ToolFunction], Tool]: ...
    def tool(
        self, function: ToolFunction | None = None, /, **options: Any
    ) -> Tool | Callable[[ToolFunction], Tool]:
        """Add a function to the pack: ``@pack.tool`` or ``@pack.tool(timeout=5, roles=["admin"])``."""
        opts = _ToolOptions(**options)
        if function is not None:
            return self.add(opts.build(function, self.name))
        return lambda fn: self.add(opts.build(fn, self.name))

    def add(self, new: Tool) -> Tool:
        """Add an existing ``Tool`` to the pack."""
        if new.name in self._tools:
            raise ConfigError(f"toolset {self.name!r} already has a tool named {new.name!r}")
        if new.pack is None:
            new.pack = self.name
        if new.pack == self.name and not new.pack_description:
            new.pack_description = self.description
        self._tools[new.name] = new
        return new

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __repr__(self) -> str:
        return f"<toolwire.Toolset {self.name!r} tools={list(self._tools)}>"
