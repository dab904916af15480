"""Checking what toolwire produces against the official SDKs' own param types."""

from __future__ import annotations

import collections.abc
import functools
from typing import Any

import pydantic


def _exhaust(value: Any) -> Any:
    """Consume pydantic's lazy iterators (``Iterable[...]`` fields) so their items are checked."""
    if isinstance(value, dict):
        return {k: _exhaust(v) for k, v in value.items()}
    if isinstance(value, str | bytes | pydantic.BaseModel):
        return value
    if isinstance(value, collections.abc.Iterable):
        return [_exhaust(v) for v in value]
    return value


@functools.cache
def _adapter(type_: Any) -> pydantic.TypeAdapter[Any]:
    # Wrapped in a list: pydantic takes a config for a list, not for a TypedDict itself, and
    # the list's config reaches the TypedDicts inside.
    return pydantic.TypeAdapter(list[type_], config=pydantic.ConfigDict(extra="forbid"))


def sdk_validate(type_: Any, value: Any) -> Any:
    """Validate a value against an SDK param type, unknown keys refused; raises ValidationError."""
    return _exhaust(_adapter(type_).validate_python([value]))[0]


def parse_sdk_response(provider: Any, sdk_type: Any, data: Any) -> Any:
    """Build the SDK's response object from JSON and parse it as a host's would be parsed."""
    from toolwire.providers import to_plain

    sdk_object = sdk_type.model_validate(data)
    parsed = provider.parse_response(to_plain(sdk_object))
    parsed.original = sdk_object
    return parsed


def answered_items(provider: Any, parsed: Any, make_result: Any) -> list[Any]:
    """The conversation items for a parsed response whose first call succeeded and second failed."""
    results = [make_result(parsed.calls[0].call, True), make_result(parsed.calls[1].call, False)]
    outputs = [
        provider.format_result(p.call, r) for p, r in zip(parsed.calls, results, strict=True)
    ]
    return provider.conversation_items(parsed, outputs)
