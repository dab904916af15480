"""Role permissions: ``roles=`` in code and ``[tools.NAME] roles`` in config."""

from __future__ import annotations

from .._errors import Deny
from .._values import CallContext, ToolCall
from ..hookspecs import hookimpl


class RolePermissions:
    """Allows a tool's declared roles, denies the others; abstains for tools without roles."""

    @hookimpl
    def toolwire_check_permission(self, call: ToolCall, context: CallContext) -> bool | Deny | None:
        roles = context.policy.roles if context.policy is not None else None
        if roles is None:
            return None
        if context.role in roles:
            return True
        return Deny(f"this role may not call {call.name}")
