"""Plugins that ship with toolwire; registered by name, so each can be disabled like any other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .calllog import CallLog
from .executors import BuiltinExecutors
from .policy import ExecutionPolicy
from .providers import BuiltinProviders
from .roles import RolePermissions

#: name -> factory; a fresh instance per dispatcher keeps every dispatcher's state its own.
BUILTIN_PLUGINS: Final[dict[str, Callable[[], Any]]] = {
    "roles": RolePermissions,
    "calllog": CallLog,
    "policy": ExecutionPolicy,
    "providers": BuiltinProviders,
    "executors": BuiltinExecutors,
}
