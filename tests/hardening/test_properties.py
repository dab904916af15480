"""Random batches for every provider: one valid SDK-shaped result per call, in order, by call id.

Each example is a whole model response (valid calls, invalid arguments, unknown names, tools
that fail, time out or are slow, plugins that raise or deny) sent through
``process_response``; what comes back is checked against the official SDK's own types.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest
import structlog
import toolwire
from google.genai import types as genai_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolwire.testing import build_response, make_dispatcher

from ..sdk_checks import sdk_validate

PROVIDERS = ("openai-responses", "openai-chat", "anthropic", "gemini")
EXAMPLES_PER_PROVIDER = 500
EXAMPLES_DISPATCH_MANY = 1000
SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis directory in the tree; failures print their example
    "suppress_health_check": [HealthCheck.too_slow],
}

#: Modes of the probe tools, and whether a call in that mode succeeds.
MODES: dict[str, bool] = {
    "ok": True,
    "slow": True,
    "big": True,
    "raise": False,
    "tool_error": False,
    "cancel": False,
    "exit": False,
    "timeout": False,
    "deny": False,
    "perm_raise": False,
    "before_raise": False,
    "after_raise": False,
    "FMT_EXPLODE": False,
}

pack = toolwire.Toolset("props")


def _probe(mode: str) -> str:
    if mode == "raise":
        raise RuntimeError("unexpected")
    if mode == "tool_error":
        raise toolwire.ToolError("meant for the model")
    if mode == "exit":
        raise SystemExit(1)
    if mode == "big":
        return "z" * 5_000
    return mode


@pack.tool(max_output_chars=1_000)
def probe(mode: str) -> str:
    """A plain function that does what its mode says.

    Args:
        mode: What to do.
    """
    if mode == "slow":
        import time

        time.sleep(0.002)
    if mode == "cancel":
        raise asyncio.CancelledError
    return _probe(mode)


@pack.tool(timeout=0.2, max_output_chars=1_000)  # 100x what "slow" takes: load cannot flip it
async def aprobe(mode: str) -> str:
    """A coroutine that does what its mode says.

    Args:
        mode: What to do.
    """
    if mode == "slow":
        await asyncio.sleep(0.002)
    if mode == "timeout":
        await asyncio.sleep(10)
    if mode == "cancel":
        raise asyncio.CancelledError
    return _probe(mode)


@pack.tool(timeout=0.02)
def count(n: int, label: str = "") -> int:
    """Return n.

    Args:
        n: A number.
        label: A label.
    """
    return n


class Misbehaves:
    """Per-call hooks that deny, raise or fail to format, as the call's mode asks."""

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: toolwire.ToolCall, context: Any) -> Any:
        mode = call.arguments.get("mode") if isinstance(call.arguments, dict) else None
        if mode == "perm_raise":
            raise RuntimeError("permission plugin bug")
        return toolwire.Deny("no") if mode == "deny" else True

    @toolwire.hookimpl
    async def toolwire_before_call(self, call: toolwire.ToolCall, context: Any) -> None:
        if isinstance(call.arguments, dict) and call.arguments.get("mode") == "before_raise":
            raise KeyError("before plugin bug")

    @toolwire.hookimpl
    def toolwire_after_call(self, call: toolwire.ToolCall, result: Any, context: Any) -> Any:
        if isinstance(call.arguments, dict) and call.arguments.get("mode") == "after_raise":
            raise ValueError("after plugin bug")
        return None

    @toolwire.hookimpl
    def toolwire_format_result(
        self, call: toolwire.ToolCall, result: Any, provider: str, context: Any
    ) -> Any:
        if "FMT_EXPLODE" in str(call.arguments):
            raise RuntimeError("format plugin bug")
        return None


TOOL_NAMES = frozenset(t.name for t in pack)

# -- strategies --------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
broken_json = st.sampled_from(
    ['{"mode": "ok"', "[1, 2]", '"ok"', "null", "NaN", '{"mode": NaN}', "```json\n{}\n```",
     "{'mode': 'ok'}", '{"mode": "ok",}', "", "{}", '{"n": 1e999}', "{" * 500]
)  # fmt: skip
unknown_names = st.text(max_size=80).filter(lambda n: n not in TOOL_NAMES) | st.sampled_from(
    ["", "prob", "Probe", "count ", "counts", "x" * 10_000]
)


def _expected(name: str, arguments: Any) -> bool | None:
    """Whether the call must succeed (``None``: it may go either way)."""
    if name in ("probe", "aprobe") and arguments == {"mode": arguments.get("mode")}:
        if name == "probe" and arguments["mode"] == "timeout":
            return True  # only aprobe has a deadline
        return MODES.get(arguments["mode"])
    if name in TOOL_NAMES:
        return None
    return False


@st.composite
def calls(draw: st.DrawFn, *, text_arguments: bool) -> tuple[str, Any, bool | None]:
    """One call: a valid probe, a valid count, bad arguments for a real tool, or an unknown tool."""
    kind = draw(st.sampled_from(["probe", "count", "bad", "unknown"]))
    if kind == "probe":
        name = draw(st.sampled_from(["probe", "aprobe"]))
        arguments: Any = {"mode": draw(st.sampled_from(list(MODES)))}
    elif kind == "count":
        name, arguments = "count", {"n": draw(st.integers(-(2**63), 2**63))}
        if draw(st.booleans()):
            arguments["label"] = draw(st.text(max_size=20))
    elif kind == "bad":
        name = draw(st.sampled_from(sorted(TOOL_NAMES)))
        arguments = draw(json_objects | broken_json if text_arguments else json_objects)
    else:
        name = draw(unknown_names)
        arguments = draw(json_objects)
    if text_arguments and isinstance(arguments, dict) and draw(st.booleans()):
        arguments = json.dumps(arguments)  # as the OpenAI APIs carry it
    parsed = arguments if isinstance(arguments, dict) else _loads(arguments)
    return name, arguments, _expected(name, parsed) if isinstance(parsed, dict) else False


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=lambda c: math.nan)
    except ValueError:
        return None


# -- SDK validation ----------------------------------------------------------------------------


def _answers(provider: str, items: list[Any], n_calls: int) -> list[tuple[str | None, bool]]:
    """Validate the items against the provider's SDK; return each answer's (call id, success)."""
    if provider == "openai-responses":
        sdk_validate(openai.types.responses.ResponseInputParam, items)
        outputs = items[len(items) - n_calls :]
        assert all(o["type"] == "function_call_output" for o in outputs)
        return [(o["call_id"], not _is_error_text(o["output"])) for o in outputs]
    if provider == "openai-chat":
        for item in items:
            sdk_validate(openai.types.chat.ChatCompletionMessageParam, item)
        assert items[0]["role"] == "assistant"
        return [(o["tool_call_id"], not _is_error_text(o["content"])) for o in items[1:]]
    if provider == "anthropic":
        for item in items:
            sdk_validate(anthropic.types.MessageParam, item)
        blocks = items[1]["content"] if n_calls else []
        assert len(items) == (2 if n_calls else 1)
        return [(b["tool_use_id"], not b.get("is_error", False)) for b in blocks]
    contents = [genai_types.Content.model_validate(item) for item in items]
    assert len(items) == (2 if n_calls else 1)
    parts = contents[1].parts or [] if n_calls else []
    answers = []
    for part in parts:
        response = part.function_response
        assert response is not None and response.response is not None
        assert set(response.response) in ({"output"}, {"error"})
        answers.append((response.id, "output" in response.response))
    return answers


def _is_error_text(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and set(value) >= {"error", "message", "retryable"}


def _check(
    provider: str,
    batch: list[tuple[str, Any, bool | None]],
    items: list[Any],
    ids: list[str | None],
) -> None:
    answers = _answers(provider, items, len(batch))
    assert [call_id for call_id, _ in answers] == ids
    for (name, arguments, expected), (_, success) in zip(batch, answers, strict=True):
        if expected is not None:
            assert success is expected, (name, arguments)
    text = json.dumps(items)
    assert "Traceback" not in text and "plugin bug" not in text


def _check_logs(logs: list[dict[str, Any]]) -> None:
    """Only the misbehaving plugin fails; the built-in ones never do, whatever the calls."""
    failed = {e.get("plugin") for e in logs if e["event"] == "toolwire.plugin_failed"}
    assert failed <= {"misbehaves"}, [e for e in logs if e.get("plugin") != "misbehaves"]


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_call_gets_one_valid_result_in_order(provider: str) -> None:
    """Whatever a batch holds, results match its calls by number, order and id, valid for the SDK."""
    text_arguments = provider.startswith("openai")
    dispatcher = make_dispatcher(pack, config={"limits": {"max_batch_calls": 6}})
    dispatcher.add(Misbehaves(), name="misbehaves")
    examples: list[int] = []

    with asyncio.Runner() as runner:

        @settings(max_examples=EXAMPLES_PER_PROVIDER, **SETTINGS)
        @given(
            batch=st.lists(calls(text_arguments=text_arguments), max_size=8),
            drop_ids=st.booleans(),
            id_suffix=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=6),
        )
        def check(
            batch: list[tuple[str, Any, bool | None]], drop_ids: bool, id_suffix: str
        ) -> None:
            examples.append(len(batch))
            ids: list[str | None] = [f"call_{i}{id_suffix}" for i in range(len(batch))]
            response = build_response(
                provider, [(n, a, i) for (n, a, _), i in zip(batch, ids, strict=True)]
            )
            if provider == "gemini" and drop_ids:  # Gemini may send calls without ids
                for part in response["candidates"][0]["content"]["parts"]:
                    del part["functionCall"]["id"]
                ids = [None] * len(batch)
            # Past max_batch_calls every call fails, whatever it is.
            batch = [(n, a, e if i < 6 else False) for i, (n, a, e) in enumerate(batch)]
            with structlog.testing.capture_logs() as logs:
                items = runner.run(dispatcher.process_response(response, provider))
            _check(provider, batch, items, ids)
            _check_logs(logs)

        check()
    dispatcher.close()
    assert len(examples) >= EXAMPLES_PER_PROVIDER and sum(examples) > 2 * len(examples)


host_values = st.recursive(
    json_scalars | st.sampled_from([math.nan, math.inf, b"bytes", object(), {1, 2}, (1, 2)]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@pytest.mark.slow
def test_dispatch_many_answers_every_host_call() -> None:
    """Calls a host builds itself (any Python values, names of any type) get one result each."""
    dispatcher = make_dispatcher(pack, config={"limits": {"max_batch_calls": 6}})
    dispatcher.add(Misbehaves(), name="misbehaves")
    names = st.sampled_from(sorted(TOOL_NAMES)) | unknown_names | st.none() | st.integers()
    examples: list[int] = []

    with asyncio.Runner() as runner:

        @settings(max_examples=EXAMPLES_DISPATCH_MANY, **SETTINGS)
        @given(
            batch=st.lists(
                st.tuples(names, host_values | calls(text_arguments=True).map(lambda c: c[1])),
                max_size=10,
            )
        )
        def check(batch: list[tuple[Any, Any]]) -> None:
            examples.append(len(batch))
            host_calls = [
                toolwire.ToolCall(name, arguments, f"h{i}")
                for i, (name, arguments) in enumerate(batch)
            ]
            with structlog.testing.capture_logs() as logs:
                results = runner.run(dispatcher.dispatch_many(host_calls))
            _check_logs(logs)
            assert [r.call_id for r in results] == [c.call_id for c in host_calls]
            for result in results:
                assert isinstance(result.output, str)
                assert result.success is (result.error is None)
                if result.error is not None:
                    assert json.loads(result.output)["error"] == result.error.kind
                    assert "Traceback" not in result.output

        check()
    dispatcher.close()
    assert len(examples) >= EXAMPLES_DISPATCH_MANY and sum(examples) > 2 * len(examples)
