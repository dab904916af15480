"""toolwire: dispatch the tool calls a language model makes.

``Dispatcher``, ``RefusalSummary`` and the ``middleware`` module are loaded on first use: a
tool pack that only defines its tools (``import toolwire``, ``Toolset``, ``hookimpl``) never
pays for the event loop machinery a dispatcher needs.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import hookspecs as hookspecs  # public modules, loaded with the package
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
from ._serialize import to_json
from ._tools import Tool, Toolset, tool
from ._values import CallContext, DispatchResult, ToolCall
from .hookspecs import hookimpl
from .types import CallNext, Middleware

if _TYPE_CHECKING:
    from . import middleware as middleware
    from ._dispatcher import Dispatcher
    from ._refusals import RefusalSummary

#: Names loaded on first use: name -> (module, attribute; empty for the module itself).
_LAZY: dict[str, tuple[str, str]] = {
    "Dispatcher": ("._dispatcher", "Dispatcher"),
    "RefusalSummary": ("._refusals", "RefusalSummary"),
    "middleware": (".middleware", ""),
}

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
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = _import_module(module, __name__)
        value = getattr(value, attribute) if attribute else value
        globals()[name] = value  # once: later reads find it without this function
        return value
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire")
    raise AttributeError(f"module 'toolwire' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
