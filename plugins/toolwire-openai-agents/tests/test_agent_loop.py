"""Whole agent runs with the SDK's scripted model: each call goes through toolwire once, and
what the model reads next is toolwire's answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import toolwire
from agents import RunConfig, Runner, UserError
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire_openai_agents import function_tools

from .conftest import CallLog, MakeDispatcher, agent_with, one_call_then, tool_outputs


async def test_a_call_succeeds(dispatcher: toolwire.Dispatcher, log: CallLog) -> None:
    """A call runs once through toolwire and the model reads toolwire's output."""
    model = one_call_then(
        "get_weather", {"city": "Paris", "units": None}, call_id="w1", then="21 degrees in Paris"
    )
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Weather in Paris?")

    assert result.final_output == "21 degrees in Paris"
    assert tool_outputs(model) == {"w1": {"city": "Paris", "temperature": 21, "units": "celsius"}}
    assert log.runs_of("get_weather") == [{"city": "Paris", "units": "celsius"}]
    assert [(r.call_id, r.success) for r in log.finished] == [("w1", True)]


async def test_invalid_arguments_are_corrected_by_the_model(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """Arguments toolwire refuses reach the model as invalid_arguments; its corrected call runs."""
    model = ScriptedModel(
        [
            [function_call("get_weather", {"town": "Paris"}, call_id="w1")],
            [function_call("get_weather", {"city": "Paris"}, call_id="w2")],
            [assistant_message("21 degrees")],
        ]
    )
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Weather?")

    refused = tool_outputs(model, 1)["w1"]
    assert refused["error"] == "invalid_arguments"
    assert "unknown argument(s) 'town'" in refused["message"]
    assert refused["details"]["accepted"] == ["city", "units"]
    assert tool_outputs(model)["w2"]["city"] == "Paris"
    assert result.final_output == "21 degrees"
    assert log.runs_of("get_weather") == [{"city": "Paris", "units": "celsius"}]
    assert len(log.finished) == 2  # once each: the SDK validated nothing, toolwire once


async def test_arguments_that_are_not_json_are_answered(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """Arguments that do not parse are toolwire's invalid_arguments for the model, not a crash."""
    model = one_call_then("get_weather", '{"city": "Par', call_id="w1", then="sorry")
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Weather?")

    assert tool_outputs(model)["w1"]["error"] == "invalid_arguments"
    assert result.final_output == "sorry"
    assert log.runs_of("get_weather") == []


async def test_a_failing_tool_is_an_error_the_model_reads(make: MakeDispatcher) -> None:
    """A tool that raises gives the model toolwire's execution_error; the run goes on."""
    pack = toolwire.Toolset("broken")

    @pack.tool
    def charge(amount: int) -> str:
        """Charge a card."""
        raise RuntimeError("card processor down: secret-token-123")

    model = ScriptedModel(
        [[function_call("charge", {"amount": 5}, call_id="c1")], [assistant_message("failed")]]
    )
    result = await Runner.run(agent_with(model, function_tools(make(pack))), "Charge 5")

    error = tool_outputs(model)["c1"]
    assert error["error"] == "execution_error"
    assert "secret-token-123" not in error["message"]  # details stay in the host's log
    assert result.final_output == "failed"


async def test_a_timeout_is_an_error_the_model_reads(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A call past the tool's toolwire timeout ends as timeout for the model; the run goes on."""
    model = one_call_then("slow_report", {"name": "q3"}, call_id="r1", then="the report timed out")
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Report q3")

    timed_out = tool_outputs(model)["r1"]
    assert timed_out["error"] == "timeout"
    assert timed_out["retryable"] is True
    assert result.final_output == "the report timed out"
    assert log.runs_of("slow_report") == [{"name": "q3"}]


async def test_a_role_sees_only_its_tools(dispatcher: toolwire.Dispatcher, log: CallLog) -> None:
    """A role is offered only the tools it may call; a call of another is never run."""
    tools = function_tools(dispatcher, role="support")
    assert "reset_password" not in [t.name for t in tools]
    assert "reset_password" in [t.name for t in function_tools(dispatcher, role="admin")]

    model = one_call_then("reset_password", {"user_id": 7}, call_id="p1", then="I cannot do that")
    config = RunConfig(tool_not_found_behavior="return_error_to_model")
    result = await Runner.run(agent_with(model, tools), "Reset 7", run_config=config)

    assert "reset_password" not in [t.name for t in model.calls[0].tools]
    assert "p1" in tool_outputs(model)  # the SDK answered it: no such tool
    assert result.final_output == "I cannot do that"
    assert log.runs_of("reset_password") == []


async def test_the_role_can_come_from_the_run_context(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """With role as a function of the context, each run sees and calls as its own role."""
    tools = function_tools(dispatcher, role=lambda context: context["role"])

    def script() -> ScriptedModel:
        return ScriptedModel(
            [
                [function_call("whoami", {}, call_id="i1")],
                [assistant_message("done")],
            ]
        )

    admin, support = script(), script()
    await Runner.run(agent_with(admin, tools), "hi", context={"role": "admin"})
    await Runner.run(agent_with(support, tools), "hi", context={"role": "support"})

    assert "reset_password" in [t.name for t in admin.calls[0].tools]
    assert "reset_password" not in [t.name for t in support.calls[0].tools]
    assert tool_outputs(admin)["i1"]["role"] == "admin"
    assert tool_outputs(support)["i1"]["role"] == "support"


async def test_the_run_context_is_the_calls_state(dispatcher: toolwire.Dispatcher) -> None:
    """A mapping given as the run's context is toolwire's state: the principal comes from it."""
    model = ScriptedModel(
        [[function_call("whoami", {}, call_id="i1")], [assistant_message("you are ada")]]
    )
    tools = function_tools(dispatcher, role="support")
    await Runner.run(agent_with(model, tools), "who am I?", context={"principal": "ada"})

    assert tool_outputs(model)["i1"] == {"principal": "ada", "role": "support"}


@dataclass
class Session:
    user: str


async def test_a_context_object_needs_a_state_function(dispatcher: toolwire.Dispatcher) -> None:
    """A context that is no mapping stops the run with what to do, unless state= maps it."""

    def script() -> ScriptedModel:
        return ScriptedModel(
            [[function_call("whoami", {}, call_id="i1")], [assistant_message("done")]]
        )

    with pytest.raises(UserError) as refused:
        await Runner.run(
            agent_with(script(), function_tools(dispatcher)), "hi", context=Session("ada")
        )
    assert "pass state=" in str(refused.value.__cause__)

    model = script()

    def state(session: Any) -> dict[str, str]:
        return {"principal": session.user}

    tools = function_tools(dispatcher, state=state)
    await Runner.run(agent_with(model, tools), "hi", context=Session("ada"))
    assert tool_outputs(model)["i1"]["principal"] == "ada"


def test_function_tools_refuses_what_is_not_a_dispatcher() -> None:
    """Passing something other than a dispatcher fails at once, naming what was given."""
    with pytest.raises(TypeError, match=r"toolwire\.Dispatcher"):
        function_tools(object())  # type: ignore[arg-type]


async def test_a_role_function_must_give_a_role_name(dispatcher: toolwire.Dispatcher) -> None:
    """A role function that returns something other than a name stops the run, saying so."""
    model = ScriptedModel([[assistant_message("hi")]])
    tools = function_tools(dispatcher, role=lambda context: 42)  # type: ignore[arg-type,return-value]

    with pytest.raises(TypeError, match="not a str"):
        await Runner.run(agent_with(model, tools), "hi")
