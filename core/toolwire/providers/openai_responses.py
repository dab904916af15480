"""The OpenAI Responses API (``client.responses.create``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._content import Content
from .._results import DispatchResult, ToolCall
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition
from ._json import declaration, list_or_empty, mapping_or_empty, text_of
from ._strict import function_parameters

if TYPE_CHECKING:
    from .._tools import Tool


class OpenAIResponsesProvider(Provider):
    """Calls are the response's ``function_call`` output items.

    Every output item goes back into the conversation as the API gave it (reasoning, messages,
    built-in tool calls such as ``web_search_call``), followed by one ``function_call_output``
    per function call. Tools are described in strict mode whenever their schema allows it.
    """

    name = "openai-responses"

    def detect(self, response: Mapping[str, Any]) -> bool:
        """A Responses API response: ``object`` is ``"response"``, or an ``output`` list alone."""
        if "object" in response:
            return bool(response["object"] == "response")
        return isinstance(response.get("output"), list) and not any(
            key in response for key in ("choices", "candidates", "content")
        )

    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Each ``function_call`` item in order; all incomplete when the response is."""
        cut_off = _cut_off(response)
        calls: list[ParsedCall] = []
        for item in list_or_empty(response.get("output")):
            item = mapping_or_empty(item)
            if item.get("type") != "function_call":
                continue
            call = ToolCall(
                name=text_of(item.get("name")),
                arguments=item.get("arguments"),
                call_id=text_of(item.get("call_id")),
            )
            incomplete = cut_off
            if incomplete is None and item.get("status") == "incomplete":
                incomplete = "function_call status incomplete"
            calls.append(ParsedCall(call, incomplete))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A ``function`` tool, strict when the schema can be made strict."""
        parameters, strict, notes = function_parameters(tool.parameters)
        value = {"type": "function", **declaration(tool, parameters=parameters, strict=strict)}
        return ToolDefinition(value, notes)

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``function_call_output`` item carrying the result's text.

        A ``toolwire.Content`` result with images sends a list instead: the text as
        ``input_text``, then each image as an ``input_image`` data URL.
        """
        output: Any = result.output
        images = result.result.images() if isinstance(result.result, Content) else []
        if result.success and images:
            output = [
                {"type": "input_text", "text": result.output},
                *(
                    {"type": "input_image", "image_url": f"data:{i.media_type};base64,{i.data}"}
                    for i in images
                ),
            ]
        return {"type": "function_call_output", "call_id": call.call_id, "output": output}

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """Every output item of the response, untouched, then the outputs in call order."""
        return [*list_or_empty(parsed.response.get("output")), *outputs]


def _cut_off(response: Mapping[str, Any]) -> str | None:
    if response.get("status") != "incomplete":
        return None
    reason = mapping_or_empty(response.get("incomplete_details")).get("reason")
    return f"status incomplete: {reason}" if reason else "status incomplete"
