"""What the Agents SDK gets back for a toolwire result: the one place each outcome is mapped."""

from __future__ import annotations

from dataclasses import dataclass

import toolwire
from agents import ToolOutputImage, ToolOutputText

#: What ``on_invoke_tool`` returns: text, or text followed by images.
ToolOutput = str | list[ToolOutputText | ToolOutputImage]


@dataclass(frozen=True, slots=True)
class Hold:
    """A call toolwire keeps for a person: the SDK interrupts the run on it.

    Attributes:
        approval: The pending record, bound to the call's arguments.
        text: What the model reads when the SDK cannot be interrupted where the call was made.
    """

    approval: toolwire.Approval
    text: str


def answer(result: toolwire.DispatchResult) -> Hold | ToolOutput:
    """The SDK's answer for one toolwire result, for every outcome and every error kind.

    The SDK's contract for ``on_invoke_tool``: what it returns is what the model reads, what
    it raises fails the whole run. So a toolwire error is never raised: the model reads
    toolwire's error object (``error`` kind, ``message``, ``retryable``, ``details``), the text
    every provider gets. ``invalid_arguments`` tells the model what to correct,
    ``approval_denied`` not to retry, ``timeout`` and ``rate_limited`` when trying again may
    help. The one kind with an SDK mechanism of its own is ``approval_required`` with a pending
    record: it becomes a ``Hold``, which ``needs_approval`` turns into the run's interruption.

    Args:
        result: The result of ``dispatch`` or ``approve``.

    Returns:
        A ``Hold`` for a call waiting for a person; else the output: the result's text, or for
        a ``toolwire.Content`` result with images, its text then each image as a data URL.
    """
    error = result.error
    if error is not None:
        held = result.approval
        if error.kind == "approval_required" and held is not None and held.status == "pending":
            return Hold(held, result.output)
        return result.output
    value = result.result
    images = value.images() if isinstance(value, toolwire.Content) else []
    if not images:
        return result.output
    return [
        ToolOutputText(text=result.output),
        *(ToolOutputImage(image_url=f"data:{i.media_type};base64,{i.data}") for i in images),
    ]
