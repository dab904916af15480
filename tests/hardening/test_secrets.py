"""Secrets never reach the log or the model, and oversized results are cut before they are logged."""

from __future__ import annotations

import io
import json
import logging
import traceback
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


# -- a secret in a tool's own exception, traceback or output ------------------------------------

PASSWORD = "pa'ss\n\"wörd-77"  # quotes, a newline and a non-ASCII letter: repr and JSON escape it
HEADER = "Bearer zz-top-9"
PIN = 48151623


def _forms(secret: str) -> set[str]:
    """Every way a secret may be written out: raw, inside repr, inside JSON."""
    return {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]} | {
        json.dumps(secret, ensure_ascii=False)[1:-1]
    }


SECRET_FORMS = _forms(PASSWORD) | _forms(HEADER) | {str(PIN)}

failing = toolwire.Toolset("failing")


@failing.tool
def message(user: str, password: str) -> str:
    """A tool that puts the password in its exception's message."""
    raise RuntimeError(f"login failed with password {password}")


@failing.tool
def arguments_repr(user: str, password: str) -> str:
    """A tool that puts the repr of its arguments in its exception."""
    raise ValueError(f"bad call: {dict(user=user, password=password)!r}")


@failing.tool
def chained(user: str, password: str) -> str:
    """A tool whose exception's cause carries the password (a KeyError shows its repr)."""
    try:
        raise KeyError(password)
    except KeyError as exc:
        raise RuntimeError("lookup failed") from exc


@failing.tool
def noted(user: str, password: str) -> str:
    """A tool whose exception carries the password in a note."""
    exc = RuntimeError("failed")
    exc.add_note(f"while using {password}")
    raise exc


@failing.tool
def grouped(user: str, password: str) -> str:
    """A tool raising an exception group whose member names the password."""
    raise ExceptionGroup("several", [ValueError(password), TypeError("other")])


@failing.tool
def as_json(user: str, password: str) -> str:
    """A tool that puts its arguments as JSON in the message."""
    raise RuntimeError(json.dumps({"user": user, "password": password}))


@failing.tool
def only_in_locals(user: str, password: str) -> str:
    """A tool whose message is clean, but whose frame holds the password (tracebacks with locals)."""
    raise RuntimeError("the backend refused the login")


@failing.tool
def nested(user: str, headers: dict[str, str]) -> str:
    """A tool that puts a secret header (nested under a redacted key) in its message."""
    raise RuntimeError(f"request failed: {headers}")


@failing.tool
def numeric(user: str, api_key: int) -> str:
    """A tool that puts a numeric secret in its message."""
    raise RuntimeError(f"key {api_key} refused")


@failing.tool
async def async_message(user: str, password: str) -> str:
    """An async tool that puts the password in its exception's message."""
    raise RuntimeError(f"login failed with password {password}")


@failing.tool
def chosen_error(user: str, password: str) -> str:
    """A tool that sends the password to the model in its own ToolError (its author's choice)."""
    raise toolwire.ToolError(f"wrong password {password}")


@failing.tool
def echo(user: str, password: str) -> str:
    """A tool whose result repeats the password (logged as the output at debug)."""
    return f"{user} logged in with {password}"


ARGUMENTS = {
    "nested": {"user": "u", "headers": {"Authorization": HEADER, "Accept": "text/plain"}},
    "numeric": {"user": "u", "api_key": PIN},
}


class HookThatEchoes:
    """A plugin whose before hook fails with the call's arguments in its message."""

    @toolwire.hookimpl
    def toolwire_before_call(self, call: toolwire.ToolCall, context: Any) -> None:
        if call.name == "echo" and context.state.get("hook_fails"):
            raise RuntimeError(f"hook saw {call.arguments!r}")


class Sink:
    """What a host's logging wrote: formatted text, plus everything the records carried."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []
        self._handler = logging.StreamHandler(self.stream)
        self._handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def __enter__(self) -> Sink:
        structlog.reset_defaults()
        logger = logging.getLogger("toolwire")
        logger.setLevel(logging.DEBUG)
        if self.backend == "logging":
            logger.addHandler(self._handler)
            logger.addFilter(self._keep)
        else:  # what the CLI's --log-format json does: tracebacks as dicts, locals included
            structlog.configure(
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.dict_tracebacks,
                    structlog.processors.JSONRenderer(),
                ],
                logger_factory=structlog.PrintLoggerFactory(file=self.stream),
            )
        return self

    def _keep(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True

    def __exit__(self, *exc_info: object) -> None:
        logger = logging.getLogger("toolwire")
        logger.removeHandler(self._handler)
        logger.removeFilter(self._keep)
        logger.setLevel(logging.NOTSET)
        structlog.reset_defaults()

    def text(self) -> str:
        """All that was written, and the records' attributes (exceptions rendered in full)."""
        parts = [self.stream.getvalue()]
        for record in self.records:
            parts.append(repr(record.__dict__))
            if record.exc_info:
                parts.append("".join(traceback.format_exception(*record.exc_info)))
        return "\n".join(parts)


TOOLS = ["message", "arguments_repr", "chained", "noted", "grouped", "as_json", "only_in_locals",
         "nested", "numeric", "async_message"]  # fmt: skip


@pytest.mark.parametrize("backend", ["logging", "structlog"])
@pytest.mark.parametrize("name", TOOLS)
async def test_a_tools_failure_never_logs_a_secret(
    make: MakeDispatcher, backend: str, name: str
) -> None:
    """However a tool's exception carries a secret argument, every log line shows the mask."""
    dispatcher = make(failing, config=DEBUG)
    arguments = ARGUMENTS.get(name, {"user": "visible-user", "password": PASSWORD})
    with Sink(backend) as sink:
        result = await dispatcher.dispatch(name, arguments)
        if name != "async_message":
            assert not dispatcher.dispatch_sync(name, arguments).success  # the inline path
    assert result.error is not None and result.error.kind == "execution_error"
    text = sink.text()
    assert "toolwire.tool_failed" in text and "[redacted]" in text
    assert "Traceback" in text or '"exc_type"' in text or "exception" in text
    for form in SECRET_FORMS:
        assert form not in text


@pytest.mark.parametrize("backend", ["logging", "structlog"])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "  \n"])
async def test_a_secret_read_from_a_file_is_masked_without_its_newline(
    make: MakeDispatcher, backend: str, ending: str
) -> None:
    """A password that ends in a newline (read from a file) is masked in the failure's log and
    traceback, where the newline is gone."""
    dispatcher = make(failing, config=DEBUG)
    with Sink(backend) as sink:
        result = await dispatcher.dispatch(
            "message", {"user": "u", "password": "hunter2X" + ending}
        )
    assert result.error is not None and "hunter2X" not in result.error.message
    text = sink.text()
    assert "toolwire.tool_failed" in text and "[redacted]" in text
    assert "hunter2X" not in text


@pytest.mark.parametrize("form", ["bytes", "ascii"])
async def test_a_non_ascii_secret_shown_as_bytes_or_through_ascii_is_masked(
    make: MakeDispatcher, form: str
) -> None:
    """A tool that raises with a non-ASCII secret as bytes or ascii() leaks it nowhere."""
    pack = toolwire.Toolset("shown")

    @pack.tool
    def shown(user: str, password: str) -> str:
        """Fail, showing the password."""
        raise ValueError(password.encode() if form == "bytes" else ascii(password))

    dispatcher = make(pack, config=DEBUG)
    with Sink("logging") as sink:
        result = await dispatcher.dispatch("shown", {"user": "u", "password": "pässwörd-geheim"})
    assert result.error is not None
    text = sink.text() + result.error.message
    assert "geheim" not in text and "[redacted]" in text


@pytest.mark.parametrize("backend", ["logging", "structlog"])
async def test_secret_in_a_tools_own_message_or_output_is_masked_in_the_call_log(
    make: MakeDispatcher, backend: str
) -> None:
    """A ToolError naming the password reaches the model as written, the log only masked."""
    dispatcher = make(failing, config=DEBUG)
    arguments = {"user": "visible-user", "password": PASSWORD}
    with Sink(backend) as sink:
        chosen = await dispatcher.dispatch("chosen_error", arguments)
        echoed = await dispatcher.dispatch("echo", arguments)
    assert chosen.error is not None and PASSWORD in chosen.error.message  # its author's choice
    assert PASSWORD in echoed.output
    text = sink.text()
    assert "wrong password [redacted]" in text and "logged in with [redacted]" in text
    for form in SECRET_FORMS:
        assert form not in text


@pytest.mark.parametrize("backend", ["logging", "structlog"])
async def test_a_plugins_failure_never_logs_the_calls_secrets(
    make: MakeDispatcher, backend: str
) -> None:
    """A hook that fails with the call's arguments in its message is logged masked."""
    dispatcher = make(failing, HookThatEchoes(), config=DEBUG)
    with Sink(backend) as sink:
        result = await dispatcher.dispatch(
            "echo", {"user": "u", "password": PASSWORD}, state={"hook_fails": True}
        )
    assert result.error is not None and result.error.kind == "internal_error"
    text = sink.text()
    assert "toolwire.plugin_failed" in text and "hook saw" in text
    for form in SECRET_FORMS:
        assert form not in text


async def test_a_masked_failure_does_not_hand_the_exception_to_handlers(
    make: MakeDispatcher,
) -> None:
    """With a secret to mask, the record carries the masked traceback text, not the exception."""
    dispatcher = make(failing)
    with Sink("logging") as sink:
        await dispatcher.dispatch("message", {"user": "u", "password": PASSWORD})
    (record,) = [r for r in sink.records if r.levelno == logging.ERROR]
    assert record.exc_info is None
    assert record.exc_text is not None and record.exc_text.startswith("Traceback")
    assert record.exc_text.endswith("RuntimeError: login failed with password [redacted]")


@pytest.mark.parametrize("backend", ["logging", "structlog"])
async def test_cyclic_or_deep_arguments_are_logged_without_hanging(
    make: MakeDispatcher, backend: str
) -> None:
    """Host-passed arguments that are cyclic or 10,000 deep are refused and logged, cut short."""
    dispatcher = make(pack, config=DEBUG)
    cyclic: dict[str, Any] = {"password": "hunter2-pw"}
    cyclic["self"] = cyclic
    deep: dict[str, Any] = {"token": "tok-9f8e7d"}
    for _ in range(10_000):
        deep = {"next": deep}
    with Sink(backend) as sink:
        for arguments in (cyclic, deep, {"username": "u", "password": "x", "profile": cyclic}):
            result = await dispatcher.dispatch("login", arguments)
            assert result.error is not None and result.error.kind == "invalid_arguments"
    text = sink.text()
    assert sink.stream.getvalue().count("toolwire.call") == 3 and "[nested too deep]" in text
    assert "hunter2-pw" not in text and "tok-9f8e7d" not in text


many = toolwire.Toolset("many")


@many.tool
def configure(settings: dict[str, str]) -> str:
    """Apply settings, failing with a message that quotes all of them."""
    raise ValueError(f"cannot apply {settings!r}")


@pytest.mark.parametrize("backend", ["logging", "structlog"])
async def test_a_call_with_thousands_of_secrets_still_logs_none_of_them(
    make: MakeDispatcher, backend: str
) -> None:
    """A model may send thousands of secret-named keys: past toolwire's cap on secrets masked
    one by one (MAX_SECRET_TEXTS), every text that would be masked is replaced whole, so the
    failure is still logged, with no secret in it (and the masking does not grow with them)."""
    from toolwire._logging import MAX_SECRET_TEXTS

    dispatcher = make(many, config=DEBUG)
    count = MAX_SECRET_TEXTS + 100
    settings = {f"token_{i}": f"tk-{i:05d}-value" for i in range(count)}
    with Sink(backend) as sink:
        result = await dispatcher.dispatch("configure", {"settings": settings})
    assert result.error is not None and result.error.kind == "execution_error"
    text = sink.text()
    assert "toolwire.tool_failed" in text and "[redacted]" in text
    assert "-value" not in text


def test_past_the_cap_masking_replaces_whole_strings_instead_of_searching_each() -> None:
    """Below MAX_SECRET_TEXTS each secret is masked where it shows; past it, every string
    that would be masked is replaced whole (a cost that does not grow with the secrets)."""
    from toolwire._logging import MAX_SECRET_TEXTS

    redaction = toolwire.types.Redaction(frozenset({"token"}))
    few = redaction.secret_values({"token": "tk-1-value"})
    assert redaction.mask("keep tk-1-value keep", few) == "keep [redacted] keep"
    arguments = {f"token_{i}": f"tk-{i}-value" for i in range(MAX_SECRET_TEXTS + 1)}
    lots = redaction.secret_values(arguments)
    assert redaction.mask({"message": "keep tk-1-value keep", "n": 3}, lots) == {
        "message": "[redacted]",
        "n": 3,
    }


def test_a_text_too_long_for_its_secrets_is_replaced_whole() -> None:
    """A text whose length times the number of secret texts is over MAX_MASK_WORK is
    replaced whole rather than searched for each secret; a shorter one is masked in place."""
    from toolwire._logging import MAX_MASK_WORK

    redaction = toolwire.types.Redaction(frozenset({"token"}))
    secrets = redaction.secret_values({f"token_{i}": f"tk-{i}-value" for i in range(100)})
    short = "keep tk-7-value keep"
    assert redaction.mask(short, secrets) == "keep [redacted] keep"
    long = "x" * (MAX_MASK_WORK // len(secrets) + 1) + " tk-7-value"
    assert redaction.mask({"message": long, "tool": "ok"}, secrets) == {
        "message": "[redacted]",
        "tool": "ok",
    }


def test_the_keys_of_a_mapping_under_a_secret_key_are_secret_too() -> None:
    """``{"tokens": {"ghp_...": "label"}}``: the mapping's keys are the secrets here (those of
    at least four characters, so that short ordinary words are not masked everywhere)."""
    redaction = toolwire.types.Redaction(frozenset({"token"}))
    secrets = redaction.secret_values({"tokens": {"ghp-abc-123": "ci", "nested": {"k-99": 1}}})
    assert {"ghp-abc-123", "ci", "nested", "k-99", "1"} <= set(secrets)
    assert "ab" not in redaction.secret_values({"tokens": {"ab": "x"}})
    shown = redaction.mask("bad tokens {'ghp-abc-123': 'ci'}", secrets)
    assert "ghp-abc-123" not in shown
