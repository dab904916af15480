"""A structured result, written in the shape its output schema describes and checked against it.

A tool with an output schema promises that shape to whoever reads the result (MCP clients
validate ``structuredContent`` and refuse a result that does not match). So its result is
written through the return annotation's own pydantic serializer (fields by alias, a subclass as
the declared class) and checked against the advertised schema before it is sent: a mismatch is
an ``output_error`` naming the path and what the schema expects, never a result that breaks
the promise. Built once per tool, on first use; tools without an output schema never pay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import jsonschema_rs

from ._errors import ToolError
from ._problems import Describer
from ._schemadoc import refuse_retrieval
from ._serialize import to_json

#: Names whose values an output error never shows (the default ``[logging] redact``).
_REDACT: Final = ("password", "token", "api_key", "apikey", "api-key", "authorization", "secret")
#: Keywords that describe a schema without constraining what it holds.
_ANNOTATIONS: Final = frozenset({"title", "description", "$schema", "examples", "default"})
#: Problems named in one output error, at most.
_SHOWN: Final = 5


class OutputCheck:
    """A tool's output schema, compiled once, and the serializer that writes that shape.

    Args:
        tool_name: The tool's name, for messages.
        schema: The output schema as advertised.
        adapter: The return annotation's ``pydantic.TypeAdapter`` when the schema was inferred
            from it; ``None`` for an ``output_schema=`` someone wrote.
    """

    __slots__ = ("_adapter", "_any_object", "_describer", "_validator", "passes_dicts", "tool_name")

    def __init__(self, tool_name: str, schema: Mapping[str, Any], adapter: Any) -> None:
        self.tool_name = tool_name
        # A type whose serializer only copies (dict[str, int], list[str]...) is not run: the
        # value is already in the schema's shape, and the check below still holds it to it.
        self._adapter = None if adapter is None or _copies(adapter.core_schema) else adapter
        #: The schema holds any object (``dict[str, Any]``): a dict is valid without a look.
        self._any_object = {k: v for k, v in schema.items() if k not in _ANNOTATIONS} in (
            {"type": "object"},
            {"type": "object", "additionalProperties": True},
        )
        #: A dict is written as its JSON as it is, unchecked: nothing to re-shape, any object.
        self.passes_dicts = self._adapter is None and self._any_object
        # Formats are not asserted: MCP's clients do not assert them either.
        try:
            self._validator = jsonschema_rs.validator_for(
                dict(schema), validate_formats=False, retriever=refuse_retrieval
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            raise ToolError(
                f"tool {tool_name!r}: its output schema cannot be used ({type(exc).__name__}): "
                "fix output_schema= so its references resolve",
                kind="output_error",
            ) from None
        self._describer = Describer(schema, _REDACT, {}, None)

    def to_json(self, value: Any) -> str:
        """``value`` as JSON in the schema's shape, checked against the schema.

        Raises:
            ToolError: ``output_error`` when it cannot be written, or does not match the
                schema (each problem's path and what the schema expects).
        """
        if self._adapter is not None:
            try:
                value = self._adapter.dump_python(value, by_alias=True, warnings="none")
            except Exception as exc:
                raise ToolError(
                    f"the tool's result could not be sent: its serializer failed "
                    f"({type(exc).__name__})",
                    kind="output_error",
                ) from exc
        text = to_json(value)
        if self._any_object and type(value) is dict:
            return text  # its JSON is an object, and any object is valid
        try:
            valid = self._validator.is_valid(value)  # plain Python data, as its JSON reads
        except ValueError:  # a value only its JSON can be checked as (a datetime, a set...)
            valid = None
        if valid:
            return text
        data = json.loads(text)
        if not self._validator.is_valid(data):
            problems = self._describer.problems(list(self._validator.iter_errors(data)))
            raise _mismatch(problems or ["it does not match the schema"])
        return text


def _mismatch(problems: list[str]) -> ToolError:
    shown = "; ".join(_said(p) for p in problems[:_SHOWN])
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return ToolError(
        f"the tool's result does not match its output schema: {shown}{more}",
        kind="output_error",
        details={"problems": [_said(p) for p in problems]},
    )


def _said(problem: str) -> str:
    """A line the argument checker wrote, said of a result."""
    return problem.replace("missing required argument", "missing required key").replace(
        "arguments:", "result:", 1
    )


#: pydantic core schema types whose serializer, in Python mode, gives the value unchanged.
_COPYING: Final = frozenset(
    {
        "any", "none", "bool", "int", "float", "str", "bytes", "list", "dict", "set",
        "frozenset", "tuple", "nullable", "union", "literal", "date", "time", "datetime",
        "timedelta", "decimal", "uuid",
    }
)  # fmt: skip


def _copies(schema: Any, depth: int = 0) -> bool:
    """Whether a pydantic core schema writes its value unchanged: no model, TypedDict,
    dataclass or custom serializer anywhere in it."""
    if depth > 50:
        return False
    if isinstance(schema, dict):
        if "serialization" in schema or ("type" in schema and schema["type"] not in _COPYING):
            return False
        return all(_copies(v, depth + 1) for k, v in schema.items() if k != "metadata")
    if isinstance(schema, list | tuple):
        return all(_copies(v, depth + 1) for v in schema)
    return True
