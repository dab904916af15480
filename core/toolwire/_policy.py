"""Per-tool execution policy: what code declares, config overrides and defaults fill in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Final

#: Built-in defaults, used where neither the tool nor config says otherwise.
BUILTIN_DEFAULTS: Final[Mapping[str, Any]] = {
    "timeout": None,
    "retries": 0,
    "max_concurrency": None,
    "max_output_chars": 100_000,
    "max_part_bytes": 5 * 1024 * 1024,
}

_NO_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """How a tool may be called and run.

    ``None`` means "not set here": the next source (config, then ``[defaults]``) decides.

    Attributes:
        roles: Roles allowed to call the tool; ``None`` lets every role call it.
        enabled: ``False`` hides the tool: calls to it get ``unknown_tool``.
        timeout: Seconds before the call ends with ``timeout``.
        retries: Extra attempts for transient failures.
        retry_on: Exception types worth a retry (default: ``TimeoutError``, ``ConnectionError``,
            ``toolwire.TransientError``).
        max_concurrency: How many calls of this tool may run at once.
        sequential: Calls of this tool in one batch run one at a time, in call order.
        max_output_chars: Longer results are cut to their head and tail with a marker.
        max_part_bytes: The largest image, file or audio part a result may hold, in bytes.
        read_only: The tool does not change its environment (MCP's ``readOnlyHint``).
        destructive: The tool may destroy or overwrite data (MCP's ``destructiveHint``).
        idempotent: Calling it twice with the same arguments has no further effect
            (MCP's ``idempotentHint``).
        open_world: The tool reaches an open world, such as the web (MCP's ``openWorldHint``).
        approval: A person must approve each call before it runs. In an effective policy
            (``dispatcher.policy(name)``) this is the answer for the tool, ``[defaults]
            approval`` included.
        executor: The name of the executor its function runs on (``thread``, ``process``, or
            one a plugin registers); ``None`` runs it in this process: ``async def`` on the
            event loop, plain functions on the dispatcher's threads.
        defer_loading: The tool is callable, but its full definition is left out of the
            initial ``tools`` list: the model finds it by searching (``docs/many-tools.md``).
        task: A long-running tool: served over MCP, a call from a client that supports tasks
            answers at once with a task the client polls (``docs/long-calls.md``); other
            callers get a plain call.
        allowed_callers: Who may call it: ``"direct"`` (the model itself) and ``"program"``
            (code the model runs, through a provider's programmatic tool calling); ``None``
            means ``("direct",)``. A call from a caller not listed is ``permission_denied``
            (``docs/programmatic-calls.md``).
        options: Plugins' own options, by name (``rate_limit`` for the rate-limit plugin):
            each must be claimed by a loaded plugin through ``toolwire_register_tool_options``,
            or the dispatcher refuses to start.
    """

    roles: frozenset[str] | None = None
    enabled: bool | None = None
    timeout: float | None = None
    retries: int | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    max_concurrency: int | None = None
    sequential: bool | None = None
    max_output_chars: int | None = None
    max_part_bytes: int | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None
    approval: bool | None = None
    executor: str | None = None
    defer_loading: bool | None = None
    task: bool | None = None
    allowed_callers: tuple[str, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: _NO_OPTIONS)

    def overridden_by(self, other: ToolPolicy) -> ToolPolicy:
        """This policy with every field ``other`` sets replacing ours; options merge by name."""
        if other == _EMPTY:
            return self
        changes: dict[str, Any] = {
            name: v for name in CORE_FIELDS if (v := getattr(other, name)) is not None
        }
        if other.options:
            changes["options"] = MappingProxyType({**self.options, **other.options})
        return replace(self, **changes) if changes else self

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ToolPolicy:
        """Build a policy from config keys (``[tools.NAME]`` or ``[defaults]``).

        Keys that are not core fields become plugin ``options``; whether a loaded plugin
        claims them is checked when the dispatcher starts.
        """
        if not values:
            return _EMPTY
        kwargs: dict[str, Any] = {k: v for k, v in values.items() if k in CORE_FIELDS}
        if kwargs.get("roles") is not None:
            kwargs["roles"] = frozenset(kwargs["roles"])
        if kwargs.get("allowed_callers") is not None:
            kwargs["allowed_callers"] = tuple(kwargs["allowed_callers"])
        options = {k: v for k, v in values.items() if k not in CORE_FIELDS}
        if options:
            kwargs["options"] = MappingProxyType(options)
        return cls(**kwargs)

    def annotations(self) -> dict[str, bool]:
        """The behaviour hints that are set, under their field names (``read_only``...)."""
        return {name: v for name in ANNOTATIONS if (v := getattr(self, name)) is not None}


#: The fields toolwire itself enforces; every other key of a policy is a plugin's option.
CORE_FIELDS: Final = tuple(f.name for f in fields(ToolPolicy) if f.name != "options")
#: The behaviour hints, as MCP's tool annotations carry them.
ANNOTATIONS: Final = ("read_only", "destructive", "idempotent", "open_world")
_EMPTY: Final = ToolPolicy()
#: Who may call a tool: the model itself, or code the model runs. Every call carries its caller
#: (``ToolCall.caller``), checked against the tool's list before any permission hook.
CALLERS: Final = ("direct", "program")
#: Who may call a tool that does not say.
DEFAULT_CALLERS: Final = ("direct",)
