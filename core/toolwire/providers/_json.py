"""JSON helpers the providers share: plain JSON from SDK objects, defensive reads, declarations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._serialize import utf8_safe

if TYPE_CHECKING:
    from .._tools import Tool


def to_plain(response: Any) -> Mapping[str, Any]:
    """The response as the plain JSON the API sent, whichever SDK object or dict it came as.

    The official SDKs (openai, anthropic, google-genai) all build their responses as pydantic
    models from the API's JSON. Dumping them with ``by_alias`` gives back the API's own field
    names (``async`` in openai, ``functionCall`` in google-genai) and ``exclude_unset`` keeps
    exactly the fields the API sent, explicit nulls included; so an item copied from the
    result back into the next request is the item the API gave. The SDKs build responses
    without validating them, so a server off the spec (a tool call typed ``""``) gives values
    their models do not expect: dumped as they are, without pydantic's warnings about them.

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
        plain = dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)
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


def items_of_type(value: Any, kind: str) -> list[Mapping[str, Any]]:
    """The objects in ``value`` (a JSON array; anything else has none) whose ``type`` is ``kind``."""
    return [i for i in list_or_empty(value) if isinstance(i, Mapping) and i.get("type") == kind]


def error_object(output: str) -> Any:
    """The error a result carries, as JSON data when its text is JSON (as the core writes it)."""
    try:
        return json.loads(output)
    except ValueError:
        return output


def caller_of(value: Any, program: Callable[[str], bool]) -> str | None:
    """Who made a call, from the ``caller`` the API put on it: ``None`` when it put none,
    ``"direct"``, ``"program"`` when ``program(type)`` says the type is the API's programmatic
    caller, and ``"unknown"`` for anything else (which no tool allows: fail closed)."""
    if value is None:
        return None
    kind = mapping_or_empty(value).get("type")
    if kind == "direct":
        return "direct"
    if isinstance(kind, str) and program(kind):
        return "program"
    return "unknown"


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


def new_call_id(prefix: str) -> str:
    """A fresh id for a call the response gave none (or a taken one): ``prefix`` and 24 hex digits."""
    return prefix + uuid.uuid4().hex[:24]


def call_ids(given: Sequence[Any], prefix: str) -> list[str]:
    """Each call's id: the one given, or a fresh one for a missing, empty or repeated id.

    An id pairs a call with its answer, so two calls must never share one.

    Args:
        given: The ids as the response holds them (``None`` for a missing one).
        prefix: How the API's own ids start (``call_``, ``toolu_``), for the fresh ones.

    Returns:
        One non-empty id per call, all distinct, in the same order.
    """
    seen: set[str] = set()
    ids: list[str] = []
    for value in given:
        call_id = text_of(value)
        if not call_id or call_id in seen:
            call_id = new_call_id(prefix)
        seen.add(call_id)
        ids.append(call_id)
    return ids


def given_id(value: Any, used: str) -> str | None:
    """The id a response gave a call, when it repeated another's and the call now has its own
    (``None`` for a call that keeps its id, or had none to repeat)."""
    given = text_of(value)
    return None if not given or given == used else given


def arguments_text(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """A call's payload whose ``arguments`` is a JSON string, as the OpenAI APIs take it back.

    Off-spec servers send ``arguments`` as an object; the call is read all the same, but the
    APIs refuse it as input: it goes back encoded (the payload is copied, never changed).
    """
    arguments = payload.get("arguments")
    if arguments is None or isinstance(arguments, str):
        return payload
    return {**payload, "arguments": json.dumps(arguments, ensure_ascii=False)}


def encodable(value: Any) -> Any:
    """``value`` with every string (keys too) made valid UTF-8, copied only where that changed.

    What goes back to an API must encode as UTF-8; a response's JSON may hold an escaped lone
    surrogate (``"\\ud800"``), which ``json.loads`` turns into a string UTF-8 cannot carry.
    A structure too deep to walk is returned as it is: no API would accept it anyway.
    """
    try:
        return _encodable(value)
    except RecursionError:
        return value


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, Mapping):
        items = [(_encodable(k), _encodable(v)) for k, v in value.items()]
        changed = any(
            nk is not k or nv is not v
            for (nk, nv), (k, v) in zip(items, value.items(), strict=True)
        )
        return dict(items) if changed else value
    if isinstance(value, list | tuple):
        values = [_encodable(v) for v in value]
        if any(n is not o for n, o in zip(values, value, strict=True)):
            return values
        return value
    return value
