"""The one mapping from toolwire's outcomes to the SDK's answers covers every error kind."""

from __future__ import annotations

import json

import pytest
import toolwire
import toolwire_openai_agents
from toolwire_openai_agents import function_tools
from toolwire_openai_agents._answer import Hold, answer


@pytest.mark.parametrize("kind", toolwire.ERROR_KINDS)
def test_every_error_kind_is_text_the_model_reads(kind: str) -> None:
    """Each error kind (a held call aside) is toolwire's error object as text, never raised."""
    error = toolwire.ToolError(f"{kind} happened", kind=kind)  # type: ignore[arg-type]
    output = json.dumps(error.to_dict())
    result = toolwire.DispatchResult(False, "c1", "tool", error=error, output=output)

    assert answer(result) == output
    assert json.loads(output)["error"] == kind


async def test_a_pending_approval_is_a_hold(dispatcher: toolwire.Dispatcher) -> None:
    """approval_required with its pending record is the one outcome the SDK interrupts on."""
    result = await dispatcher.dispatch("delete_user", {"user_id": 1}, call_id="d1")

    held = answer(result)
    assert isinstance(held, Hold)
    assert held.approval == result.approval and held.text == result.output


def test_the_public_names() -> None:
    """The package exports the adapter's entry points and nothing of its insides."""
    assert toolwire_openai_agents.__all__ == [
        "DECIDED_BY",
        "__version__",
        "apply_decisions",
        "approval_for",
        "function_tools",
    ]
    assert toolwire_openai_agents.function_tools is function_tools
