"""The Anthropic Messages API (``client.messages.create``)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._content import NATIVE_IMAGE_TYPES, Content, FilePart, ImagePart
from .._values import DispatchResult, ToolCall
from . import _json
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition

if TYPE_CHECKING:
    from .._tools import Tool

#: Stop reasons after which the last ``tool_use`` block's input may be cut short.
_CUT_OFF: Final = frozenset({"max_tokens", "model_context_window_exceeded"})
#: Sent for an empty (or blank) output: the API refuses a ``tool_result`` with no content.
EMPTY_OUTPUT: Final = "(no output)"


class AnthropicProvider(Provider):
    """Calls are the message's ``tool_use`` content blocks.

    The assistant message goes back with its content blocks as given (thinking blocks and
    their signatures included), followed by one user message holding a ``tool_result`` block
    per call, in call order. A ``tool_use`` block that lacks an id, or repeats one, gets a
    fresh id, written into the replayed block and its result alike. An empty output is sent
    as ``(no output)``, since the API refuses an empty ``tool_result``.
    """

    name = "anthropic"
    #: The API refuses ``input_schema`` property keys outside this (its 400 error says so).
    property_names = re.compile(r"[a-zA-Z0-9_.-]{1,64}")

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
        uses = _tool_uses(response)
        ids = _json.call_ids([block.get("id") for block in uses], "toolu_")
        calls = [
            ParsedCall(
                ToolCall(
                    _json.text_of(block.get("name")),
                    block.get("input"),
                    call_id,
                    _json.caller_of(block.get("caller"), _by_code_execution),
                ),
                cut_off,
                _json.given_id(block.get("id"), call_id),
            )
            for block, call_id in zip(uses, ids, strict=True)
        ]
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A custom tool: name, description and the parameters as ``input_schema``."""
        return ToolDefinition(_json.declaration(tool, input_schema=tool.parameters))

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``tool_result`` block, with ``is_error`` only on errors (as the SDK's tool runner).

        A ``toolwire.Content`` result with images or documents sends a list instead: a text
        block (each part described in it), then each image as a base64 ``image`` block and each
        PDF or plain-text file as a ``document`` block. Other files and audio are described.
        """
        content: Any = result.output if result.output.strip() else EMPTY_OUTPUT
        native = _native(result.result) if isinstance(result.result, Content) else []
        if result.success and native:
            content = [{"type": "text", "text": content}, *native]
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
        ids = iter([found.call.call_id for found in parsed.calls])
        content: list[Any] = []
        for block in _json.list_or_empty(parsed.response.get("content")):
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                call_id = next(ids, None)
                if call_id is not None and block.get("id") != call_id:
                    block = {**block, "id": call_id}  # the id its result answers
            content.append(block)
        items: list[Any] = [{"role": "assistant", "content": content}]
        if outputs:
            items.append({"role": "user", "content": _with_toolsets(content, outputs)})
        return list(_json.encodable(items))


def _by_code_execution(kind: str) -> bool:
    """A ``tool_use`` caller typed as a code execution tool version (``code_execution_20260120``)
    is code the model ran: a programmatic call."""
    return kind.startswith("code_execution_")


def _native(content: Content) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in content.parts:
        if isinstance(part, ImagePart) and part.media_type in NATIVE_IMAGE_TYPES:
            image = {"type": "base64", "media_type": part.media_type, "data": part.data}
            blocks.append({"type": "image", "source": image})
        elif isinstance(part, FilePart) and (source := _document_source(part)) is not None:
            document: dict[str, Any] = {"type": "document", "source": source}
            if part.name:
                document["title"] = part.name
            blocks.append(document)
    return blocks


def _document_source(part: FilePart) -> dict[str, Any] | None:
    """A PDF as base64, a text file as its text; ``None`` for a type documents do not take."""
    if part.media_type == "application/pdf":
        return {"type": "base64", "media_type": "application/pdf", "data": part.data}
    if part.media_type == "text/plain":
        try:
            text = base64.b64decode(part.data).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return {"type": "text", "media_type": "text/plain", "data": text}
    return None


def _tool_uses(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``tool_use`` blocks; ``server_tool_use`` blocks ran on Anthropic's side."""
    return _json.items_of_type(response.get("content"), "tool_use")


def _with_toolsets(content: Sequence[Any], outputs: Sequence[Any]) -> list[Any]:
    """The result blocks, each naming its call's toolset when the call came from one.

    The API pairs a toolset member's result to its call by ``toolset_name`` as well as by id.
    """
    toolsets: dict[str, str] = {}
    for block in content:
        block = _json.mapping_or_empty(block)
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
