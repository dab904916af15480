"""A lone surrogate from a model (``"\\ud800"``, valid JSON, not valid Unicode) is a clear
``invalid_arguments`` naming where it is, never an internal error, wherever the call goes next."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from toolwire.testing import build_response

from ..conftest import MakeDispatcher

runs: Counter[str] = Counter()

pack = toolwire.Toolset("surrogates")


@pack.tool
def greet(name: str, profile: dict[str, Any] | None = None, tags: list[str] | None = None) -> str:
    """Greet someone.

    Args:
        name: Who.
        profile: Free-form settings.
        tags: Labels.
    """
    runs["greet"] += 1
    return f"hello {name}"


@pack.tool(approval=True)
def transfer(account: str, note: str = "") -> str:
    """Move money; a person approves each call.

    Args:
        account: Where to.
        note: What for.
    """
    runs["transfer"] += 1
    return f"sent to {account}"


#: (arguments as the model's JSON text, the path the error names, whether it is a key)
CASES = [
    ('{"name": "\\ud800"}', "name", False),
    ('{"name": "ok\\udfff"}', "name", False),  # a trailing half
    ('{"name": "\\ude00\\ud83d"}', "name", False),  # both halves, in the wrong order
    ('{"na\\ud800me": "x"}', "na\\ud800me", True),  # an unknown key
    ('{"name": "x", "profile": {"ci\\udc00ty": "Oslo"}}', "profile.ci\\udc00ty", True),
    ('{"name": "x", "profile": {"home": {"city": "\\ud800"}}}', "profile.home.city", False),
    ('{"name": "x", "tags": ["a", "b\\ud801"]}', "tags[1]", False),
    ('{"name": "x", "profile": {"k": [{"\\uDBFF": 1}]}}', "profile.k[0].\\udbff", True),
]
IDS = ["value", "trailing-half", "reversed-pair", "key", "nested-key", "nested", "array", "upper"]


def assert_refused(result: toolwire.DispatchResult, path: str, key: bool) -> None:
    """The call was refused as invalid arguments naming the path, and the output encodes."""
    assert result.error is not None, result.output
    assert result.error.kind == "invalid_arguments", result.error.message
    assert result.error.details == {"path": path}
    where = f"the key {path}" if key else path
    assert f"{where} holds a lone surrogate" in result.error.message
    result.output.encode("utf-8")  # what the model reads is valid Unicode
    result.error.message.encode("utf-8")


@pytest.mark.parametrize(("text", "path", "key"), CASES, ids=IDS)
async def test_a_lone_surrogate_in_json_text_is_invalid_arguments_naming_its_path(
    make: MakeDispatcher, text: str, path: str, key: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Sent as a JSON escape, in a value or a key at any depth: invalid_arguments with the
    path, the tool never runs, and nothing is logged as an error."""
    runs.clear()
    dispatcher = make(pack)
    with caplog.at_level(logging.DEBUG, logger="toolwire"):
        result = await dispatcher.dispatch("greet", text)
    assert_refused(result, path, key)
    assert runs["greet"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("text", "path", "key"), CASES, ids=IDS)
async def test_a_lone_surrogate_in_a_host_mapping_is_refused_the_same_way(
    make: MakeDispatcher, text: str, path: str, key: bool
) -> None:
    """Arguments a host passes as Python data (already decoded) get the same answer."""
    runs.clear()
    dispatcher = make(pack)
    result = await dispatcher.dispatch("greet", json.loads(text))
    assert_refused(result, path, key)
    assert runs["greet"] == 0


async def test_a_raw_surrogate_character_in_json_text_is_refused(make: MakeDispatcher) -> None:
    """A host's text that holds the surrogate itself (not its escape) is refused too."""
    dispatcher = make(pack)
    result = await dispatcher.dispatch("greet", '{"name": "a\ud800b"}')
    assert_refused(result, "name", False)


async def test_the_first_surrogate_in_document_order_is_named(make: MakeDispatcher) -> None:
    """With several, the error names the first as the model wrote them."""
    dispatcher = make(pack)
    text = '{"name": "x", "profile": {"a": "\\ud800", "b": "\\ud801"}, "tags": ["\\ud802"]}'
    for arguments in (text, json.loads(text)):
        result = await dispatcher.dispatch("greet", arguments)
        assert result.error is not None and result.error.details == {"path": "profile.a"}


async def test_a_cyclic_host_mapping_with_a_surrogate_is_refused_without_hanging(
    make: MakeDispatcher,
) -> None:
    """A host's mapping that holds itself twice is named by path, each container walked once
    (not every one of the 2**64 paths through the cycle)."""
    looped: dict[str, Any] = {}
    looped.update(a=looped, b=looped, name="\ud800")
    result = await make(pack).dispatch("greet", looped)
    assert result.error is not None and result.error.details == {"path": "name"}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "\\ud83d\\ude00"}',  # a pair: one emoji
        '{"name": "\\\\ud800"}',  # an escaped backslash, then the letters: no surrogate
        '{"name": "\\u00e9t\\u00e9 \\uD83D\\uDE00"}',
        '{"name": "caf\u00e9 \U0001f600"}',
    ],
    ids=["pair", "escaped-backslash", "upper-pair", "utf8"],
)
async def test_valid_text_that_looks_close_still_runs(make: MakeDispatcher, text: str) -> None:
    """Surrogate pairs, an escaped backslash before 'ud800', and plain UTF-8 are fine."""
    dispatcher = make(pack)
    result = await dispatcher.dispatch("greet", text)
    assert result.success, result.output
    assert result.output == f"hello {json.loads(text)['name']}"


@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic", "gemini"])
async def test_process_response_answers_each_call_and_the_others_run(
    make: MakeDispatcher, provider: str
) -> None:
    """Through every provider the call with a lone surrogate gets invalid_arguments with its
    path and the call beside it runs."""
    runs.clear()
    dispatcher = make(pack)
    response = build_response(
        provider,
        [("greet", '{"name": "x", "profile": {"c\\udc00": 1}}'), ("greet", '{"name": "Ann"}')],
    )
    items = await dispatcher.process_response(response)
    # ASCII: Anthropic's and Gemini's items repeat the model's own call, surrogate included.
    text = json.dumps(items)
    assert "hello Ann" in text
    # The path's escape is escaped again by each provider's own JSON nesting.
    assert "invalid_arguments" in text and "profile.c\\" in text and "udc00 holds" in text
    assert runs["greet"] == 1


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_an_approval_gated_call_is_refused_before_anything_is_recorded(
    make: MakeDispatcher, tmp_path: Path, store: str
) -> None:
    """A gated call is answered invalid_arguments (not internal_error from the digest), and no
    approval is recorded for a person to decide."""
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'approvals.sqlite3'}"
    dispatcher = make(pack, config={"approvals": {"store": url}})
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("transfer", '{"account": "A1", "note": "\\ud800"}')
        keyed = await dispatcher.dispatch("transfer", {"account": "A1", "n\udfffte": "x"})
    assert_refused(result, "note", False)
    assert_refused(keyed, "n\\udfffte", True)
    assert await dispatcher.approvals() == []
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    held = await dispatcher.process_response(
        build_response("openai-responses", [("transfer", '{"account": "\\udbff"}')])
    )
    assert "invalid_arguments" in json.dumps(held)
    assert await dispatcher.approvals() == []


@pytest.mark.parametrize(
    ("call_id", "role", "state"),
    [("c\ud800", None, None), ("c1", "r\udfff", None), ("c1", None, {"principal": "p\udc00"})],
    ids=["call-id", "role", "principal"],
)
async def test_a_gated_call_whose_id_role_or_principal_is_not_text_is_rejected(
    make: MakeDispatcher, call_id: str, role: str | None, state: dict[str, str] | None
) -> None:
    """A lone surrogate in a gated call's id, role or principal is answered rejected (not
    internal_error with a traceback): nothing recorded, nothing run, no error logged."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://"}})
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch(
            "transfer", {"account": "A1"}, call_id=call_id, role=role, state=state
        )
    assert result.error is not None and result.error.kind == "rejected"
    assert "not valid Unicode text" in result.error.message
    assert await dispatcher.approvals() == []
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]


async def test_with_the_audit_and_otel_plugins_on_every_record_is_written(
    make: MakeDispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the audit trail and tracing on, the refused calls are audited (the trail verifies)
    and traced with encodable text, and the call log holds no error."""
    toolwire_audit = pytest.importorskip("toolwire_audit")
    toolwire_otel = pytest.importorskip("toolwire_otel")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv("TOOLWIRE_AUDIT_KEY", "7c1e0f3a9b5d2e8c4a6f0b1d3e5c7a9f")
    trail = tmp_path / "audit.jsonl"
    exporter = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    config = {
        "approvals": {"store": "memory://"},
        "plugins": {
            "audit": {"path": str(trail), "include_arguments": True},
            "otel": {"capture_content": True},
        },
    }
    dispatcher = make(pack, config=config)
    dispatcher.add(toolwire_audit.AuditPlugin(), name="audit")
    dispatcher.add(toolwire_otel.OtelPlugin(tracer_provider=tracing), name="otel")
    with structlog.testing.capture_logs() as logs:
        answers = [
            await dispatcher.dispatch("greet", '{"name": "\\ud800"}'),
            await dispatcher.dispatch("greet", {"name": "x", "profile": {"k\ud800": 1}}),
            await dispatcher.dispatch("transfer", '{"account": "\\udc00"}'),
        ]
        items = await dispatcher.process_response(
            build_response("anthropic", [("greet", '{"name": "x", "tags": ["\\ud800"]}')])
        )
    assert [a.error.kind if a.error else None for a in answers] == ["invalid_arguments"] * 3
    assert "tags[0]" in json.dumps(items)
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    dispatcher.close()
    tracing.shutdown()
    records = [json.loads(line) for line in trail.read_text("ascii").splitlines()]
    assert [r["error_kind"] for r in records] == ["invalid_arguments"] * 4
    assert toolwire_audit.verify([trail]).ok
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert len(spans) == 4
    for span in spans:
        parts = [dict(span.attributes or {}), span.status.description]
        parts += [dict(e.attributes or {}) for e in span.events]
        json.dumps(parts, ensure_ascii=False).encode("utf-8")
        assert span.attributes is not None and span.attributes["error.type"] == "invalid_arguments"


@pytest.mark.parametrize("where", ["by", "message", "approval_id"])
async def test_a_decision_whose_text_is_not_unicode_is_refused_as_such(
    make: MakeDispatcher, where: str
) -> None:
    """A lone surrogate in approve's by=, reject's message= or the approval id is refused
    naming it (never blamed on the store), and the record stays pending."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://"}})
    held = await dispatcher.dispatch("transfer", {"account": "A1"})
    assert held.approval is not None
    approval_id = held.approval.id + ("\ud800" if where == "approval_id" else "")
    if where == "message":
        decision = dispatcher.reject(approval_id, by="alice", message="no\udfff")
    else:
        decision = dispatcher.approve(approval_id, by="alice\ud800" if where == "by" else "alice")
    with pytest.raises(toolwire.ApprovalError, match=f"{where} is not valid Unicode text"):
        await decision
    assert [a.status for a in await dispatcher.approvals()] == ["pending"]
