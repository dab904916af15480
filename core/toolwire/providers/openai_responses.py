"""The OpenAI Responses API (``client.responses.create``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._content import NATIVE_IMAGE_TYPES, Content, FilePart, ImagePart
from .._strict import function_parameters
from .._values import DispatchResult, ToolCall
from . import _json
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition

if TYPE_CHECKING:
    from .._tools import Tool

#: The ``caller`` type of a ``function_call`` made by a program (programmatic tool calling).
_PROGRAM: Final = "program"


class OpenAIResponsesProvider(Provider):
    """Calls are the response's ``function_call`` output items.

    Every output item goes back into the conversation as the API gave it (reasoning, messages,
    built-in tool calls such as ``web_search_call``), followed by one ``function_call_output``
    per function call. A ``function_call`` item that lacks a ``call_id``, or repeats one, gets
    a fresh one, written into the replayed item and its output alike. Tools are described in
    strict mode whenever their schema allows it.
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
        items = _function_calls(response)
        ids = _json.call_ids([item.get("call_id") for item in items], "call_")
        calls: list[ParsedCall] = []
        for item, call_id in zip(items, ids, strict=True):
            caller = _json.caller_of(item.get("caller"), _PROGRAM.__eq__)
            call = ToolCall(_json.text_of(item.get("name")), item.get("arguments"), call_id, caller)
            incomplete = cut_off
            if incomplete is None and item.get("status") == "incomplete":
                incomplete = "function_call status incomplete"
            calls.append(ParsedCall(call, incomplete, _json.given_id(item.get("call_id"), call_id)))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A ``function`` tool, strict when the schema can be made strict."""
        parameters, strict, notes = function_parameters(tool.parameters)
        value = {
            "type": "function",
            **_json.declaration(tool, parameters=parameters, strict=strict),
        }
        return ToolDefinition(value, notes)

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``function_call_output`` item carrying the result's text.

        A ``toolwire.Content`` result with images or files sends a list instead: the text as
        ``input_text`` (each part described in it), then each image as an ``input_image`` and
        each file as an ``input_file``, as data URLs. Audio has no place there: it is described.
        """
        output: Any = result.output
        native = _native(result.result) if isinstance(result.result, Content) else []
        if result.success and native:
            output = [{"type": "input_text", "text": result.output}, *native]
        return {"type": "function_call_output", "call_id": call.call_id, "output": output}

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """Every output item of the response as given (``program`` items included), then the
        outputs in call order; the output of a call a program made names that program as its
        ``caller``, as the call did."""
        ids = iter([found.call.call_id for found in parsed.calls])
        items: list[Any] = []
        callers: dict[Any, Any] = {}
        for item in _json.list_or_empty(parsed.response.get("output")):
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                call_id = next(ids, None)
                if call_id is not None and item.get("call_id") != call_id:
                    item = {**item, "call_id": call_id}  # the id its output answers
                item = _json.arguments_text(item)
                caller = item.get("caller")
                if isinstance(caller, Mapping) and caller.get("type") == _PROGRAM:
                    callers[item.get("call_id")] = caller
            items.append(item)
        if callers:
            outputs = [_with_caller(output, callers) for output in outputs]
        return list(_json.encodable([*items, *outputs]))


def _with_caller(output: Any, callers: Mapping[Any, Any]) -> Any:
    if not isinstance(output, Mapping) or output.get("type") != "function_call_output":
        return output
    caller = callers.get(output.get("call_id"))
    return output if caller is None else {**output, "caller": caller}


def _native(content: Content) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content.parts:
        if isinstance(part, ImagePart) and part.media_type in NATIVE_IMAGE_TYPES:
            url = f"data:{part.media_type};base64,{part.data}"
            parts.append({"type": "input_image", "image_url": url})
        elif isinstance(part, FilePart):
            file: dict[str, Any] = {
                "type": "input_file",
                "file_data": f"data:{part.media_type};base64,{part.data}",
            }
            if part.name:
                file["filename"] = part.name
            parts.append(file)
    return parts


def _function_calls(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _json.items_of_type(response.get("output"), "function_call")


def _cut_off(response: Mapping[str, Any]) -> str | None:
    if response.get("status") != "incomplete":
        return None
    reason = _json.mapping_or_empty(response.get("incomplete_details")).get("reason")
    return f"status incomplete: {reason}" if reason else "status incomplete"
