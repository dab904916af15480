"""toolwire under the OpenAI Agents SDK: the SDK runs the agent's loop, toolwire every tool call.

``function_tools(dispatcher, role=...)`` gives the tools a role may call as ``FunctionTool``s for
``Agent(tools=...)``. Each call goes through toolwire's whole pipeline (validation, roles,
permissions, approvals, hooks, middleware, executors, audit, spans) once; toolwire's answers,
its errors included, are what the model reads. A call toolwire keeps for a person interrupts the
run, and ``RunState.approve`` / ``RunState.reject`` decide toolwire's record;
``apply_decisions`` carries decisions made in toolwire into a ``RunState``.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._bridge import DECIDED_BY
from ._decisions import apply_decisions, approval_for
from ._tools import function_tools

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-openai-agents")

__all__ = [
    "DECIDED_BY",
    "__version__",
    "apply_decisions",
    "approval_for",
    "function_tools",
]
