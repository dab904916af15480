"""toolwire under LangChain's and LangGraph's agent loops.

``tools(dispatcher, role=...)`` gives the tools a role may call as LangChain ``BaseTool``s, for
``create_agent``, ``bind_tools`` and LangGraph's ``ToolNode``: the framework runs the loop,
toolwire dispatches every call (validation, permissions, approvals, hooks, middleware,
executors, audit, spans). ``RoleMiddleware(dispatcher, role=...)`` gives an agent the tools of
each run's role, the role taken from the run's context. ``ApprovalMiddleware(dispatcher)`` asks
a person about the calls that wait for approval through a LangGraph interrupt, and decides
toolwire's record with the answer.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._answer import ToolwireError
from ._approvals import ApprovalAnswer, ApprovalMiddleware, ApproveDecision, RejectDecision
from ._roles import RoleMiddleware
from ._tools import ToolwireTool, tools

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-langchain")

__all__ = [
    "ApprovalAnswer",
    "ApprovalMiddleware",
    "ApproveDecision",
    "RejectDecision",
    "RoleMiddleware",
    "ToolwireError",
    "ToolwireTool",
    "__version__",
    "tools",
]
