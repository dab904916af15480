"""A held turn from the command line: ``toolwire dispatch`` prints what ran and what waits and
exits 3, a person decides in another process, and ``toolwire approvals resume TURN`` prints the
turn's items once; a ``memory://`` store refuses before anything runs."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Message, MessageParam, ToolUseBlock, Usage
from openai.types.responses import Response, ResponseFunctionToolCall, ResponseInputParam
from toolwire.testing import install_plugin, process_environment, run_toolwire

from ..sdk_checks import sdk_validate
from ..sites import Site, write_approvals_config

KEY = "sk-live-7Qd93xw"

PLUGIN_MODULE = '''
"""Tools that leave a trace in $TWHELD_LEDGER each time their body runs, and a permission voter."""

import os

import toolwire

pack = toolwire.Toolset("held-fixtures")


def _did(line):
    with open(os.environ["TWHELD_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(line + "\\n")


@pack.tool(approval=True)
def delete_user(user_id: int, api_key: str = "") -> str:
    """Delete a user account for good (a person approves)."""
    _did(f"delete {user_id}")
    return f"deleted user {user_id}"


@pack.tool
def get_user(user_id: int) -> dict:
    """Look a user up."""
    _did(f"get {user_id}")
    return {"id": user_id, "name": "Ada"}


@pack.tool
def send_mail(to: str) -> str:
    """Send a mail."""
    _did(f"mail {to}")
    return f"sent to {to}"


class LargeRefunds:
    """Votes on permissions: asks a person for nothing the tests call, but it could."""

    @toolwire.hookimpl
    def toolwire_check_permission(self, call, context):
        if call.name == "refund":
            return toolwire.RequireApproval("refunds need a second person")
        return None


voter = LargeRefunds()
'''


@dataclass
class Operator(Site):
    """Runs the installed ``toolwire`` command on one config, as an operator would."""

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run_words("--config", str(self.config), *args, stdin=stdin)

    def run_words(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The ``toolwire`` command with exactly these arguments, in the config's folder."""
        env = process_environment(
            drop=("TOOLWIRE_", "PYTHON"),
            pythonpath=self.site,
            TWHELD_LEDGER=str(self.ledger),
            COLUMNS="200",
        )
        return run_toolwire(*args, stdin=stdin, env=env, cwd=self.config.parent, timeout=60)


@pytest.fixture
def operator_for(tmp_path: Path) -> Callable[..., Operator]:
    """An ``Operator`` on a config with the fixture pack and the given approval store."""
    site = install_plugin(
        tmp_path / "site",
        "twheld-fixtures",
        {"held-fixtures": "twheld_fixtures:pack", "held-voter": "twheld_fixtures:voter"},
        {"twheld_fixtures": PLUGIN_MODULE},
    )

    def build(
        store: str = "sqlite:///approvals.sqlite3", plugins: str = '"held-fixtures"'
    ) -> Operator:
        config = write_approvals_config(tmp_path, store, plugins)
        return Operator(site, config, tmp_path / "ledger.txt")

    return build


@pytest.fixture
def operator(operator_for: Callable[..., Operator]) -> Operator:
    """The fixture pack on a SQLite store next to the config."""
    return operator_for()


def responses_api(*calls: tuple[str, dict[str, Any]]) -> str:
    """What ``client.responses.create`` returned, built from the openai SDK's own types."""
    response = Response(
        id="resp_held",
        object="response",
        created_at=0,
        model="gpt-4.1",
        output=[
            ResponseFunctionToolCall(
                type="function_call",
                id=f"fc_{n}",
                call_id=f"call_{n}",
                name=name,
                arguments=json.dumps(arguments),
                status="completed",
            )
            for n, (name, arguments) in enumerate(calls, 1)
        ],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
    )
    return response.model_dump_json(exclude_none=True)


def messages_api(*calls: tuple[str, dict[str, Any]]) -> str:
    """What ``client.messages.create`` returned, built from the anthropic SDK's own types."""
    message = Message(
        id="msg_held",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=[
            ToolUseBlock(type="tool_use", id=f"toolu_{n}", name=name, input=arguments)
            for n, (name, arguments) in enumerate(calls, 1)
        ],
        stop_reason="tool_use",
        stop_sequence=None,
        usage=Usage(input_tokens=10, output_tokens=10),
    )
    return message.model_dump_json(exclude_none=True)


THREE_CALLS = responses_api(
    ("get_user", {"user_id": 1}),
    ("delete_user", {"user_id": 2, "api_key": KEY}),
    ("send_mail", {"to": "ada@example.com"}),
)


@dataclass
class Held:
    """One dispatched, held turn: the operator, and what dispatch printed."""

    operator: Operator
    run: subprocess.CompletedProcess[str]
    document: dict[str, Any]

    @property
    def turn_id(self) -> str:
        return str(self.document["turn_id"])

    @property
    def approval_id(self) -> str:
        return str(self.document["pending"][0]["id"])


@pytest.fixture
def held(operator: Operator) -> Held:
    """Three calls dispatched from the CLI; delete_user waits for a person."""
    run = operator.run("dispatch", "-", stdin=THREE_CALLS)
    assert run.returncode == 3, run.stderr
    return Held(operator, run, json.loads(run.stdout))


def test_dispatch_of_a_held_turn_prints_what_ran_and_what_waits_and_exits_3(held: Held) -> None:
    """A response with one gated call: exit 3, one JSON document with the ran calls' items,
    the pending approval and the command that finishes the turn; the free calls ran once."""
    document = held.document
    assert document["status"] == "held" and document["turn_id"].startswith("turn_")
    assert document["ran"] == [
        {"type": "function_call_output", "call_id": "call_1",
         "output": '{"id":1,"name":"Ada"}'},
        {"type": "function_call_output", "call_id": "call_3", "output": "sent to ada@example.com"},
    ]  # fmt: skip
    (pending,) = document["pending"]
    assert (pending["call_id"], pending["tool"], pending["status"]) == (
        "call_2",
        "delete_user",
        "pending",
    )
    assert pending["arguments"] == {"user_id": 2, "api_key": "[redacted]"}
    assert document["resume"] == shlex.join(
        ["toolwire", "--config", str(held.operator.config), "approvals", "resume", held.turn_id]
    )
    assert held.approval_id in held.run.stderr and document["resume"] in held.run.stderr
    assert sorted(held.operator.executions()) == ["get 1", "mail ada@example.com"]


def test_the_held_output_never_shows_a_secret(held: Held) -> None:
    """The value of a [logging] redact argument shows nowhere in what dispatch prints, and
    nowhere in what resume prints while the call waits."""
    assert KEY not in held.run.stdout + held.run.stderr
    waiting = held.operator.run("approvals", "resume", held.turn_id)
    assert waiting.returncode == 3
    assert KEY not in waiting.stdout + waiting.stderr
    assert json.loads(waiting.stdout)["pending"][0]["arguments"]["api_key"] == "[redacted]"


def test_resume_before_a_decision_names_what_waits_and_runs_nothing(held: Held) -> None:
    """Resuming while an approval is pending exits 3, names it, and runs nothing."""
    run = held.operator.run("approvals", "resume", held.turn_id)
    assert run.returncode == 3, run.stderr
    document = json.loads(run.stdout)
    assert [a["id"] for a in document["pending"]] == [held.approval_id]
    assert held.approval_id in run.stderr and "pending" in run.stderr
    assert "delete 2" not in held.operator.executions()
    # Not resumed yet: once decided, the turn still resumes.
    assert (
        held.operator.run("approvals", "approve", held.approval_id, "--by", "grace").returncode == 0
    )
    assert held.operator.run("approvals", "resume", held.turn_id).returncode == 0


def test_resume_after_approval_prints_every_item_and_each_tool_ran_once(held: Held) -> None:
    """Approved in another process, the printed resume command gives every item of the turn in
    the Responses API's input shape, the gated call's result among them; each tool ran once."""
    approve = held.operator.run("approvals", "approve", held.approval_id, "--by", "grace")
    assert approve.returncode == 0, approve.stderr
    argv = shlex.split(held.document["resume"])
    run = held.operator.run_words(*argv[1:])
    assert run.returncode == 0, run.stderr
    items = json.loads(run.stdout)
    sdk_validate(ResponseInputParam, items)
    outputs = {i["call_id"]: i["output"] for i in items if i["type"] == "function_call_output"}
    assert outputs == {
        "call_1": '{"id":1,"name":"Ada"}',
        "call_2": "deleted user 2",
        "call_3": "sent to ada@example.com",
    }
    assert [i["type"] for i in items][:3] == ["function_call"] * 3
    assert sorted(held.operator.executions()) == ["delete 2", "get 1", "mail ada@example.com"]


def test_a_turn_is_resumed_once(held: Held) -> None:
    """A second resume exits 1 saying the turn was already resumed, prints no items, and runs
    nothing again."""
    held.operator.run("approvals", "approve", held.approval_id, "--by", "grace")
    assert held.operator.run("approvals", "resume", held.turn_id).returncode == 0
    again = held.operator.run("approvals", "resume", held.turn_id)
    assert again.returncode == 1
    assert again.stdout == ""
    assert f"turn {held.turn_id} was already resumed" in again.stderr
    assert sorted(held.operator.executions()) == ["delete 2", "get 1", "mail ada@example.com"]


def test_a_rejected_call_is_answered_approval_denied(held: Held) -> None:
    """A rejected call never runs; resume answers it approval_denied, with the person's message,
    beside the calls that ran."""
    reject = held.operator.run(
        "approvals", "reject", held.approval_id, "--by", "grace", "--message", "user 2 pays"
    )
    assert reject.returncode == 0, reject.stderr
    run = held.operator.run("approvals", "resume", held.turn_id)
    assert run.returncode == 0, run.stderr
    items = json.loads(run.stdout)
    outputs = {i["call_id"]: i["output"] for i in items if i["type"] == "function_call_output"}
    denied = json.loads(outputs["call_2"])
    assert denied["error"] == "approval_denied"
    assert "user 2 pays" in denied["message"]
    assert sorted(held.operator.executions()) == ["get 1", "mail ada@example.com"]


def test_an_unknown_turn_is_an_error(operator: Operator) -> None:
    """Resuming a turn the store does not hold: exit 1, one line on stderr naming it."""
    run = operator.run("approvals", "resume", "turn_nosuchturn")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.strip() == (
        "toolwire: error: no held turn 'turn_nosuchturn' in the approval store"
    )


def test_an_anthropic_turn_resumes_as_one_user_message(operator: Operator) -> None:
    """A Messages API turn resumes as the assistant message and one user message holding every
    tool_result, in call order, as the anthropic SDK takes them."""
    response = messages_api(("delete_user", {"user_id": 7}), ("get_user", {"user_id": 8}))
    dispatch = operator.run("dispatch", "-", stdin=response)
    assert dispatch.returncode == 3, dispatch.stderr
    document = json.loads(dispatch.stdout)
    assert [block["tool_use_id"] for block in document["ran"]] == ["toolu_2"]
    approve = operator.run("approvals", "approve", document["pending"][0]["id"], "--by", "ada")
    assert approve.returncode == 0, approve.stderr
    run = operator.run("approvals", "resume", document["turn_id"])
    assert run.returncode == 0, run.stderr
    assistant, user = json.loads(run.stdout)
    sdk_validate(MessageParam, assistant)
    sdk_validate(MessageParam, user)
    assert [b["tool_use_id"] for b in user["content"]] == ["toolu_1", "toolu_2"]
    assert user["content"][0]["content"] == "deleted user 7"


def test_memory_store_refuses_a_gated_response_before_any_call_runs(
    operator_for: Callable[..., Operator],
) -> None:
    """With memory://, a response that calls a gated tool is refused (exit 2, saying to
    configure a durable store) before any of its calls runs."""
    operator = operator_for(store="memory://")
    run = operator.run("dispatch", "-", stdin=THREE_CALLS)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "delete_user" in run.stderr
    assert '[approvals] store = "sqlite:///' in run.stderr
    assert operator.executions() == []


def test_memory_store_refuses_a_call_by_hand_of_a_gated_tool(
    operator_for: Callable[..., Operator],
) -> None:
    """With memory://, ``toolwire call`` of a gated tool is refused (exit 2, saying to
    configure a durable store) and does not run: its approval would end with the command."""
    operator = operator_for(store="memory://")
    run = operator.run("call", "delete_user", '{"user_id": 7}')
    assert run.returncode == 2
    assert run.stdout == ""
    assert "the call is to delete_user" in run.stderr and "durable store" in run.stderr
    assert operator.executions() == []


def test_memory_store_refuses_when_a_plugin_may_ask_for_approval(
    operator_for: Callable[..., Operator],
) -> None:
    """With memory:// and an installed plugin that votes on permissions (it may ask for a
    person), even a response of ungated calls is refused before any runs."""
    operator = operator_for(store="memory://", plugins='"held-fixtures", "held-voter"')
    run = operator.run("dispatch", "-", stdin=responses_api(("get_user", {"user_id": 1})))
    assert run.returncode == 2
    assert "held-voter" in run.stderr and "durable store" in run.stderr
    assert operator.executions() == []


def test_memory_store_dispatches_a_response_nothing_can_hold(
    operator_for: Callable[..., Operator],
) -> None:
    """With memory://, a response whose calls no approval can hold is dispatched as before."""
    operator = operator_for(store="memory://")
    run = operator.run("dispatch", "-", stdin=responses_api(("get_user", {"user_id": 1})))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[-1]["output"] == '{"id":1,"name":"Ada"}'
    assert operator.executions() == ["get 1"]
