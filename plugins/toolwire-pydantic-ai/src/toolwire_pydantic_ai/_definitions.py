"""A toolwire tool as Pydantic AI describes it to a model: a ``ToolDefinition``."""

from __future__ import annotations

import copy
from typing import Any

import toolwire
from pydantic_ai.tools import ToolDefinition

from ._answer import METADATA_KEY

_UNSET: Any = object()


def definition(tool: toolwire.Tool, policy: toolwire.ToolPolicy) -> ToolDefinition:
    """The tool's name, description and parameter schema as toolwire has them.

    ``strict`` is left to Pydantic AI, which turns OpenAI's strict mode on only for a schema
    that already fits it (every property required, no other keys), so what the model sends is
    what toolwire's own schema accepts. A tool toolwire runs one call at a time
    (``sequential``) is one Pydantic AI runs alone. The behaviour hints (``read_only``,
    ``destructive``...) and the plugin are in ``metadata["toolwire"]``, never sent to the model.
    A tool toolwire defers (``defer_loading``) waits for Pydantic AI's tool search.
    """
    return ToolDefinition(
        name=tool.name,
        # A copy: Pydantic AI's schema transformers must never reach toolwire's own schema.
        parameters_json_schema=copy.deepcopy(tool.parameters),
        description=tool.description or None,
        sequential=bool(policy.sequential),
        metadata={METADATA_KEY: {"pack": tool.pack, **policy.annotations()}},
        return_schema=return_schema(tool),
        defer_loading=bool(policy.defer_loading),
    )


def return_schema(tool: toolwire.Tool) -> dict[str, Any] | None:
    """The tool's output schema as toolwire advertises it (``Tool.output_schema``: from the
    return annotation, or ``output_schema=``), a copy; ``None`` for a tool without one."""
    schema = tool.output_schema
    return None if schema is None else copy.deepcopy(schema)
