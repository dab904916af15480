"""What LangChain gives the model for a toolwire result: the one place error kinds map."""

from __future__ import annotations

from typing import Any

import toolwire
from langchain_core.tools import ToolException

#: A tool message's content: toolwire's output text, or text and image blocks.
MessageContent = str | list[str | dict[str, Any]]


class ToolwireError(ToolException):
    """A call toolwire answered with an error; the model reads toolwire's error object.

    Raised by the tools ``tools()`` makes and turned by their ``handle_tool_error`` into a
    ``ToolMessage`` with ``status="error"``, as LangChain does for any ``ToolException``.

    Attributes:
        result: The call's ``toolwire.DispatchResult`` (``error.kind`` says what happened).
    """

    def __init__(self, result: toolwire.DispatchResult) -> None:
        super().__init__(result.output)
        self.result = result


def answer(result: toolwire.DispatchResult) -> tuple[MessageContent, dict[str, Any]]:
    """The ``(content, artifact)`` of a successful call, or ``ToolwireError`` for any other.

    Every error kind takes the same way: LangChain's own for a tool that ran and failed, a
    ``ToolMessage`` with ``status="error"``, never an exception that ends the run. The model
    reads toolwire's error object (kind, message, retryable, details): it corrects invalid
    arguments, and learns that a call waits for a person (``approval_required``, with the
    approval id; ``ApprovalMiddleware`` asks the person). Success gives toolwire's output
    text (its serializer, output budget and after hooks applied), with a ``Content``
    result's images as image blocks after it, and ``DispatchResult.to_dict()`` as the
    artifact: plain JSON, so a checkpointer stores it as it is.

    Raises:
        ToolwireError: the call did not succeed.
    """
    if not result.success:
        raise ToolwireError(result)
    value = result.result
    images = value.images() if isinstance(value, toolwire.Content) else []
    content: MessageContent = result.output
    if images:
        content = [
            {"type": "text", "text": result.output},
            *({"type": "image", "base64": i.data, "mime_type": i.media_type} for i in images),
        ]
    return content, result.to_dict()


def error_content(error: ToolException) -> str:
    """``handle_tool_error`` of the tools: toolwire's error text; any other exception goes on.

    Raises:
        ToolException: one that no toolwire call raised, unchanged.
    """
    if isinstance(error, ToolwireError):
        return error.result.output
    raise error
