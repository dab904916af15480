"""What Pydantic AI gives the model for a toolwire result: the one place error kinds map."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import toolwire
from pydantic_ai import ApprovalRequired, BinaryContent, ModelRetry, ToolFailed
from toolwire.types import Redaction

#: The key of a deferred call's metadata that holds toolwire's part: the approval's id (and, on
#: the way back, who approved it).
METADATA_KEY: Final = "toolwire"

#: Kinds the model answers by changing its call: Pydantic AI's retry prompt, counted against the
#: tool's retry budget. ``timeout`` too, as Pydantic AI answers its own tool timeouts.
RETRY_KINDS: Final = frozenset({"invalid_arguments", "unknown_tool", "timeout"})


def answer(result: toolwire.DispatchResult, redaction: Redaction | None = None) -> Any:
    """The tool's return for Pydantic AI, or the exception that tells the model what went wrong.

    Success returns toolwire's output text (its serializer, output budget and after hooks
    applied), with a ``Content`` result's images after it. A failed call raises
    ``ModelRetry`` (arguments, an unknown name, a timeout: the model can change its call),
    ``ApprovalRequired`` (a call that waits for a person: the run ends with
    ``DeferredToolRequests``, or a ``HandleDeferredToolCalls`` capability decides), or
    ``ToolFailed`` (every other kind: the model reads it and adapts, no retry budget used).
    The model reads toolwire's own error text in each case.

    ``redaction`` (the dispatcher's ``[logging] redact`` rule) masks the call's secret
    argument values in the approval reason the deferred request carries, as the
    ``toolwire approvals`` command shows it.
    """
    error = result.error
    if error is None:
        return _returned(result)
    if error.kind == "approval_required" and result.approval is not None:
        _defer(result.approval, redaction)
    if error.kind in RETRY_KINDS:
        raise ModelRetry(result.output)
    raise ToolFailed(result.output)


def _returned(result: toolwire.DispatchResult) -> Any:
    value = result.result
    if isinstance(value, toolwire.Content):
        images = [
            BinaryContent(data=base64.b64decode(image.data), media_type=image.media_type)
            for image in value.images()
        ]
        if images:
            return [result.output, *images]
    return result.output


def _defer(approval: toolwire.Approval, redaction: Redaction | None) -> NoReturn:
    shown = approval.to_dict(redaction) if redaction is not None else {"reason": approval.reason}
    raise ApprovalRequired(
        metadata={
            METADATA_KEY: {
                "approval_id": approval.id,
                "reason": shown["reason"],
                "expires_at": approval.expires_at,
            }
        }
    )


def approval_id_in(metadata: object) -> str | None:
    """The toolwire approval id a deferred call's metadata carries, if it has one."""
    part = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    found = part.get("approval_id") if isinstance(part, Mapping) else None
    return found if isinstance(found, str) else None
