"""Fixtures for the provider tests: recorded-shape responses, a tool, results, SDK validation.

Every shape is checked against the official SDK's own types, never against hand-written
expectations alone: ``sdk_validate`` validates with pydantic, refusing keys the type does not
declare and walking the lazily validated ``Iterable`` fields the SDKs' TypedDicts use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import toolwire
from toolwire import DispatchResult, ToolCall, ToolError

from ..sdk_checks import sdk_validate as check

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def load_fixture() -> Callable[[str], dict[str, Any]]:
    """Read ``fixtures/<name>.json``."""

    def load(name: str) -> dict[str, Any]:
        with (FIXTURES / f"{name}.json").open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        return data

    return load


@pytest.fixture
def sdk_validate() -> Callable[[Any, Any], Any]:
    """Validate a value against an SDK param type, unknown keys refused; raises ValidationError."""
    return check


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
