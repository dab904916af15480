"""toolwire under Pydantic AI's agent loop.

``ToolwireToolset(dispatcher, role=...)`` is a Pydantic AI toolset: the model sees the tools
the role may call, and every call it makes goes through toolwire's whole pipeline (roles,
permission hooks, approvals, middleware, executors, observers). toolwire's error kinds become
Pydantic AI's answers (a retry prompt, a failed tool result, a deferred approval);
``decide`` and ``results`` carry a person's decision between Pydantic AI's deferred tool
results and toolwire's approval records. ``ToolwireInstrumentation`` leaves each call's span to
``toolwire-otel``.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._answer import METADATA_KEY, RETRY_KINDS, answer
from ._instrumentation import ToolwireInstrumentation
from ._toolset import ToolwireToolset, deps_state

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-pydantic-ai")

__all__ = [
    "METADATA_KEY",
    "RETRY_KINDS",
    "ToolwireInstrumentation",
    "ToolwireToolset",
    "__version__",
    "answer",
    "deps_state",
]
