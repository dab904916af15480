"""The per-call context a tool, a hook or a middleware can see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._policy import ToolPolicy
    from ._tools import Tool


@dataclass(slots=True)
class CallContext:
    """Facts about the call being made, for tools, hooks and middleware.

    A tool parameter annotated ``toolwire.CallContext`` receives it; such a parameter is
    left out of the tool's schema, and a model that tries to set it is refused.

    Attributes:
        call_id: The call's id.
        tool: The resolved tool; ``None`` only when the name matched no enabled tool.
        role: The role the host dispatched under (``None`` when it gave none).
        state: Host-provided values (a principal, a session...); never set by the model.
        policy: The tool's effective policy (code, overridden by config, over defaults).
        attempt: How many times the function has been started for this call.
        arguments: The keyword arguments the function receives (converted, context injected).
    """

    call_id: str
    tool: Tool | None
    role: str | None
    state: Mapping[str, Any] = field(default_factory=dict)
    policy: ToolPolicy | None = None
    attempt: int = 0
    arguments: dict[str, Any] = field(default_factory=dict)
