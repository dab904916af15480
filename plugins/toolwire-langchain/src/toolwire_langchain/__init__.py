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

from typing import Any

from ._answer import ToolwireError
from ._approvals import ApprovalAnswer, ApprovalMiddleware, ApproveDecision, RejectDecision
from ._roles import RoleMiddleware
from ._tools import ToolwireTool, tools

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


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("toolwire-langchain")
    raise AttributeError(f"module 'toolwire_langchain' has no attribute {name!r}")
