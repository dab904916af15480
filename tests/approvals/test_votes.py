"""Who needs a person's approval: the permission votes, the tool option and the config."""

from __future__ import annotations

import pytest
import toolwire
from toolwire import Deny, RequireApproval


class Vote:
    """A permission plugin that always gives one answer (or raises it), counting its votes."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.votes = 0

    @toolwire.hookimpl
    def toolwire_check_permission(self, call, context):
        self.votes += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class AsyncVote(Vote):
    """The same, as an ``async def`` implementation."""

    @toolwire.hookimpl
    async def toolwire_check_permission(self, call, context):
        self.votes += 1
        return self.answer


async def test_require_approval_vote_holds_the_call(make, pack, ledger):
    """A RequireApproval vote stops the call: approval_required, with the record, and no run."""
    dispatcher = make(pack, Vote(RequireApproval("reads of secret records need a person")))
    result = await dispatcher.dispatch("read_record", {"record": "payroll"})
    assert result.error.kind == "approval_required"
    assert result.error.retryable is True
    assert result.approval.reason == "reads of secret records need a person"
    assert result.approval.status == "pending"
    assert ledger.entries == []


async def test_any_deny_wins_over_an_approval_requirement(make, pack, ledger):
    """A deny and an approval requirement: denied, and nothing is recorded."""
    dispatcher = make(pack)
    dispatcher.add(Vote(RequireApproval("ask")), name="asks")
    dispatcher.add(Vote(Deny("never on Sundays")), name="denies")
    result = await dispatcher.dispatch("read_record", {"record": "a"})
    assert result.error.kind == "permission_denied"
    assert result.error.message == "never on Sundays"
    assert result.approval is None
    assert await dispatcher.approvals() == []


async def test_deny_wins_over_a_tool_that_needs_approval(make, pack):
    """A tool with approval=True that a hook denies is denied, never asked about."""
    dispatcher = make(pack, Vote(False))
    result = await dispatcher.dispatch("delete_record", {"record": "a"})
    assert result.error.kind == "permission_denied"
    assert await dispatcher.approvals() == []


async def test_an_approval_requirement_wins_over_allow(make, pack, ledger):
    """An allow and an approval requirement, in either order: the call waits."""
    dispatcher = make(pack)
    dispatcher.add(Vote(True), name="allows")
    dispatcher.add(Vote(RequireApproval("ask first")), name="asks")
    dispatcher.add(Vote(True), name="allows-too")
    result = await dispatcher.dispatch("read_record", {"record": "a"})
    assert result.error.kind == "approval_required"
    assert result.approval.reason == "ask first"
    assert ledger.entries == []


async def test_an_approval_requirement_wins_over_a_default_deny(make, pack):
    """With permission = "deny" and no allow vote, a RequireApproval vote still asks a person."""
    dispatcher = make(
        pack, Vote(RequireApproval("ask")), config={"defaults": {"permission": "deny"}}
    )
    result = await dispatcher.dispatch("read_record", {"record": "a"})
    assert result.error.kind == "approval_required"


async def test_an_async_vote_can_require_approval(make, pack, ledger):
    """An ``async def`` permission hook's RequireApproval is awaited and holds the call."""
    dispatcher = make(pack, AsyncVote(RequireApproval("async ask")))
    result = await dispatcher.dispatch("read_record", {"record": "a"})
    assert result.error.kind == "approval_required"
    assert result.approval.reason == "async ask"
    assert ledger.entries == []


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyError("principal")])
async def test_a_permission_hook_that_raises_denies_and_never_asks(make, pack, ledger, failure):
    """A hook that raises is a deny, even beside a RequireApproval vote: no record is made."""
    dispatcher = make(pack)
    dispatcher.add(Vote(RequireApproval("ask")), name="asks")
    dispatcher.add(Vote(failure), name="broken")
    for tool in ("read_record", "delete_record"):
        result = await dispatcher.dispatch(tool, {"record": "a"})
        assert result.error.kind == "permission_denied"
        assert result.approval is None
    assert await dispatcher.approvals() == []
    assert ledger.entries == []


def test_the_tool_option_requires_approval(make, pack, ledger):
    """approval=True in code holds every call of the tool; the policy says so."""
    dispatcher = make(pack)
    assert dispatcher.policy("delete_record").approval is True
    assert dispatcher.policy("read_record").approval is False
    result = dispatcher.dispatch_sync("delete_record", {"record": "a"})
    assert result.error.kind == "approval_required"
    assert result.approval.reason == "its policy requires approval"
    assert ledger.entries == []


def test_config_requires_approval_for_one_tool(make, pack, ledger):
    """[tools.NAME] approval = true holds that tool's calls and no other's."""
    dispatcher = make(pack, config={"tools": {"read_record": {"approval": True}}})
    assert dispatcher.dispatch_sync("read_record", {"record": "a"}).error.kind == (
        "approval_required"
    )
    assert dispatcher.dispatch_sync("drop_table", {"table": "t"}).success
    assert ledger.entries == ["drop t"]


def test_defaults_destructive_requires_approval_for_destructive_tools(make, pack, ledger):
    """[defaults] approval = "destructive" holds the tools marked destructive, only them."""
    dispatcher = make(pack, config={"defaults": {"approval": "destructive"}})
    assert dispatcher.policy("drop_table").approval is True
    assert dispatcher.dispatch_sync("drop_table", {"table": "t"}).error.kind == (
        "approval_required"
    )
    assert dispatcher.dispatch_sync("read_record", {"record": "a"}).success


def test_destructive_marked_in_config_counts(make, pack):
    """A tool marked destructive in [tools.NAME] is held under [defaults] approval = "destructive"."""
    dispatcher = make(
        pack,
        config={
            "defaults": {"approval": "destructive"},
            "tools": {"read_record": {"destructive": True}},
        },
    )
    assert dispatcher.policy("read_record").approval is True


def test_defaults_true_requires_approval_for_every_tool(make, pack):
    """[defaults] approval = true holds every tool."""
    dispatcher = make(pack, config={"defaults": {"approval": True}})
    assert all(dispatcher.policy(t.name).approval for t in dispatcher.tools())


def test_code_cannot_escape_the_operators_default(make):
    """A tool's own approval=False does not lift [defaults] approval: only its config table can."""
    tools = toolwire.Toolset("sneaky")

    @tools.tool(destructive=True, approval=False)
    def wipe() -> str:
        """Wipe everything."""
        return "wiped"

    held = make(tools, config={"defaults": {"approval": "destructive"}})
    assert held.policy("wipe").approval is True
    exempt = make(
        tools,
        config={"defaults": {"approval": "destructive"}, "tools": {"wipe": {"approval": False}}},
    )
    assert exempt.policy("wipe").approval is False
    assert exempt.dispatch_sync("wipe").success


def test_approval_option_must_be_a_boolean():
    """approval="yes" in code is a ConfigError at definition time."""
    with pytest.raises(toolwire.ConfigError, match="approval must be True or False"):

        @toolwire.tool(approval="yes")
        def wipe() -> None:
            """Wipe."""


@pytest.mark.parametrize(
    ("table", "value"),
    [("defaults", "always"), ("defaults", 1), ("tools", "yes")],
)
def test_config_refuses_a_wrong_approval_value(table, value):
    """A config approval value that is not one of the allowed ones stops the start."""
    data = (
        {table: {"approval": value}}
        if table == "defaults"
        else {"tools": {"x": {"approval": value}}}
    )
    with pytest.raises(toolwire.ConfigError, match="approval"):
        toolwire.testing.make_dispatcher(config=data)


@pytest.mark.parametrize(
    "settings",
    [{"store": "postgres://db"}, {"mode": "later"}, {"ttl": 0}, {"colour": "red"}],
)
def test_config_refuses_a_wrong_approvals_table(settings):
    """An unknown store scheme, mode, a zero ttl or an unknown key in [approvals] stops the start."""
    with pytest.raises(toolwire.ConfigError, match="approvals"):
        toolwire.testing.make_dispatcher(config={"approvals": settings})


async def test_tools_that_cannot_need_approval_never_touch_the_store(make, pack, ledger):
    """Calls of tools without approval never open the store (here, a Redis nobody listens on)."""
    pytest.importorskip("redis", reason="a redis:// store needs toolwire[redis]")
    dispatcher = make(pack, config={"approvals": {"store": "redis://127.0.0.1:1/0"}})
    assert (await dispatcher.dispatch("read_record", {"record": "a"})).success
    assert dispatcher.dispatch_sync("read_record", {"record": "b"}).success
    response = toolwire.testing.build_response("openai-chat", [("read_record", {"record": "c"})])
    items = await dispatcher.process_response(response)
    assert [i["role"] for i in items] == ["assistant", "tool"]
    assert ledger.entries == ["read a", "read b", "read c"]


async def test_a_store_that_fails_keeps_the_call_from_running(make, pack, ledger):
    """A gated call whose record cannot be stored ends with internal_error and never runs."""
    pytest.importorskip("redis")
    dispatcher = make(pack, config={"approvals": {"store": "redis://127.0.0.1:1/0"}})
    result = await dispatcher.dispatch("delete_record", {"record": "a"})
    assert result.error.kind == "internal_error"
    assert "could not be recorded" in result.error.message
    assert result.approval is None
    inline = dispatcher.dispatch_sync("delete_record", {"record": "b"})
    assert inline.error.kind == "internal_error"
    assert ledger.entries == []
