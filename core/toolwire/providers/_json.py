"""JSON helpers the providers share: plain JSON from SDK objects, defensive reads, declarations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._tools import Tool


def to_plain(response: Any) -> Mapping[str, Any]:
    """The response as the plain JSON the API sent, whichever SDK object or dict it came as.

    The official SDKs (openai, anthropic, google-genai) all build their responses as pydantic
    models from the API's JSON. Dumping them with ``by_alias`` gives back the API's own field
    names (``async`` in openai, ``functionCall`` in google-genai) and ``exclude_unset`` keeps
    exactly the fields the API sent, explicit nulls included; so an item copied from the
    result back into the next request is the item the API gave.

    Args:
        response: A mapping (returned as it is) or a pydantic model.

    Returns:
        The response as a mapping of plain JSON values.

    Raises:
        TypeError: ``response`` is neither a mapping nor a pydantic model.
    """
    if isinstance(response, Mapping):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        plain = dump(mode="json", by_alias=True, exclude_unset=True)
        if isinstance(plain, Mapping):
            return plain
    raise TypeError(
        f"cannot read a model response from {type(response).__name__}: "
        "pass the SDK's response object or its JSON as a dict"
    )


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one: responses are read defensively."""
    return value if isinstance(value, Mapping) else {}


def list_or_empty(value: Any) -> Sequence[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list | tuple) else ()


def error_object(output: str) -> Any:
    """The error a result carries, as JSON data when its text is JSON (as the core writes it)."""
    try:
        return json.loads(output)
    except ValueError:
        return output


def text_of(value: Any) -> str:
    """A JSON value as text for a name or an id: ``null`` (or nothing) is the empty string."""
    return "" if value is None else str(value)


def declaration(tool: Tool, **fields: Any) -> dict[str, Any]:
    """A tool's name, its description when it has one, then the API's own ``fields``."""
    value: dict[str, Any] = {"name": tool.name}
    if tool.description:
        value["description"] = tool.description
    value.update(fields)
    return value
