"""toolwire: dispatch the tool calls a language model makes."""

from __future__ import annotations

from typing import Any

from ._config import Config, load_config
from ._content import Content, ImagePart, TextPart
from ._context import CallContext
from ._dispatcher import Dispatcher
from ._errors import ERROR_KINDS, ConfigError, Deny, PluginError, Reject, ToolError, TransientError
from ._plugins import PluginInfo
from ._policy import ToolPolicy
from ._results import DispatchResult, ToolCall
from ._tools import Tool, Toolset, tool
from .hookspecs import hookimpl
from .types import CallNext, Middleware

__all__ = [
    "ERROR_KINDS",
    "CallContext",
    "CallNext",
    "Config",
    "ConfigError",
    "Content",
    "Deny",
    "DispatchResult",
    "Dispatcher",
    "ImagePart",
    "Middleware",
    "PluginError",
    "PluginInfo",
    "Reject",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolPolicy",
    "Toolset",
    "TransientError",
    "__version__",
    "hookimpl",
    "load_config",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire")
    raise AttributeError(f"module 'toolwire' has no attribute {name!r}")
