"""Approvals asked the 2026-07-28 way: an input-required result, and the client's retry with its
person's answer and the sealed ``requestState``; with the official client, in process and over
``toolwire mcp serve --transport http``."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import mcp_types as types
import pytest
import toolwire
import toolwire_mcp
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.request_state import RequestStateBoundary
from mcp.shared.exceptions import MCPError
from mcp_helpers import DeletionsNeedAPerson, ServedHttp, deletions_pack

MODERN = "2026-07-28"
KEY = secrets.token_hex(32).encode()
INVALID = "Invalid or expired requestState"
#: The two bearer tokens of the HTTP tests.
ADMIN, USER = "adm-" + secrets.token_hex(16), "usr-" + secrets.token_hex(16)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[toolwire.Dispatcher, list[str]]]:
    """A dispatcher whose deletions wait for a person (SQLite store), and what its tools ran."""
    ran: list[str] = []
    dispatcher = toolwire.Dispatcher(
        config={
            "plugins": {"autoload": False},
            "approvals": {"store": f"sqlite:///{tmp_path / 'approvals.sqlite3'}"},
        }
    )
    dispatcher.add(deletions_pack(ran)).add(DeletionsNeedAPerson())
    yield dispatcher, ran
    dispatcher.close()


def _accepting(server: Any) -> Client:
    """A 2026-07-28 client of ``server`` whose person accepts whatever they are asked."""
    return Client(server, mode=MODERN, elicitation_callback=_person("accept"))


def _person(action: str, asked: list[str] | None = None) -> Any:
    async def person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        return types.ElicitResult(action=action)  # type: ignore[arg-type]

    return person


def _said(action: str) -> dict[str, types.InputResponse]:
    return {"approval": types.ElicitResult(action=action)}  # type: ignore[arg-type]


async def _asked(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """Call and get the input-required result; its ``requestState``."""
    first = await client.session.call_tool(name, arguments, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult), first
    assert first.input_requests is not None and set(first.input_requests) == {"approval"}
    assert first.request_state is not None
    return first.request_state


async def _retry(
    client: Client, name: str, arguments: dict[str, Any], state: str, action: str | None
) -> types.CallToolResult:
    result = await client.session.call_tool(
        name,
        arguments,
        input_responses=_said(action) if action is not None else None,
        request_state=state,
        allow_input_required=True,
    )
    assert isinstance(result, types.CallToolResult), result
    return result


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _statuses(dispatcher: toolwire.Dispatcher) -> list[str]:
    return [a.status for a in dispatcher.approvals_sync()]


# -- in process (the SDK's direct transport) ------------------------------------------------------


async def test_accept_runs_the_call_once(desk: tuple[toolwire.Dispatcher, list[str]]) -> None:
    """A 2026-07-28 client that declared elicitation is asked through an input-required result
    (the tool, the reason, the arguments masked); its accept approves the record and the call
    runs once, its result the answer."""
    dispatcher, ran = desk
    asked: list[str] = []
    reports: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append(message)

    async with Client(
        toolwire_mcp.server(dispatcher), mode=MODERN, elicitation_callback=_person("accept", asked)
    ) as client:
        result = await client.call_tool(
            "delete_file", {"path": "a.txt", "api_key": "s3cret"}, progress_callback=on_progress
        )
    assert not result.is_error and _text(result) == "deleted a.txt"
    assert reports == ["deleted a.txt"]  # the approved run's progress reaches the client
    assert ran == ["a.txt"]
    assert len(asked) == 1
    assert "delete_file" in asked[0] and "deleting needs a person" in asked[0]
    assert "a.txt" in asked[0] and "s3cret" not in asked[0] and "[redacted]" in asked[0]
    (record,) = dispatcher.approvals_sync()
    assert record.status == "executed" and record.decided_by == "mcp client"


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_decline_or_cancel_refuses_the_call(
    desk: tuple[toolwire.Dispatcher, list[str]], action: str
) -> None:
    """A decline or cancel in the retry rejects the record: approval_denied, nothing ran."""
    dispatcher, ran = desk
    async with Client(
        toolwire_mcp.server(dispatcher), mode=MODERN, elicitation_callback=_person(action)
    ) as client:
        result = await client.call_tool("delete_file", {"path": "a.txt"})
    assert result.is_error and '"approval_denied"' in _text(result)
    assert ran == []
    (record,) = dispatcher.approvals_sync()
    assert record.status == "rejected" and record.decided_by == "mcp client"


async def test_a_client_without_elicitation_gets_approval_required(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """A 2026-07-28 client that declared no elicitation gets approval_required at once; the
    record waits to be decided elsewhere."""
    dispatcher, ran = desk
    async with Client(toolwire_mcp.server(dispatcher), mode=MODERN) as client:
        result = await client.session.call_tool(
            "delete_file", {"path": "a.txt"}, allow_input_required=True
        )
    assert isinstance(result, types.CallToolResult)
    assert result.is_error and '"approval_required"' in _text(result)
    assert _statuses(dispatcher) == ["pending"] and ran == []


async def test_a_retry_without_an_answer_gets_approval_required_for_the_same_record(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """A retry that carries the requestState but no answer gets approval_required naming the
    same record, which stays pending (no second record is made)."""
    dispatcher, ran = desk
    async with _accepting(toolwire_mcp.server(dispatcher)) as client:
        state = await _asked(client, "delete_file", {"path": "a.txt"})
        result = await _retry(client, "delete_file", {"path": "a.txt"}, state, None)
    (record,) = dispatcher.approvals_sync()
    assert result.is_error and '"approval_required"' in _text(result)
    assert record.id in _text(result) and record.status == "pending" and ran == []


async def test_a_forged_request_state_is_refused_and_approves_nothing(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """A requestState the server did not seal as it stands (made up, edited by one character,
    the plain record id, or the real one for other arguments) gets the SDK's invalid-state
    error, even with an accept: the record stays pending and nothing runs."""
    dispatcher, ran = desk
    async with _accepting(toolwire_mcp.server(dispatcher)) as client:
        state = await _asked(client, "delete_file", {"path": "a.txt"})
        (record,) = dispatcher.approvals_sync()
        flipped = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
        forged = [
            ("delete_file", {"path": "a.txt"}, "v1." + "A" * 120),
            ("delete_file", {"path": "a.txt"}, flipped),
            ("delete_file", {"path": "a.txt"}, f'{{"approval":"{record.id}"}}'),
            ("delete_file", {"path": "b.txt"}, state),
            ("delete_dir", {"path": "a.txt"}, state),
        ]
        for name, arguments, given in forged:
            with pytest.raises(MCPError) as refused:
                await _retry(client, name, arguments, given, "accept")
            assert refused.value.error.code == types.INVALID_PARAMS
            assert refused.value.error.message == INVALID
    assert _statuses(dispatcher) == ["pending"] and ran == []


async def test_a_sealed_state_naming_another_callers_or_tools_record_approves_nothing(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """Even sealed with the server's own key (as a leaked key would let anyone), a state naming
    a record made under another role, or for another tool, is refused on arrival: the
    invalid-state error, and every record stays pending."""
    dispatcher, ran = desk
    alice = toolwire_mcp.server(dispatcher, role="alice", request_state_key=KEY)
    bob = toolwire_mcp.server(dispatcher, role="bob", request_state_key=KEY)
    async with _accepting(alice) as client:
        await _asked(client, "delete_file", {"path": "a.txt"})
    async with _accepting(bob) as client:
        await _asked(client, "delete_dir", {"path": "b"})
        records = {(a.role, a.tool): a for a in dispatcher.approvals_sync()}
        for record in (records["alice", "delete_file"], records["bob", "delete_dir"]):
            # Sealed for bob, this tool and these arguments, by bob's own server.
            minted = await _seal(bob, "delete_file", {"path": "a.txt"}, record.id)
            with pytest.raises(MCPError) as refused:
                await _retry(client, "delete_file", {"path": "a.txt"}, minted, "accept")
            assert refused.value.error.message == INVALID
    assert _statuses(dispatcher) == ["pending", "pending"] and ran == []


async def _seal(server: Any, name: str, arguments: dict[str, Any], approval_id: str) -> str:
    """A requestState naming ``approval_id``, sealed by ``server``'s own boundary for an
    in-process caller of ``name`` with ``arguments``."""
    (boundary,) = [
        m.boundary
        for m in server.middleware
        if isinstance(getattr(m, "boundary", None), RequestStateBoundary)
    ]

    # The parts of a request's context the boundary and the caller's binding read.
    asked = SimpleNamespace(
        method="tools/call", params={"name": name, "arguments": arguments}, request=None
    )

    async def handler(ctx: Any) -> types.InputRequiredResult:
        return types.InputRequiredResult(request_state=f'{{"approval":"{approval_id}"}}')

    sealed = await boundary(asked, handler)  # type: ignore[arg-type]
    assert isinstance(sealed, types.InputRequiredResult) and sealed.request_state is not None
    return sealed.request_state


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_a_retry_after_a_decision_elsewhere_gets_the_stored_result(
    desk: tuple[toolwire.Dispatcher, list[str]], decision: str
) -> None:
    """A retry naming a record decided elsewhere meanwhile (approved and run, or rejected) gets
    that stored result whatever its person answers: nothing runs a second time, and the
    decision is not changed."""
    dispatcher, ran = desk
    async with _accepting(toolwire_mcp.server(dispatcher)) as client:
        state = await _asked(client, "delete_file", {"path": "a.txt"})
        (record,) = dispatcher.approvals_sync()
        if decision == "approve":
            decided = await dispatcher.approve(record.id, by="ops")
        else:
            decided = await dispatcher.reject(record.id, by="ops")
        for action in ("accept", "decline", None):
            result = await _retry(client, "delete_file", {"path": "a.txt"}, state, action)
            assert _text(result) == decided.output
    (record,) = dispatcher.approvals_sync()
    assert record.decided_by == "ops"
    if decision == "approve":
        assert record.status == "executed" and ran == ["a.txt"]
    else:
        assert record.status == "rejected" and ran == []


async def test_a_record_approved_elsewhere_but_not_run_runs_once_on_the_retry(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """A record a person approved elsewhere without running it (approve with run=False, as the
    console does) runs on a retry that brings no answer, keeping who approved it; a later
    retry gets the stored result and runs nothing."""
    dispatcher, ran = desk
    async with _accepting(toolwire_mcp.server(dispatcher)) as client:
        state = await _asked(client, "delete_file", {"path": "a.txt"})
        (record,) = dispatcher.approvals_sync()
        await dispatcher.approve(record.id, by="ops", run=False)
        assert ran == []
        result = await _retry(client, "delete_file", {"path": "a.txt"}, state, None)
        again = await _retry(client, "delete_file", {"path": "a.txt"}, state, "accept")
    assert _text(result) == _text(again) == "deleted a.txt" and ran == ["a.txt"]
    (record,) = dispatcher.approvals_sync()
    assert record.status == "executed" and record.decided_by == "ops"


async def test_a_retry_reaching_a_server_without_the_key_fails_closed(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """A state sealed under one server's own key is refused by another server (as another
    process would refuse it), and nothing is decided; servers given one shared key accept
    each other's, and the call runs once."""
    dispatcher, ran = desk
    async with _accepting(toolwire_mcp.server(dispatcher)) as first:
        state = await _asked(first, "delete_file", {"path": "a.txt"})
    async with Client(toolwire_mcp.server(dispatcher), mode=MODERN) as other:
        with pytest.raises(MCPError) as refused:
            await _retry(other, "delete_file", {"path": "a.txt"}, state, "accept")
        assert refused.value.error.message == INVALID
    assert _statuses(dispatcher) == ["pending"] and ran == []

    shared = [toolwire_mcp.server(dispatcher, request_state_key=KEY) for _ in range(2)]
    async with _accepting(shared[0]) as one:
        state = await _asked(one, "delete_file", {"path": "b.txt"})
    async with Client(shared[1], mode=MODERN) as two:
        result = await _retry(two, "delete_file", {"path": "b.txt"}, state, "accept")
    assert _text(result) == "deleted b.txt" and ran == ["b.txt"]


async def test_the_2025_revision_still_asks_with_a_server_request(
    desk: tuple[toolwire.Dispatcher, list[str]],
) -> None:
    """On 2025-11-25 the person is still asked through elicitation/create in the same request
    (no input-required result), and a requestState sent there is not read, as before."""
    dispatcher, ran = desk
    asked: list[str] = []
    reports: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append(message)

    async with Client(
        toolwire_mcp.server(dispatcher),
        mode="legacy",
        elicitation_callback=_person("accept", asked),
    ) as client:
        result = await client.session.call_tool(
            "delete_file", {"path": "a.txt"}, progress_callback=on_progress
        )
        assert reports == ["deleted a.txt"]  # the approved run's progress reaches the client
        again = await client.session.call_tool(
            "delete_file", {"path": "b.txt"}, request_state="v1.not-sealed-here"
        )
    assert isinstance(result, types.CallToolResult) and _text(result) == "deleted a.txt"
    assert isinstance(again, types.CallToolResult) and _text(again) == "deleted b.txt"
    assert len(asked) == 2 and ran == ["a.txt", "b.txt"]


def test_a_short_key_from_code_is_refused(desk: tuple[toolwire.Dispatcher, list[str]]) -> None:
    """A request-state key under 32 bytes passed in code stops the server's creation."""
    dispatcher, _ = desk
    with pytest.raises(toolwire.ConfigError, match="at least 32"):
        toolwire_mcp.server(dispatcher, request_state_key=b"k" * 31)


# -- the key setting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "is not set"),
        ("x" * 40, "anyone could guess"),
        ("9f3c1a7e5b2d4c6e8a0b1d3f", "needs at least 32"),  # random-looking, 24 bytes
    ],
    ids=["unset", "guessable", "short"],
)
def test_a_missing_or_weak_shared_key_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, said: str
) -> None:
    """``request_state_key_env`` naming an unset variable, a guessable key or one under 32
    bytes stops serving with a message naming the setting, never the key."""
    monkeypatch.setenv("TW_TOKEN", "t" + secrets.token_hex(16))
    if value is None:
        monkeypatch.delenv("TW_STATE_KEY", raising=False)
    else:
        monkeypatch.setenv("TW_STATE_KEY", value)
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp"]\n'
        '[plugins.mcp.serve]\nrequest_state_key_env = "TW_STATE_KEY"\n'
        '[plugins.mcp.serve.tokens]\nadmin = "TW_TOKEN"\n'
    )
    dispatcher = toolwire.Dispatcher.from_config(config)
    try:
        with pytest.raises(toolwire.ConfigError) as stopped:
            toolwire_mcp.asgi_app(dispatcher)
    finally:
        dispatcher.close()
    message = str(stopped.value)
    assert "request_state_key_env" in message and said in message
    assert value is None or value not in message


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_toolwire_mcp_serve_stops_on_a_missing_key(tmp_path: Path, transport: str) -> None:
    """``toolwire mcp serve`` on either transport, its shared key's variable unset, exits at
    start with a message saying what to set, and serves nothing."""
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n'
        '[plugins.mcp.serve]\nrequest_state_key_env = "TW_E29_UNSET_KEY"\n'
        '[plugins.mcp.serve.tokens]\nadmin = "TW_E29_ADMIN"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "TW_E29_UNSET_KEY"}
    stopped = subprocess.run(
        [sys.executable, "-m", "toolwire.cli", "mcp", "serve", "--transport", transport,
         "--port", "0", "--config", str(config)] if transport == "http" else
        [sys.executable, "-m", "toolwire.cli", "mcp", "serve", "--config", str(config)],
        env={**env, "TW_E29_ADMIN": ADMIN}, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert stopped.returncode == 2 and stopped.stdout == ""
    assert "request_state_key_env" in stopped.stderr and "TW_E29_UNSET_KEY" in stopped.stderr
    assert "at least 32 random bytes" in stopped.stderr


# -- over HTTP: toolwire mcp serve, as an operator starts it --------------------------------------


def _started(config: Path, extra_env: dict[str, str]) -> ServedHttp:
    """``toolwire mcp serve --transport http`` on ``config``, with the two tokens."""
    env = {**os.environ, "TW_E29_ADMIN": ADMIN, "TW_E29_USER": USER, **extra_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "toolwire.cli", "mcp", "serve", "--transport", "http",
         "--port", "0", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return ServedHttp(process)


@contextlib.contextmanager
def _serving(config: Path, count: int, key: str | None) -> Iterator[list[ServedHttp]]:
    extra = {"TW_E29_STATE_KEY": key} if key is not None else {}
    started: list[ServedHttp] = []
    try:
        for _ in range(count):
            started.append(_started(config, extra))
        yield started
    finally:
        for served in started:
            served.stop()


def _http_config(tmp_path: Path, shared_key: bool) -> Path:
    """The demo pack, get_weather gated by the operator, two tokens, one SQLite store."""
    config = tmp_path / ("shared.toml" if shared_key else "toolwire.toml")
    key = 'request_state_key_env = "TW_E29_STATE_KEY"\n' if shared_key else ""
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n'
        f'[approvals]\nstore = "sqlite:///{tmp_path / "approvals.sqlite3"}"\n'
        "[tools.get_weather]\napproval = true\n"
        f"[plugins.mcp.serve]\n{key}"
        '[plugins.mcp.serve.tokens]\nadmin = "TW_E29_ADMIN"\nuser = "TW_E29_USER"\n'
    )
    return config


@contextlib.asynccontextmanager
async def _http_client(url: str, token: str, person: Any = None) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0)
    )
    transport = streamable_http_client(url, http_client=http)
    async with http, Client(transport, mode=MODERN, elicitation_callback=person) as client:
        yield client


def _records(config: Path) -> list[toolwire.Approval]:
    """The approval records as the operator's own tools read them from the shared store."""
    dispatcher = toolwire.Dispatcher.from_config(config)
    try:
        return dispatcher.approvals_sync()
    finally:
        dispatcher.close()


@pytest.mark.slow
async def test_over_http_a_replay_by_another_caller_approves_nothing(tmp_path: Path) -> None:
    """Over streamable HTTP with tokens: the user token replaying the admin's requestState
    with an accept gets the invalid-state error and nothing is decided; the admin's own retry
    runs the call once, approved by its principal; a second retry gets the stored result; a
    decline refuses; a client without elicitation gets approval_required."""
    config = _http_config(tmp_path, shared_key=False)
    paris = {"location": "Paris"}
    with _serving(config, 1, None) as (served,):
        async with _http_client(served.url, ADMIN, _person("accept")) as admin:
            state = await _asked(admin, "get_weather", paris)
            async with _http_client(served.url, USER, _person("accept")) as user:
                with pytest.raises(MCPError) as refused:
                    await _retry(user, "get_weather", paris, state, "accept")
                assert refused.value.error.message == INVALID
            assert [r.status for r in _records(config)] == ["pending"]
            ran = await _retry(admin, "get_weather", paris, state, "accept")
            assert not ran.is_error and "Paris" in _text(ran)
            (record,) = _records(config)
            assert record.status == "executed" and record.decided_by == "token:admin"
            again = await _retry(admin, "get_weather", paris, state, "accept")
            assert _text(again) == _text(ran)
            assert _records(config)[0].decided_at == record.decided_at
        async with _http_client(served.url, USER, _person("decline")) as user:
            declined = await user.call_tool("get_weather", {"location": "Oslo"})
            assert declined.is_error and '"approval_denied"' in _text(declined)
        async with _http_client(served.url, USER) as plain:
            waiting = await plain.session.call_tool(
                "get_weather", {"location": "Rome"}, allow_input_required=True
            )
            assert isinstance(waiting, types.CallToolResult)
            assert waiting.is_error and '"approval_required"' in _text(waiting)
    statuses = sorted((r.decided_by or "", r.status) for r in _records(config))
    assert statuses == [("", "pending"), ("token:admin", "executed"), ("token:user", "rejected")]


@pytest.mark.slow
async def test_over_http_a_retry_reaching_another_process(tmp_path: Path) -> None:
    """A retry reaching another ``toolwire mcp serve`` process fails closed (invalid-state,
    nothing decided) when each process made its own key, and runs the call once when both
    read one shared key from request_state_key_env."""
    paris = {"location": "Paris"}
    ephemeral = _http_config(tmp_path, shared_key=False)
    with _serving(ephemeral, 2, None) as (one, two):
        async with _http_client(one.url, ADMIN, _person("accept")) as admin:
            state = await _asked(admin, "get_weather", paris)
        async with _http_client(two.url, ADMIN) as admin:
            with pytest.raises(MCPError) as refused:
                await _retry(admin, "get_weather", paris, state, "accept")
            assert refused.value.error.message == INVALID
    assert [r.status for r in _records(ephemeral)] == ["pending"]

    shared = _http_config(tmp_path, shared_key=True)
    with _serving(shared, 2, secrets.token_hex(32)) as (one, two):
        async with _http_client(one.url, ADMIN, _person("accept")) as admin:
            state = await _asked(admin, "get_weather", {"location": "Oslo"})
        async with _http_client(two.url, ADMIN) as admin:
            result = await _retry(admin, "get_weather", {"location": "Oslo"}, state, "accept")
            assert not result.is_error and "Oslo" in _text(result)
    assert sorted(r.status for r in _records(shared)) == ["executed", "pending"]
