"""Elicitation from a loaded MCP server: a server that asks the host for input mid-call.

The host gives a callback in code (``McpPlugin(elicitation=...)``); it gets an
``ElicitationRequest`` (the server, the call it belongs to, the message, the requested schema)
and returns an ``ElicitationAnswer``. Without a callback every request is declined at once.
A callback that raises, returns something else, takes longer than the call has left, or
accepts content the requested schema does not allow gives a decline: a server never waits
for an answer that is not coming, and the host keeps running.

No MCP SDK import here: the plugin's public names load without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

Action = Literal["accept", "decline", "cancel"]
_ACTIONS: Final = frozenset({"accept", "decline", "cancel"})


@dataclasses.dataclass(frozen=True)
class ElicitationCall:
    """The toolwire call a server's request for input belongs to.

    Attributes:
        tool: The tool's name in toolwire (``NAME_`` prefix included).
        remote_tool: The server's own name for it.
        call_id: The call's id.
        role: The role the host dispatched under (``None`` when it gave none).
        principal: ``state["principal"]`` of the call, when the host passed one.
    """

    tool: str
    remote_tool: str
    call_id: str
    role: str | None = None
    principal: str | None = None


@dataclasses.dataclass(frozen=True)
class ElicitationRequest:
    """What a loaded MCP server asks for (an ``elicitation/create``, form mode).

    Attributes:
        server: The server's name (``[plugins.mcp.servers.NAME]``).
        call: The call the request belongs to; ``None`` when the server's request cannot be
            tied to one (several calls of that server under way on a 2025-11-25 session, and
            no task named in the request).
        message: The server's message for the person.
        schema: The JSON Schema the answer's content must match (``requestedSchema``).
    """

    server: str
    call: ElicitationCall | None
    message: str
    schema: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ElicitationAnswer:
    """The host's answer: ``accept`` with ``content``, ``decline`` or ``cancel``.

    Build one with ``ElicitationAnswer.accept({...})``, ``.decline()`` or ``.cancel()``.
    """

    action: Action
    content: Mapping[str, Any] | None = None

    @classmethod
    def accept(cls, content: Mapping[str, Any]) -> ElicitationAnswer:
        """Accept, with the values the requested schema asks for."""
        return cls("accept", MappingProxyType(dict(content)))

    @classmethod
    def decline(cls) -> ElicitationAnswer:
        """The person said no."""
        return cls("decline")

    @classmethod
    def cancel(cls) -> ElicitationAnswer:
        """The person dismissed the request without choosing."""
        return cls("cancel")


#: The host's callback: sync (run in a thread) or async (run on the plugin's event loop).
Elicitation = Callable[[ElicitationRequest], "ElicitationAnswer | Awaitable[ElicitationAnswer]"]


def checked_answer(answer: Any, schema: Mapping[str, Any]) -> tuple[ElicitationAnswer, str | None]:
    """The answer to send, and why it became a decline (``None`` when sent as given).

    Accepted content is checked against the requested schema (the SDK checks only that the
    values are of the kinds MCP allows).
    """
    if not isinstance(answer, ElicitationAnswer) or answer.action not in _ACTIONS:
        return ElicitationAnswer.decline(), f"the callback returned {type(answer).__name__}"
    if answer.action != "accept":
        return ElicitationAnswer(answer.action), None
    if not isinstance(answer.content, Mapping):
        return ElicitationAnswer.decline(), "the callback accepted without content"
    content = dict(answer.content)
    problem = _schema_problem(content, schema)
    if problem is not None:
        return ElicitationAnswer.decline(), problem
    return ElicitationAnswer("accept", content), None


def _schema_problem(content: dict[str, Any], schema: Mapping[str, Any]) -> str | None:
    import jsonschema_rs

    try:
        validator = jsonschema_rs.validator_for(dict(schema), validate_formats=True)
    except (ValueError, TypeError):  # jsonschema_rs.ValidationError is a ValueError
        return "the server's requested schema is not valid JSON Schema"
    for error in validator.iter_errors(content):
        # Where, and which rule: never the value (it may be a secret the person typed).
        where = "/".join(str(p) for p in error.instance_path) or "(the object)"
        rule = type(error.kind).__name__.rsplit("_", 1)[-1]
        return f"the accepted content does not match the requested schema at {where}: {rule}"
    return None
