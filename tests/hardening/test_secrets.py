"""Secrets never reach the log or the model, and oversized results are cut before they are logged."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
import toolwire

from ..conftest import MakeDispatcher

SECRETS = ("hunter2-pw", "tok-9f8e7d", "key-abc123", "Bearer zz-top", "shh-s3cret", "pin-4321")
DEBUG = {"logging": {"level": "debug"}}

pack = toolwire.Toolset("secrets")


@pack.tool
def login(
    username: str,
    password: str,
    api_key: str = "",
    headers: dict[str, str] | None = None,
    profile: dict[str, Any] | None = None,
) -> str:
    """Log in.

    Args:
        username: Who.
        password: Their password.
        api_key: A key.
        headers: Extra HTTP headers.
        profile: Free-form settings.
    """
    return f"welcome {username}"


@pack.tool(
    schema={
        "type": "object",
        "properties": {
            "password": {
                "type": "string",
                "minLength": 64,
                "maxLength": 65,
                "pattern": "^[0-9]+$",
                "format": "email",
                "description": "A very constrained secret.",
            },
            "token": {"enum": ["a", "b"], "description": "One of two."},
            "secret": {"const": "x", "description": "Exactly x."},
            "api_key": {"type": "integer", "minimum": 10, "description": "A number."},
            "authorization": {
                "type": "object",
                "properties": {"scheme": {"type": "string", "description": "It."}},
                "required": ["scheme"],
                "description": "Nested.",
            },
        },
        "required": ["password"],
    }
)
def strict(**kwargs: Any) -> str:
    """Take constrained secrets."""
    return "ok"


@pack.tool
def big(size: int) -> str:
    """Return ``size`` characters."""
    return "y" * size


def _text(logs: list[dict[str, Any]]) -> str:
    return repr(logs)


async def test_redacted_arguments_never_reach_the_log(make: MakeDispatcher) -> None:
    """At debug level arguments are logged, but values under the redact list never are."""
    dispatcher = make(pack, config=DEBUG)
    arguments = {
        "username": "visible-user",
        "password": "hunter2-pw",
        "api_key": "key-abc123",
        "headers": {"Authorization": "Bearer zz-top", "X-Trace": "visible-trace"},
        "profile": {"nested": [{"client_secret": "shh-s3cret"}], "session_token": "tok-9f8e7d"},
    }
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("login", arguments)
        assert result.success
        # The same, failing validation (an unknown key): logged too, still redacted.
        await dispatcher.dispatch("login", {**arguments, "passwd_token": "tok-9f8e7d"})
        # And sent as JSON text.
        await dispatcher.dispatch("login", json.dumps(arguments))
    text = _text(logs)
    assert "visible-user" in text and "visible-trace" in text  # arguments ARE logged
    assert "[redacted]" in text
    for secret in SECRETS:
        assert secret not in text
    assert len([e for e in logs if "arguments" in e]) == 3


async def test_the_redact_list_is_configurable(make: MakeDispatcher) -> None:
    """[logging] redact replaces the default list: its names are redacted, matched in any case."""
    dispatcher = make(pack, config={"logging": {"level": "debug", "redact": ["PIN", "password"]}})
    with structlog.testing.capture_logs() as logs:
        await dispatcher.dispatch(
            "login",
            {"username": "u", "password": "hunter2-pw", "profile": {"Card_PIN": "pin-4321"}},
        )
    text = _text(logs)
    assert "hunter2-pw" not in text and "pin-4321" not in text


async def test_unparsable_arguments_are_not_logged(make: MakeDispatcher) -> None:
    """Arguments that fail to parse cannot be redacted key by key, so they are not logged at all."""
    dispatcher = make(pack, config=DEBUG)
    with structlog.testing.capture_logs() as logs:
        for raw in ('{"username": "u", "password": "hunter2-pw"', "{'password': 'hunter2-pw'}"):
            result = await dispatcher.dispatch("login", raw)
            assert result.error is not None and "hunter2-pw" not in result.output
    assert "hunter2-pw" not in _text(logs)


@pytest.mark.parametrize(
    "arguments",
    [
        {"password": "hunter2-pw"},  # minLength, pattern, format
        {"password": "1" * 70 + "hunter2-pw"},  # maxLength, pattern, format
        {"password": ["hunter2-pw"]},  # type
        {"password": "0" * 64, "token": "tok-9f8e7d"},  # enum
        {"password": "0" * 64, "secret": "shh-s3cret"},  # const
        {"password": "0" * 64, "api_key": "key-abc123"},  # type
        {"password": "0" * 64, "authorization": {"scheme": "Bearer zz-top", "x": "pin-4321"}},
        {"password": "0" * 64, "authorization": "Bearer zz-top"},
        {"password": "0" * 64, "session_token": "tok-9f8e7d"},  # unknown key
    ],
)
async def test_validation_errors_never_echo_values(
    make: MakeDispatcher, arguments: dict[str, Any]
) -> None:
    """Whatever rule a value breaks, the error text names the rule and the key, never the value."""
    dispatcher = make(pack, config=DEBUG)
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("strict", arguments)
    assert result.error is not None and result.error.kind == "invalid_arguments"
    seen = result.output + repr(result.error) + _text(logs)
    for secret in SECRETS:
        assert secret not in seen


async def test_type_errors_in_inferred_schemas_never_echo_values(make: MakeDispatcher) -> None:
    """A wrong type for an inferred parameter names the types only."""
    dispatcher = make(pack, config=DEBUG)
    result = await dispatcher.dispatch(
        "login", {"username": "u", "password": 12345678901, "headers": {"Authorization": 99887766}}
    )
    assert result.error is not None
    assert "12345678901" not in result.output and "99887766" not in result.output


@pytest.mark.parametrize("budget", [1, 10, 37, 38, 39, 40, 41, 60, 500, 99_950])
async def test_results_over_budget_are_cut_before_they_are_logged(
    make: MakeDispatcher, budget: int
) -> None:
    """The output logged at debug level is the cut one: never longer than max_output_chars."""
    dispatcher = make(pack, config={**DEBUG, "defaults": {"max_output_chars": budget}})
    with structlog.testing.capture_logs() as logs:
        for size in (budget, budget + 1, budget * 3, 100_000, 5_000_000):
            result = await dispatcher.dispatch("big", {"size": size})
            assert len(result.output) <= budget
    outputs = [e["output"] for e in logs if e["event"] == "toolwire.call"]
    assert len(outputs) == 5
    assert all(len(o) <= budget for o in outputs)
    assert outputs[0] == "y" * budget
