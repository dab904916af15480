"""Role permissions: ``roles=`` in code and ``[tools.NAME] roles`` in config."""

from __future__ import annotations

from typing import Any

from .._errors import Deny
from .._hookwalk import idle_when
from .._values import CallContext, ToolCall
from ..hookspecs import hookimpl


def _no_roles(plugin: Any, policy: Any) -> bool:
    return policy.roles is None


class RolePermissions:
    """Allows a tool's declared roles, denies the others; abstains for tools without roles
    (their calls, known at start, do not walk this vote at all)."""

    @hookimpl
    @idle_when(_no_roles)
    def toolwire_check_permission(self, call: ToolCall, context: CallContext) -> bool | Deny | None:
        roles = context.policy.roles if context.policy is not None else None
        if roles is None:
            return None
        if isinstance(context.role, str) and context.role in roles:
            return True
        return Deny(f"this role may not call {call.name}")
