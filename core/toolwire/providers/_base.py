"""What a provider is: the four things toolwire asks of one model API."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._values import DispatchResult, ToolCall

if TYPE_CHECKING:
    from .._tools import Tool


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """One call found in a response.

    Attributes:
        call: The call, its arguments as the model sent them.
        incomplete: Why the call must not run (the response was cut off), or ``None``.
        given_id: The id as the response gave it, when the call got a fresh one because it
            had none or repeated another call's; ``None`` when the call keeps its own.
    """

    call: ToolCall
    incomplete: str | None = None
    given_id: str | None = None


@dataclass(slots=True)
class ParsedResponse:
    """A provider response taken apart: the calls to dispatch, and the response itself.

    Attributes:
        provider: The provider's name.
        calls: Every call, in the order the response gave them.
        response: The response as plain JSON data (SDK objects are dumped first).
        original: The object the host passed in, untouched.
    """

    provider: str
    calls: list[ParsedCall]
    response: Mapping[str, Any]
    original: Any = None


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """One tool described for one API, with what could not be expressed.

    Attributes:
        value: The element of the API's ``tools`` list (or function declarations).
        problems: Human-readable notes on what was changed or could not be expressed.
    """

    value: Any
    problems: tuple[str, ...] = field(default=())


class Provider(abc.ABC):
    """A model API's shapes: calls in a response, tool definitions, results going back.

    Subclass it and register an instance through ``toolwire_register_providers`` to add an API.
    """

    #: The name hosts use (``"openai-responses"``...).
    name: str = ""
    #: The property names this API takes in a tool's schema (matched whole), or ``None`` for
    #: any. A property it refuses (``$top``, ``filter[status]``) is sent under a safe name in
    #: this provider's definitions only, and calls are mapped back (see ``docs/providers``).
    property_names: re.Pattern[str] | None = None

    @abc.abstractmethod
    def detect(self, response: Mapping[str, Any]) -> bool:
        """Whether this plain-JSON response is one of this API's."""

    @abc.abstractmethod
    def parse_response(self, response: Mapping[str, Any]) -> ParsedResponse:
        """Find every tool call in the response, in order, flagging the cut-off ones."""

    @abc.abstractmethod
    def tool_definition(self, tool: Tool) -> ToolDefinition:
        """Describe one tool in this API's ``tools`` format."""

    @abc.abstractmethod
    def format_result(self, call: ToolCall, result: DispatchResult) -> Any:
        """Shape one result into this API's tool-output element."""

    @abc.abstractmethod
    def conversation_items(self, parsed: ParsedResponse, outputs: Sequence[Any]) -> list[Any]:
        """The items the host appends to the conversation: the response's own, then the outputs."""
