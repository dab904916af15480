"""Fixtures for the provider tests: recorded-shape responses, a tool, results, SDK validation.

Every shape is checked against the official SDK's own types, never against hand-written
expectations alone: ``sdk_validate`` validates with pydantic, refusing keys the type does not
declare and walking the lazily validated ``Iterable`` fields the SDKs' TypedDicts use.
"""

from __future__ import annotations

import collections.abc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest
import toolwire
from toolwire import DispatchResult, ToolCall, ToolError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def load_fixture() -> Callable[[str], dict[str, Any]]:
    """Read ``fixtures/<name>.json``."""

    def load(name: str) -> dict[str, Any]:
        with (FIXTURES / f"{name}.json").open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        return data

    return load


def _exhaust(value: Any) -> Any:
    """Consume pydantic's lazy iterators (``Iterable[...]`` fields) so their items are checked."""
    if isinstance(value, dict):
        return {k: _exhaust(v) for k, v in value.items()}
    if isinstance(value, str | bytes | pydantic.BaseModel):
        return value
    if isinstance(value, collections.abc.Iterable):
        return [_exhaust(v) for v in value]
    return value


@pytest.fixture
def sdk_validate() -> Callable[[Any, Any], Any]:
    """Validate a value against an SDK param type, unknown keys refused; raises ValidationError."""

    def validate(type_: Any, value: Any) -> Any:
        # Wrapped in a list: pydantic takes a config for a list, not for a TypedDict itself,
        # and the list's config reaches the TypedDicts inside.
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            list[type_], config=pydantic.ConfigDict(extra="forbid")
        )
        return _exhaust(adapter.validate_python([value]))[0]

    return validate


@pytest.fixture
def weather_tool() -> toolwire.Tool:
    """The design document's example tool: one required and one defaulted parameter."""

    @toolwire.tool
    def get_weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Get the current weather for a location.

        Args:
            location: City name, e.g. "Paris".
            units: Temperature units.
        """
        return {"location": location, "units": units}

    return get_weather


@pytest.fixture
def make_result() -> Callable[[ToolCall, bool], DispatchResult]:
    """A result for a call as the core makes it: the tool's text, or the compact error object."""

    def make(call: ToolCall, success: bool) -> DispatchResult:
        if success:
            return DispatchResult(True, call.call_id, call.name, {"t": 21}, output='{"t":21}')
        error = ToolError("City not found", kind="execution_error")
        text = json.dumps(error.to_dict(), separators=(",", ":"))
        return DispatchResult(False, call.call_id, call.name, None, error, output=text)

    return make
