"""The OpenAI Chat Completions API (``client.chat.completions.create``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._values import DispatchResult, ToolCall
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition
from ._json import declaration, list_or_empty, mapping_or_empty, text_of
from ._strict import function_parameters

if TYPE_CHECKING:
    from .._tools import Tool

#: The fields an assistant message may carry as input; ``annotations`` is response-only.
_ASSISTANT_FIELDS: Final = ("role", "content", "refusal", "name", "tool_calls", "function_call")
#: Finish reasons after which the message, and so any call in it, may be cut short.
_CUT_OFF: Final = frozenset({"length", "content_filter"})


class OpenAIChatProvider(Provider):
    """Calls are the ``function`` tool calls of the first choice's message.

    The assistant message goes back as given (minus the response-only ``annotations``),
    followed by one ``tool`` message per call.
    """

    name = "openai-chat"

    def detect(self, response: Mapping[str, Any]) -> bool:
        """A chat completion: ``object`` is ``"chat.completion"``, or a ``choices`` list alone."""
        if "object" in response:
            return bool(response["object"] == "chat.completion")
        return isinstance(response.get("choices"), list)

    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Each function tool call of the first choice; all incomplete when it was cut off."""
        choice = _first_choice(response)
        finish_reason = choice.get("finish_reason")
        cut_off = f"finish_reason {finish_reason}" if finish_reason in _CUT_OFF else None
        calls: list[ParsedCall] = []
        for tool_call in list_or_empty(mapping_or_empty(choice.get("message")).get("tool_calls")):
            tool_call = mapping_or_empty(tool_call)
            if tool_call.get("type") != "function":
                continue  # custom (free-form) tools are not toolwire's
            function = mapping_or_empty(tool_call.get("function"))
            call = ToolCall(
                name=text_of(function.get("name")),
                arguments=function.get("arguments"),
                call_id=text_of(tool_call.get("id")),
            )
            calls.append(ParsedCall(call, cut_off))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A ``function`` tool, strict when the schema can be made strict."""
        parameters, strict, notes = function_parameters(tool.parameters)
        function = declaration(tool, parameters=parameters, strict=strict)
        return ToolDefinition({"type": "function", "function": function}, notes)

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``tool`` message answering the call by its id."""
        return {"role": "tool", "tool_call_id": call.call_id, "content": result.output}

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """The assistant message with its tool calls, then one tool message per call."""
        message = mapping_or_empty(_first_choice(parsed.response).get("message"))
        if not message:
            return list(outputs)
        assistant = {key: message[key] for key in _ASSISTANT_FIELDS if key in message}
        audio = mapping_or_empty(message.get("audio"))
        if "id" in audio:
            # A previous audio answer is referred to by its id only.
            assistant["audio"] = {"id": audio["id"]}
        return [assistant, *outputs]


def _first_choice(response: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = list_or_empty(response.get("choices"))
    return mapping_or_empty(choices[0]) if choices else {}
