"""Per-tool execution policy: what code declares, config overrides and defaults fill in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

#: Built-in defaults, used where neither the tool nor config says otherwise.
BUILTIN_DEFAULTS: Final[Mapping[str, Any]] = {
    "timeout": None,
    "retries": 0,
    "max_concurrency": None,
    "max_output_chars": 100_000,
}


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
        rate_limit: A ``limits`` string such as ``"10/minute"``, enforced by the rate-limit plugin.
        max_concurrency: How many calls of this tool may run at once.
        sequential: Calls of this tool in one batch run one at a time, in call order.
        max_output_chars: Longer results are cut to their head and tail with a marker.
    """

    roles: frozenset[str] | None = None
    enabled: bool | None = None
    timeout: float | None = None
    retries: int | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    rate_limit: str | None = None
    max_concurrency: int | None = None
    sequential: bool | None = None
    max_output_chars: int | None = None

    def overridden_by(self, other: ToolPolicy) -> ToolPolicy:
        """This policy with every field ``other`` sets replacing ours."""
        if other == _EMPTY:
            return self
        changes = {name: v for name in _FIELDS if (v := getattr(other, name)) is not None}
        return replace(self, **changes) if changes else self

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ToolPolicy:
        """Build a policy from config keys (``[tools.NAME]`` or ``[defaults]``); others are ignored."""
        if not values:
            return _EMPTY
        kwargs = {k: v for k, v in values.items() if k in _FIELDS}
        if kwargs.get("roles") is not None:
            kwargs["roles"] = frozenset(kwargs["roles"])
        return cls(**kwargs)


_FIELDS: Final = tuple(f.name for f in fields(ToolPolicy))
_EMPTY: Final = ToolPolicy()
