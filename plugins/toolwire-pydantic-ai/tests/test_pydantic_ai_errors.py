"""Every toolwire error kind becomes what Pydantic AI gives the model, never a crashed run."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import toolwire
from pyai_helpers import Script
from pydantic_ai import Agent, ApprovalRequired, BinaryContent, ModelRetry, ToolFailed
from toolwire.testing import make_dispatcher
from toolwire_pydantic_ai import RETRY_KINDS, ToolwireToolset, answer

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def failed(kind: str, approval: toolwire.Approval | None = None) -> toolwire.DispatchResult:
    error = toolwire.ToolError(f"it went wrong ({kind})", kind=kind)  # type: ignore[arg-type]
    return toolwire.DispatchResult(
        False, "call_1", "tool", error=error, output=json.dumps(error.to_dict()), approval=approval
    )


@pytest.mark.parametrize("kind", toolwire.ERROR_KINDS)
def test_each_error_kind_has_one_answer(kind: str) -> None:
    """Arguments, an unknown name and a timeout ask the model to retry; every other kind is a
    failed result the model reads; each carries toolwire's error text unchanged."""
    expected = ModelRetry if kind in RETRY_KINDS else ToolFailed
    with pytest.raises(expected) as raised:
        answer(failed(kind))
    assert raised.value.message == failed(kind).output


def test_a_held_call_is_a_deferred_approval_request() -> None:
    """approval_required with its record becomes ApprovalRequired naming the approval."""
    now = time.time()
    record = toolwire.Approval(
        id="apr_1", call_id="call_1", tool="tool", arguments="{}", digest="", role=None,
        principal=None, reason="refunds over 100", created_at=now, expires_at=now + 60,
    )  # fmt: skip
    with pytest.raises(ApprovalRequired) as raised:
        answer(failed("approval_required", record))
    assert raised.value.metadata == {
        "toolwire": {"approval_id": "apr_1", "reason": "refunds over 100", "expires_at": now + 60}
    }


async def test_denials_and_tool_errors_reach_the_model_and_the_run_goes_on() -> None:
    """A permission hook's denial and a tool's ToolError are failed results the model reads;
    another exception gives it toolwire's generic message, never the traceback."""

    class NoRefunds:
        @toolwire.hookimpl
        def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            return toolwire.Deny("refunds are closed today") if call.name == "refund" else None

    shop = toolwire.Toolset("shop")

    @shop.tool
    def refund(order: str) -> str:
        """Refund an order."""
        return "refunded"

    @shop.tool
    def find(order: str) -> str:
        """Find an order."""
        raise toolwire.ToolError(f"order {order} not found")

    @shop.tool
    def crash(order: str) -> str:
        """Break."""
        raise RuntimeError("secret-db-password in /srv/app/db.py")

    script = Script(
        [[("refund", {"order": "A"}), ("find", {"order": "B"}), ("crash", {"order": "C"})]]
    )
    with make_dispatcher(shop, NoRefunds()) as dispatcher:
        result = await Agent(script.model, toolsets=[ToolwireToolset(dispatcher)]).run("go")
    assert result.output == "done"
    parts = {p.tool_name: p for p in script.seen[1].returns()}
    assert {p.outcome for p in parts.values()} == {"failed"}
    assert json.loads(parts["refund"].content)["error"] == "permission_denied"
    assert "refunds are closed today" in parts["refund"].content
    assert json.loads(parts["find"].content)["message"] == "order B not found"
    assert json.loads(parts["crash"].content)["error"] == "execution_error"
    assert "secret" not in parts["crash"].content and "/srv" not in parts["crash"].content


async def test_images_in_a_result_reach_the_model_as_binary_content() -> None:
    """A Content result's images go to Pydantic AI as BinaryContent after toolwire's text."""
    pack = toolwire.Toolset("charts")

    @pack.tool
    def chart() -> toolwire.Content:
        """Draw the chart."""
        return toolwire.Content(
            [toolwire.TextPart("sales"), toolwire.ImagePart(PIXEL, "image/png")]
        )

    with make_dispatcher(pack) as dispatcher:
        value = answer(await dispatcher.dispatch("chart", {}))
    text, image = value
    assert text.startswith("sales\n[image: image/png")
    assert isinstance(image, BinaryContent) and image.media_type == "image/png"
    assert image.data == base64.b64decode(PIXEL)
