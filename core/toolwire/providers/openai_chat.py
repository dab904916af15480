"""The OpenAI Chat Completions API (``client.chat.completions.create``), and servers that copy it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._strict import function_parameters
from .._values import DispatchResult, ToolCall
from . import _json
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition

if TYPE_CHECKING:
    from .._tools import Tool

#: Fields of a response's message that are not input: ``annotations`` is response-only.
_RESPONSE_ONLY: Final = frozenset({"annotations"})
#: Finish reasons after which the message, and so any call in it, may be cut short.
_CUT_OFF: Final = frozenset({"length", "content_filter"})


class OpenAIChatProvider(Provider):
    """Calls are the tool calls of the first choice's message; every one of them is answered.

    The assistant message goes back as given: fields toolwire does not know (an
    OpenAI-compatible server's ``reasoning_content`` or ``reasoning_details``, a tool call's
    ``extra_content``) are kept; only the response-only ``annotations`` are left out and
    ``audio`` goes back by its id. A tool call that lacks an id, or repeats one, gets a fresh
    id, written into the replayed message and into its ``tool`` message alike. A tool call whose
    ``type`` is missing or ``""`` but that has a ``function`` is a function call (and goes back
    typed ``"function"``); any other kind of call (a ``custom`` one) is dispatched by its name
    too, so that no call is ever left without a ``tool`` message.
    """

    name = "openai-chat"

    def detect(self, response: Mapping[str, Any]) -> bool:
        """A chat completion: ``object`` is ``"chat.completion"``, or a ``choices`` list alone."""
        if "object" in response:
            return bool(response["object"] == "chat.completion")
        return isinstance(response.get("choices"), list)

    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Each tool call of the first choice, in order; all incomplete when it was cut off."""
        choice = _first_choice(response)
        finish_reason = choice.get("finish_reason")
        cut_off = f"finish_reason {finish_reason}" if finish_reason in _CUT_OFF else None
        tool_calls = _tool_calls(_json.mapping_or_empty(choice.get("message")))
        ids = _json.call_ids([tool_call.get("id") for tool_call in tool_calls], "call_")
        calls: list[ParsedCall] = []
        for tool_call, call_id in zip(tool_calls, ids, strict=True):
            payload = _payload(tool_call)
            arguments = payload.get("arguments", payload.get("input"))
            call = ToolCall(_json.text_of(payload.get("name")), arguments, call_id)
            calls.append(ParsedCall(call, cut_off, _json.given_id(tool_call.get("id"), call_id)))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A ``function`` tool, strict when the schema can be made strict."""
        parameters, strict, notes = function_parameters(tool.parameters)
        function = _json.declaration(tool, parameters=parameters, strict=strict)
        return ToolDefinition({"type": "function", "function": function}, notes)

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``tool`` message answering the call by its id."""
        return {"role": "tool", "tool_call_id": call.call_id, "content": result.output}

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """The assistant message with its tool calls, then one tool message per call."""
        message = _json.mapping_or_empty(_first_choice(parsed.response).get("message"))
        if not message:
            return list(_json.encodable(list(outputs)))
        assistant = {key: value for key, value in message.items() if key not in _RESPONSE_ONLY}
        assistant["role"] = "assistant"  # an off-spec server may leave it out; input needs it
        if "audio" in assistant:
            # A previous audio answer is referred to by its id only.
            audio = _json.mapping_or_empty(assistant.pop("audio"))
            if "id" in audio:
                assistant["audio"] = {"id": audio["id"]}
        if isinstance(message.get("tool_calls"), list):
            tool_calls = _tool_calls(message)
            assistant["tool_calls"] = [
                _replayed(tool_call, found.call.call_id)
                for tool_call, found in zip(tool_calls, parsed.calls, strict=False)
            ]
            if not assistant["tool_calls"]:
                del assistant["tool_calls"]  # the API refuses an empty list
        return list(_json.encodable([assistant, *outputs]))


def _first_choice(response: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = _json.list_or_empty(response.get("choices"))
    return _json.mapping_or_empty(choices[0]) if choices else {}


def _tool_calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The message's tool calls that are JSON objects: the ones a call can be read from."""
    return [c for c in _json.list_or_empty(message.get("tool_calls")) if isinstance(c, Mapping)]


def _payload(tool_call: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object naming the call: ``function``, or the one its ``type`` names (``custom``)."""
    function = tool_call.get("function")
    if isinstance(function, Mapping):
        return function
    return _json.mapping_or_empty(tool_call.get(_json.text_of(tool_call.get("type"))))


def _replayed(tool_call: Mapping[str, Any], call_id: str) -> Mapping[str, Any]:
    """The tool call as given, with the id its answer uses and a function call's own type."""
    is_function = not tool_call.get("type") and isinstance(tool_call.get("function"), Mapping)
    function = tool_call.get("function")
    encoded = _json.arguments_text(function) if isinstance(function, Mapping) else function
    if tool_call.get("id") == call_id and not is_function and encoded is function:
        return tool_call
    replayed = {**tool_call, "id": call_id}
    if encoded is not function:
        replayed["function"] = encoded
    if is_function:
        replayed["type"] = "function"
    return replayed
