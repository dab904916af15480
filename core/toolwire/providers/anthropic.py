"""The Anthropic Messages API (``client.messages.create``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._content import Content
from .._results import DispatchResult, ToolCall
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition
from ._json import declaration, list_or_empty, mapping_or_empty, text_of

if TYPE_CHECKING:
    from .._tools import Tool

#: Stop reasons after which the last ``tool_use`` block's input may be cut short.
_CUT_OFF: Final = frozenset({"max_tokens", "model_context_window_exceeded"})


class AnthropicProvider(Provider):
    """Calls are the message's ``tool_use`` content blocks.

    The assistant message goes back with its content blocks untouched (thinking blocks and
    their signatures included), followed by one user message holding a ``tool_result`` block
    per call, in call order.
    """

    name = "anthropic"

    def detect(self, response: Mapping[str, Any]) -> bool:
        """A Messages API response: ``type`` ``"message"``, role ``assistant``, a content list."""
        return (
            response.get("type") == "message"
            and response.get("role") == "assistant"
            and isinstance(response.get("content"), list)
        )

    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Each ``tool_use`` block in order; all incomplete when the message hit a token limit."""
        stop_reason = response.get("stop_reason")
        cut_off = f"stop_reason {stop_reason}" if stop_reason in _CUT_OFF else None
        calls: list[ParsedCall] = []
        for block in list_or_empty(response.get("content")):
            block = mapping_or_empty(block)
            if block.get("type") != "tool_use":
                continue  # server_tool_use blocks ran on Anthropic's side
            call = ToolCall(
                name=text_of(block.get("name")),
                arguments=block.get("input"),
                call_id=text_of(block.get("id")),
            )
            calls.append(ParsedCall(call, cut_off))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A custom tool: name, description and the parameters as ``input_schema``."""
        return ToolDefinition(declaration(tool, input_schema=tool.parameters))

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``tool_result`` block, with ``is_error`` only on errors (as the SDK's tool runner).

        A ``toolwire.Content`` result with images sends a list instead: a text block, then
        each image as a base64 ``image`` block.
        """
        content: Any = result.output
        images = result.result.images() if isinstance(result.result, Content) else []
        if result.success and images:
            content = [
                {"type": "text", "text": result.output},
                *(
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": i.media_type, "data": i.data},
                    }
                    for i in images
                ),
            ]
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": call.call_id,
            "content": content,
        }
        if not result.success:
            block["is_error"] = True
        return block

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """The assistant message as given, then one user message with every result block."""
        items: list[Any] = [
            {"role": "assistant", "content": list(list_or_empty(parsed.response.get("content")))}
        ]
        if outputs:
            items.append({"role": "user", "content": _with_toolsets(parsed, outputs)})
        return items


def _with_toolsets(parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
    """The result blocks, each naming its call's toolset when the call came from one.

    The API pairs a toolset member's result to its call by ``toolset_name`` as well as by id.
    """
    toolsets: dict[str, str] = {}
    for block in list_or_empty(parsed.response.get("content")):
        block = mapping_or_empty(block)
        if block.get("type") == "tool_use" and isinstance(block.get("toolset_name"), str):
            toolsets[str(block.get("id"))] = block["toolset_name"]
    if not toolsets:
        return list(outputs)
    blocks: list[Any] = []
    for output in outputs:
        toolset = (
            toolsets.get(str(output.get("tool_use_id"))) if isinstance(output, Mapping) else None
        )
        blocks.append({**output, "toolset_name": toolset} if toolset is not None else output)
    return blocks
