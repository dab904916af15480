"""toolwire: dispatch the tool calls a language model makes."""

from typing import Any as _Any

from . import hookspecs as hookspecs  # public modules, loaded with the package
from . import middleware as middleware
from . import settings as settings
from . import types as types
from ._approvals._records import Approval, ApprovalError, HeldTurn
from ._config import Config, load_config
from ._content import (
    Audio,
    AudioPart,
    Content,
    File,
    FilePart,
    Image,
    ImagePart,
    LinkPart,
    TextPart,
)
from ._discovery import PluginInfo
from ._dispatcher import Dispatcher
from ._errors import (
    ERROR_KINDS,
    ConfigError,
    Deny,
    PluginError,
    Reject,
    RequireApproval,
    ToolError,
    TransientError,
)
from ._logging import get_logger
from ._policy import ToolPolicy
from ._refusals import RefusalSummary
from ._serialize import to_json
from ._tools import Tool, Toolset, tool
from ._values import CallContext, DispatchResult, ToolCall
from .hookspecs import hookimpl
from .types import CallNext, Middleware

__all__ = [
    "ERROR_KINDS",
    "Approval",
    "ApprovalError",
    "Audio",
    "AudioPart",
    "CallContext",
    "CallNext",
    "Config",
    "ConfigError",
    "Content",
    "Deny",
    "DispatchResult",
    "Dispatcher",
    "File",
    "FilePart",
    "HeldTurn",
    "Image",
    "ImagePart",
    "LinkPart",
    "Middleware",
    "PluginError",
    "PluginInfo",
    "RefusalSummary",
    "Reject",
    "RequireApproval",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolPolicy",
    "Toolset",
    "TransientError",
    "__version__",
    "get_logger",
    "hookimpl",
    "load_config",
    "to_json",
    "tool",
]


def __getattr__(name: str) -> _Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire")
    raise AttributeError(f"module 'toolwire' has no attribute {name!r}")
