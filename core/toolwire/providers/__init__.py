"""Model APIs: how calls are found in a response, tools described, and results sent back."""

from .._strict import restore_omitted, strict_schema
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition
from ._json import to_plain
from .anthropic import AnthropicProvider
from .gemini import GeminiProvider
from .openai_chat import OpenAIChatProvider
from .openai_responses import OpenAIResponsesProvider


def builtin_providers() -> list[Provider]:
    """A fresh instance of each built-in provider, in the order detection tries them.

    Returns:
        ``openai-responses``, ``openai-chat``, ``anthropic`` and ``gemini``.
    """
    return [OpenAIResponsesProvider(), OpenAIChatProvider(), AnthropicProvider(), GeminiProvider()]


__all__ = [
    "AnthropicProvider",
    "GeminiProvider",
    "OpenAIChatProvider",
    "OpenAIResponsesProvider",
    "ParsedCall",
    "ParsedResponse",
    "Provider",
    "ToolDefinition",
    "builtin_providers",
    "restore_omitted",
    "strict_schema",
    "to_plain",
]
