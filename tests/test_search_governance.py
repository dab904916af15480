"""Search calls toolwire answers are calls like the others for observers (the call log, the
audit trail, spans), and a held turn that holds search calls resumes with every item in order."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import toolwire
from toolwire.testing import CallRecorder, build_response

from .conftest import MakeDispatcher, openai_search_round


class Observed(CallRecorder):
    """Records every finished call as observers see it."""

    @property
    def calls(self) -> list[tuple[str, str, bool, Any]]:
        return [(c.name, r.call_id, r.success, ctx.role) for c, r, ctx in self.finished]


def _packs(ran: list[str]) -> list[toolwire.Toolset]:
    files = toolwire.Toolset("files", "Files on the local disk.")

    @files.tool(defer_loading=True)
    def read_file(path: str) -> str:
        """Read a text file from the local disk."""
        ran.append(f"read {path}")
        return f"the text of {path}"

    @files.tool(defer_loading=True, approval=True)
    def delete_file(path: str) -> str:
        """Delete a file from the local disk."""
        ran.append(f"delete {path}")
        return "deleted"

    return [files]


def test_observers_and_the_call_log_see_each_search_call(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A search_tools call answered by toolwire reaches toolwire_call_finished and the call log
    with its name, id and role, beside the tool call of the same response."""
    observed = Observed()
    dispatcher = make(*_packs([]), observed)
    response = build_response(
        "gemini",
        [("search_tools", {"query": "read a text file"}), ("read_file", {"path": "a.txt"})],
    )
    with caplog.at_level(logging.INFO, logger="toolwire"):
        dispatcher.process_response_sync(response, role="user")
    names = sorted(c[0] for c in observed.calls)
    assert names == ["read_file", "search_tools"]
    search = next(c for c in observed.calls if c[0] == "search_tools")
    assert search[2] is True and search[3] == "user" and search[1]
    ran = next(r for c, r, _ in observed.finished if c.name == "search_tools")
    assert ran.attempts == 1  # it ran once
    assert any("search_tools" in r.getMessage() for r in caplog.records)


def test_an_openai_client_search_is_observed_as_tool_search(make: MakeDispatcher) -> None:
    """A client-side tool_search_call answered by toolwire is seen by observers as a call of
    ``tool_search`` with the item's call id."""
    observed = Observed()
    dispatcher = make(*_packs([]), observed)
    dispatcher.process_response_sync(
        openai_search_round("delete_file", '{"path": "a.txt"}', "delete a file")
    )
    assert ("tool_search", "call_ts", True, None) in observed.calls


HOLD = {"approvals": {"store": "memory://", "mode": "hold"}}


@pytest.mark.parametrize("provider", ["gemini", "openai-chat", "anthropic"])
def test_a_held_turn_with_a_search_resumes_aligned(make: MakeDispatcher, provider: str) -> None:
    """A response that searches and calls a gated tool is held, approved and resumed: the
    items are those process_response gives without approvals, every answer in its place."""
    ran: list[str] = []
    calls: list[tuple[str, Any]] = [
        ("search_tools", {"query": "delete a file"}),
        ("delete_file", {"path": "a.txt"}),
        ("read_file", {"path": "b.txt"}),
    ]
    response = build_response(provider, calls)
    held_dispatcher = make(*_packs(ran), config=HOLD)
    held = held_dispatcher.process_response_sync(response)
    assert held == [] and ran == ["read b.txt"]
    (approval,) = held.pending  # type: ignore[attr-defined]
    held_dispatcher.approve_sync(approval.id, by="alice")
    items = held_dispatcher.resume_sync(held.turn_id)  # type: ignore[attr-defined]
    plain = make(*_packs([]), config={"tools": {"delete_file": {"approval": False}}})
    expected = plain.process_response_sync(response)
    assert _shape(items) == _shape(expected)
    assert ran == ["read b.txt", "delete a.txt"]


def _shape(items: list[Any]) -> list[Any]:
    """The items with each result's text cut to what does not vary between runs."""
    text = repr(items)
    return [text.count("search_tools"), text.count("delete_file"), len(items), _answers(items)]


def _answers(items: list[Any]) -> list[str]:
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for part in item.get("parts", ()) or ():
            answer = part.get("functionResponse") or part.get("function_response")
            if answer:
                found.append(str(answer.get("name")))
        if item.get("role") == "tool":
            found.append(str(item.get("tool_call_id")))
        for block in item.get("content", ()) if isinstance(item.get("content"), list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                found.append(str(block.get("tool_use_id")))
    return found


def test_a_held_openai_turn_keeps_its_tool_search_output(make: MakeDispatcher) -> None:
    """A held Responses turn with a client search resumes with every item in order: the
    search call, the function call, its output, then the tool_search_output."""
    ran: list[str] = []
    dispatcher = make(*_packs(ran), config=HOLD)
    held = dispatcher.process_response_sync(
        openai_search_round("delete_file", '{"path": "a.txt"}', "delete a file")
    )
    (approval,) = held.pending  # type: ignore[attr-defined]
    dispatcher.approve_sync(approval.id, by="alice")
    items = dispatcher.resume_sync(held.turn_id)  # type: ignore[attr-defined]
    assert [i["type"] for i in items] == [
        "tool_search_call",
        "function_call",
        "function_call_output",
        "tool_search_output",
    ]
    assert items[2]["output"] == "deleted" and ran == ["delete a.txt"]
    assert items[3]["call_id"] == "call_ts"
    assert items[3]["tools"][0]["tools"][0]["name"] == "delete_file"


class SearchVotes:
    """Votes on search calls only: ``vote`` is returned for them, and each one is noted."""

    def __init__(self, vote: Any) -> None:
        self.vote = vote
        self.seen: list[tuple[str, Any, Any]] = []

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        if call.name not in ("search_tools", "tool_search"):
            return True
        self.seen.append((call.name, dict(call.arguments), context.policy))
        return self.vote


def _search_answer(items: list[Any]) -> Any:
    """The Gemini answer to the search call of a processed response."""
    for item in items:
        for part in item.get("parts", ()) if isinstance(item, dict) else ():
            answer = part.get("functionResponse") or part.get("function_response")
            if answer and answer.get("name") == "search_tools":
                return answer["response"]
    raise AssertionError(f"no search answer in {items!r}")


def test_a_permission_hook_can_deny_a_search(make: MakeDispatcher) -> None:
    """A search_tools call walks the permission hooks with its query and no tool policy; a
    deny answers it permission_denied, naming no tool, and observers see it failed."""
    votes, observed = SearchVotes(toolwire.Deny("no searching today")), Observed()
    dispatcher = make(*_packs([]), votes, observed)
    response = build_response("gemini", [("search_tools", {"query": "read a text file"})])
    items = dispatcher.process_response_sync(response, role="user")
    assert votes.seen == [("search_tools", {"query": "read a text file"}, None)]
    answer = repr(_search_answer(items))
    assert "permission_denied" in answer and "no searching today" in answer
    assert "read_file" not in answer
    (finished,) = observed.finished
    assert finished[0].name == "search_tools" and not finished[1].success
    assert finished[1].error.kind == "permission_denied"


def test_a_denied_openai_client_search_loads_no_tool(make: MakeDispatcher) -> None:
    """A denied client-side tool_search_call is answered with a tool_search_output that loads
    nothing, and the call itself ends permission_denied for observers."""
    votes, observed = SearchVotes(False), Observed()
    dispatcher = make(*_packs([]), votes, observed)
    items = dispatcher.process_response_sync(
        openai_search_round("read_file", '{"path": "a.txt"}', "read a text file")
    )
    (output,) = [i for i in items if i.get("type") == "tool_search_output"]
    assert output["tools"] == [] and output["call_id"] == "call_ts"
    search = next(r for c, r, _ in observed.finished if c.name == "tool_search")
    assert search.error is not None and search.error.kind == "permission_denied"


def test_a_search_is_never_held_for_a_person(make: MakeDispatcher) -> None:
    """A vote asking a person to approve a search refuses it (a search cannot wait): the turn
    is not held, nothing is recorded, and the answer names no tool."""
    votes = SearchVotes(toolwire.RequireApproval("searches need a second person"))
    dispatcher = make(*_packs([]), votes, config=HOLD)
    response = build_response("gemini", [("search_tools", {"query": "delete a file"})])
    items = dispatcher.process_response_sync(response)
    assert items != [] and not getattr(items, "pending", None)
    answer = repr(_search_answer(items))
    assert "permission_denied" in answer and "cannot wait for a person" in answer
    assert "delete_file" not in answer
    assert dispatcher.approvals_sync() == []


def test_with_permission_deny_by_default_a_search_needs_an_allow(make: MakeDispatcher) -> None:
    """Under ``[defaults] permission = "deny"`` a search no hook votes on is denied (fail
    closed), and one a hook allows finds the tools the role may call."""
    deny = {"defaults": {"permission": "deny"}}
    response = build_response("gemini", [("search_tools", {"query": "read a text file"})])
    unvoted = make(*_packs([]), config=deny).process_response_sync(response)
    assert "permission_denied" in repr(_search_answer(unvoted))
    allowed = make(*_packs([]), SearchVotes(True), config=deny).process_response_sync(response)
    assert "read_file" in repr(_search_answer(allowed))


def test_an_unknown_tool_hint_names_only_tools_the_role_may_call(make: MakeDispatcher) -> None:
    """A misspelt call's "did you mean" names a close tool the role may call, never one of
    another role's, however close its name is."""
    ops = toolwire.Toolset("ops")

    @ops.tool(roles=["admin"])
    def erase_disk(disk: str) -> str:
        """Erase a disk."""
        return "erased"

    @ops.tool
    def erase_cache(cache: str) -> str:
        """Erase a cache."""
        return "emptied"

    dispatcher = make(ops)
    user = dispatcher.dispatch_sync("erase_disc", {"disk": "sda"}, role="user")
    assert user.error is not None and user.error.kind == "unknown_tool"
    assert "erase_disk" not in user.output and "erase_disk" not in repr(user.error.details)
    assert "erase_cache" in user.output
    admin = dispatcher.dispatch_sync("erase_disc", {"disk": "sda"}, role="admin")
    assert admin.error is not None and "erase_disk" in admin.output


@pytest.mark.parametrize("name", ["search_tools", "tool_search"])
def test_a_tool_named_as_the_search_stops_a_start_with_deferred_tools(
    make: MakeDispatcher, name: str
) -> None:
    """A tool named as toolwire's search beside deferred tools would take the search's calls
    (nothing deferred could be found): the start stops, naming the tool and what to do."""
    clash = toolwire.Toolset("clash")

    @clash.tool(name=name)
    def look(query: str) -> str:
        """Look something up."""
        return query

    with pytest.raises(toolwire.ConfigError, match=rf"tool '{name}' .*rename the tool"):
        make(*_packs([]), clash).start()
    assert make(clash).tools()[0].name == name  # without deferred tools the name is free


@pytest.mark.parametrize(
    "arguments", [{"query": 5}, {"query": None}, {"q": "read a file"}, ["read"], "not json"]
)
def test_search_arguments_that_are_no_query_answer_invalid_arguments(
    make: MakeDispatcher, arguments: Any
) -> None:
    """A search_tools call whose arguments are no {"query": text} is answered
    invalid_arguments (not "no tool matches"), and observers see it failed."""
    observed = Observed()
    dispatcher = make(*_packs([]), observed)
    response = build_response("gemini", [("search_tools", {"query": "x"})])
    response["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] = arguments
    items = dispatcher.process_response_sync(response)
    assert "invalid_arguments" in repr(_search_answer(items))
    (finished,) = observed.finished
    assert finished[1].error is not None and finished[1].error.kind == "invalid_arguments"


def test_an_openai_client_search_with_bad_arguments_loads_nothing(make: MakeDispatcher) -> None:
    """A client tool_search_call whose arguments are not JSON gets a tool_search_output that
    loads nothing, and its call ends invalid_arguments for observers."""
    observed = Observed()
    dispatcher = make(*_packs([]), observed)
    response = openai_search_round("read_file", '{"path": "a.txt"}', "read a text file")
    response["output"][0]["arguments"] = "{not json"
    items = dispatcher.process_response_sync(response)
    (output,) = [i for i in items if i.get("type") == "tool_search_output"]
    assert output["tools"] == []
    search = next(r for c, r, _ in observed.finished if c.name == "tool_search")
    assert search.error is not None and search.error.kind == "invalid_arguments"


def test_an_openai_client_search_is_answered_without_deferred_tools(
    make: MakeDispatcher,
) -> None:
    """Every call gets a result: a client tool_search_call is answered with a
    tool_search_output even when the dispatcher defers no tool."""
    plain = toolwire.Toolset("files")

    @plain.tool
    def read_file(path: str) -> str:
        """Read a text file from the local disk."""
        return path

    items = make(plain).process_response_sync(
        openai_search_round("read_file", '{"path": "a.txt"}', "read a text file")
    )
    outputs = [i for i in items if i.get("type") == "tool_search_output"]
    assert len(outputs) == 1 and outputs[0]["call_id"] == "call_ts"


def test_a_search_on_gemini_never_finds_a_tool_only_a_program_may_call(
    make: MakeDispatcher,
) -> None:
    """Where the provider has no programmatic calls, a search does not find a tool whose
    allowed_callers leaves out direct calls: no call of it could be allowed there."""
    pack = toolwire.Toolset("sizes", "File sizes.")

    @pack.tool(defer_loading=True, allowed_callers=["program"])
    def sum_file_sizes(paths: list[str]) -> int:
        """Sum the sizes of many files on the local disk."""
        return len(paths)

    @pack.tool(defer_loading=True)
    def file_size(path: str) -> int:
        """The size of one file on the local disk."""
        return len(path)

    dispatcher = make(pack)
    response = build_response("gemini", [("search_tools", {"query": "sum file sizes"})])
    answer = repr(_search_answer(dispatcher.process_response_sync(response)))
    assert "file_size" in answer and "sum_file_sizes" not in answer


@pytest.mark.parametrize("provider", ["gemini", "openai-chat", "anthropic", "openai-responses"])
def test_a_role_that_may_call_no_deferred_tool_gets_no_search_tool(
    make: MakeDispatcher, provider: str
) -> None:
    """A role none of whose tools is deferred is sent no search tool: it could find nothing,
    and the tool would tell the model that hidden tools exist."""
    pack = toolwire.Toolset("ops")

    @pack.tool(defer_loading=True, roles=["admin"])
    def erase_disk(disk: str) -> str:
        """Erase a disk."""
        return disk

    @pack.tool
    def disk_usage(disk: str) -> str:
        """How full a disk is."""
        return disk

    dispatcher = make(pack)
    user = repr(dispatcher.tool_definitions(provider, role="user"))
    assert "search" not in user and "erase_disk" not in user and "disk_usage" in user
    assert "search" in repr(dispatcher.tool_definitions(provider, role="admin"))


@pytest.mark.parametrize("role", [5, ["admin"], {"role": "admin"}])
def test_search_tools_refuses_a_role_that_is_not_text(make: MakeDispatcher, role: Any) -> None:
    """search_tools with a role that is neither text nor None raises a TypeError naming it."""
    with pytest.raises(TypeError, match="a role is text or None"):
        make(*_packs([])).search_tools("read a file", role=role)
