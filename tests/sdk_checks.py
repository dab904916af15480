"""Checking what toolwire produces against the official SDKs' own param types."""

from __future__ import annotations

from typing import Any

from toolwire.testing import sdk_validate as sdk_validate  # the suites import it from here


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
