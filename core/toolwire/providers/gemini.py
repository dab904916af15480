"""Google Gemini (google-genai ``client.models.generate_content``, or the REST API).

Responses are read in both spellings: the REST API's camelCase (``functionCall``), which is
also what ``to_plain`` makes of a google-genai object, and Python's snake_case
(``function_call``), which ``model_dump()`` gives without aliases. What toolwire writes uses
the REST spelling; google-genai accepts both (``populate_by_name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._content import Content, FilePart, ImagePart
from .._schemadoc import ANNOTATIONS, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES, resolve, walk
from .._values import DispatchResult, ToolCall
from ._base import ParsedCall, ParsedResponse, Provider, ToolDefinition
from ._json import declaration, error_object, list_or_empty, mapping_or_empty

if TYPE_CHECKING:
    from .._tools import Tool

#: Schema nodes the inlined copy may have; past it the schema is sent with its $refs.
INLINE_NODE_BUDGET: Final = 20_000
#: What a function response's ``parts`` take inline: images and documents.
NATIVE_TYPES: Final = frozenset(
    {"image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain"}
)


class GeminiProvider(Provider):
    """Calls are the ``functionCall`` parts of the first candidate's content.

    The model's content goes back untouched (thought signatures included), followed by one
    user content with a ``functionResponse`` part per call, in call order, each carrying the
    call's ``id`` when the API gave one.

    Tools are described with ``parametersJsonSchema``: the tool's JSON Schema, the way
    google-genai itself describes Python functions, rather than the older OpenAPI-subset
    ``parameters`` that cannot hold ``additionalProperties``. Gemini refuses ``$schema`` and
    ``$ref``/``$defs``, which MCP servers' schemas often carry, so ``$schema`` is dropped and
    every ``$ref`` is replaced by a copy of what it points to (see ``gemini_parameters``).
    """

    name = "gemini"
    #: google-genai's ``FunctionDeclaration``: "Parameter names must start with a letter or an
    #: underscore and must only contain chars a-z, A-Z, 0-9, or underscores with a maximum
    #: length of 64."
    property_names = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

    def detect(self, response: Mapping[str, Any]) -> bool:
        """A generateContent response: a ``candidates`` list, or only prompt feedback (blocked)."""
        if isinstance(response.get("candidates"), list):
            return True
        return any(key in response for key in ("promptFeedback", "prompt_feedback")) and not any(
            key in response for key in ("object", "type", "choices", "output")
        )

    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Each function call part in order; all incomplete when generation hit MAX_TOKENS."""
        candidate = _first_candidate(response)
        finish_reason = _get(candidate, "finishReason", "finish_reason")
        cut_off = "finishReason MAX_TOKENS" if finish_reason == "MAX_TOKENS" else None
        calls: list[ParsedCall] = []
        for part in _parts(candidate):
            function_call = _get(part, "functionCall", "function_call")
            if not isinstance(function_call, Mapping):
                continue
            args = function_call.get("args")
            call = ToolCall(
                name=str(function_call.get("name") or ""),
                arguments=args if args is not None else {},
                call_id=str(function_call.get("id") or ""),
            )
            calls.append(ParsedCall(call, cut_off))
        return ParsedResponse(provider=self.name, calls=calls, response=response)

    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """A function declaration whose ``parametersJsonSchema`` is the tool's schema, inlined,
        and whose ``responseJsonSchema`` is its output schema, when it has one."""
        parameters, notes = gemini_parameters(tool.parameters)
        fields: dict[str, Any] = {"parametersJsonSchema": parameters}
        output = tool.output_schema
        if output is not None:
            response, more = gemini_parameters(output)
            fields["responseJsonSchema"] = response
            notes = (*notes, *(note.replace("$ref", "output $ref", 1) for note in more))
        return ToolDefinition(declaration(tool, **fields), notes)

    def format_result(self, call: ToolCall, result: DispatchResult) -> dict[str, Any]:
        """A ``functionResponse`` part: ``{"output": value}``, or ``{"error": ...}`` on failure.

        google-genai documents these two keys for ``FunctionResponse.response``. The value is
        the result's JSON data when the result is not text (so it is what ``responseJsonSchema``
        describes), else its text. A ``toolwire.Content`` result's images, PDFs and text files
        go as ``inlineData`` parts of the response, each with a ``displayName``.
        """
        response = (
            {"output": _output(result)}
            if result.success
            else {"error": error_object(result.output)}
        )
        function_response: dict[str, Any] = {"name": call.name, "response": response}
        if result.success and isinstance(result.result, Content):
            parts = _native(result.result)
            if parts:
                function_response["parts"] = parts
        if call.call_id:
            function_response["id"] = call.call_id
        return {"functionResponse": function_response}

    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """The model's content as given, then one user content with every response part."""
        content = _get(_first_candidate(parsed.response), "content")
        items: list[Any] = [content] if isinstance(content, Mapping) else []
        if outputs:
            items.append({"role": "user", "parts": _ids_as_given(parsed, outputs)})
        return items


def gemini_parameters(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The tool's schema as Gemini takes it: no ``$schema``, every ``$ref`` inlined.

    A ``$ref`` becomes a copy of its target: merged with the keywords beside it when they only
    describe, else as a one-part ``allOf`` beside them, which means what the ``$ref`` meant. A
    recursive ``$ref`` cannot be inlined: it is kept, with the definitions it needs, and
    noted. Past ``INLINE_NODE_BUDGET`` nodes (``$refs`` that expand into too many copies) the
    schema is sent with its references, and noted.

    Args:
        schema: The tool's parameters schema.

    Returns:
        ``(parameters, notes)``: ``schema`` itself when there is nothing to change.
    """
    nodes = list(walk(schema))
    if "$schema" not in schema and not any("$ref" in node for node in nodes):
        return schema, ()
    inliner = _Inliner(schema)
    try:
        inlined = inliner.inline(schema, ())
    except _OverBudget:
        kept = {k: v for k, v in schema.items() if k != "$schema"}
        return kept, (
            f"gemini: sent with its $refs: inlining them takes more than "
            f"{INLINE_NODE_BUDGET:,} schema nodes",
        )
    defs: dict[str, Any] = {}
    for ref in inliner.recursive:
        name = ref.rsplit("/", 1)[-1]
        keyword = "$defs" if ref.startswith("#/$defs/") else "definitions"
        target = resolve(schema, ref)
        if not isinstance(target, Mapping):
            continue
        defs.setdefault(keyword, {})[name] = inliner.inline(
            {k: v for k, v in target.items() if k not in ("$defs", "definitions")}, (ref,)
        )
    inlined.update(defs)
    notes = tuple(
        f"gemini: the recursive $ref {ref!r} is sent as a $ref with its definition "
        "(a copy would never end); Gemini may refuse it"
        for ref in inliner.recursive
    )
    return inlined, notes


class _OverBudget(Exception):
    """Inlining would make more nodes than ``INLINE_NODE_BUDGET``."""


class _Inliner:
    """One inlining pass over a schema: its root, the nodes made, the recursive refs kept."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.made = 0
        self.recursive: list[str] = []

    def inline(self, node: Any, expanding: tuple[str, ...]) -> Any:
        if not isinstance(node, Mapping):
            return node
        self.made += 1
        if self.made > INLINE_NODE_BUDGET:
            raise _OverBudget
        if "$ref" in node:
            ref = node["$ref"]
            siblings = {
                k: self._keyword(k, v, expanding)
                for k, v in node.items()
                if k not in ("$ref", "$schema")
            }
            target = resolve(self.root, ref)
            if isinstance(target, bool):  # the schemas true and false copy as themselves
                return {"allOf": [target], **siblings} if siblings else target
            if ref in expanding or not isinstance(target, Mapping):
                definition = ref.startswith(("#/$defs/", "#/definitions/")) and ref.count("/") == 2
                if definition and ref not in self.recursive:
                    self.recursive.append(ref)
                return {"$ref": ref, **siblings}
            body = {k: v for k, v in target.items() if k not in ("$defs", "definitions", "$schema")}
            copy = self.inline(body, (*expanding, ref))
            assertions = {k: v for k, v in siblings.items() if k not in ANNOTATIONS}
            if not assertions:
                return {**copy, **siblings}
            if assertions == {"unevaluatedProperties": False} and not _composed(copy):
                # Closing a plain object: the same as closing it on its own properties.
                described = {k: v for k, v in siblings.items() if k in ANNOTATIONS}
                return {**copy, "additionalProperties": False, **described}
            # A $ref applies its target in place, exactly as a one-part allOf does.
            if "allOf" in siblings:
                return {**siblings, "allOf": [copy, *siblings["allOf"]]}
            return {"allOf": [copy], **siblings}
        return {
            key: self._keyword(key, value, expanding)
            for key, value in node.items()
            if key not in ("$defs", "definitions", "$schema")
        }

    def _keyword(self, key: str, value: Any, expanding: tuple[str, ...]) -> Any:
        if key in SCHEMA_MAPS and isinstance(value, Mapping):
            return {name: self.inline(sub, expanding) for name, sub in value.items()}
        if key in SCHEMA_VALUES:
            return self.inline(value, expanding)
        if key in SCHEMA_LISTS and isinstance(value, list):
            return [self.inline(sub, expanding) for sub in value]
        return value


def _composed(node: Mapping[str, Any]) -> bool:
    """Whether keys other than its own properties are evaluated in ``node`` (by parts, or already)."""
    return any(
        key in node
        for key in ("allOf", "anyOf", "oneOf", "$ref", "if", "then", "else", "dependentSchemas",
                    "additionalProperties", "unevaluatedProperties")
    )  # fmt: skip


def _ids_as_given(parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
    """The response parts, with no ``id`` where the API gave its call none.

    The dispatcher names every call, so a call without an id reaches ``format_result`` with
    one the API never saw; sending it back would pair the response with no call.
    """
    parts: list[Any] = []
    for found, part in zip(parsed.calls, outputs, strict=False):
        response = (
            _get(part, "functionResponse", "function_response")
            if isinstance(part, Mapping)
            else None
        )
        if found.call.call_id or not isinstance(response, Mapping) or "id" not in response:
            parts.append(part)
            continue
        key = "functionResponse" if "functionResponse" in part else "function_response"
        parts.append({**part, key: {k: v for k, v in response.items() if k != "id"}})
    parts.extend(outputs[len(parts) :])
    return parts


def _output(result: DispatchResult) -> Any:
    """The result as JSON data when it was not text; its text otherwise (or when cut short)."""
    if isinstance(result.result, str) or result.result is None:
        return result.output
    try:
        return json.loads(result.output)
    except ValueError:
        return result.output  # a string value (a datetime...), or a result cut by its budget


def _native(content: Content) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content.parts):
        if isinstance(part, ImagePart | FilePart) and part.media_type in NATIVE_TYPES:
            name = part.name if isinstance(part, FilePart) and part.name else f"part{index}"
            blob = {"mimeType": part.media_type, "data": part.data, "displayName": name}
            parts.append({"inlineData": blob})
    return parts


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _first_candidate(response: Mapping[str, Any]) -> Mapping[str, Any]:
    candidates = list_or_empty(response.get("candidates"))
    return mapping_or_empty(candidates[0]) if candidates else {}


def _parts(candidate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = mapping_or_empty(candidate.get("content"))
    return [mapping_or_empty(part) for part in list_or_empty(content.get("parts"))]
