"""Model APIs: how calls are found in a response, tools described, and results sent back."""

from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition

__all__ = ["ParsedCall", "ParsedResponse", "Provider", "ToolDefinition"]
