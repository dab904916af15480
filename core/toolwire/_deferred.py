"""Deferred tools on the wire: what each provider is sent, and toolwire's answers to searches.

A deferred tool (``defer_loading``) is callable, but left out of the first ``tools`` list:

- OpenAI Responses: each pack's deferred tools go in a ``namespace`` tool named after the pack,
  each function with ``defer_loading``, plus a ``tool_search`` tool: hosted (OpenAI searches)
  or client-executed (``process_response`` answers each ``tool_search_call`` with a
  ``tool_search_output`` built from toolwire's search).
- Anthropic: each deferred tool with ``defer_loading``, plus a search tool: the server's
  (``tool_search_tool_bm25_20251119``, ``tool_search_tool_regex_20251119``), or toolwire's
  client-side ``search_tools``, answered with ``tool_reference`` blocks.
- Gemini, Chat Completions and any other provider: a ``search_tools`` function tool, answered
  by toolwire; the tools earlier searches of a conversation found are offered in the next
  request (``tool_definitions(..., history=...)``).

Every answer comes from ``Dispatcher.search_tools`` for the role of the response, so it never
names a tool the role may not call; each search call a response makes is finished like any
other call, so the call log, the audit trail and spans see it, and a held turn keeps it.

Programmatic calls (``allowed_callers``): a tool that code the model runs may call is sent
with the provider's ``allowed_callers`` (OpenAI Responses ``programmatic``, Anthropic the code
execution tool's version), and the tool that runs the code is added to the list: OpenAI's
``programmatic_tool_calling``, Anthropic's ``code_execution``. OpenAI's definitions carry the
tool's output schema (``output_schema``), which code reads results by; Anthropic's tool type
has no such field. Gemini and Chat Completions have no programmatic calls: a tool only a
program may call is not sent to them.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from ._errors import RequireApproval, ToolError
from ._pipeline import NO_STATE, Finished
from ._plan import SEARCH_NAMES, Plan
from ._search import MAX_LIMIT
from ._serialize import error_text
from ._tools import Tool
from ._values import CallContext, DispatchResult, ToolCall
from .providers import ParsedResponse, Provider
from .providers._json import list_or_empty, mapping_or_empty, text_of, to_plain

#: The code execution tool version a tool names in Anthropic's ``allowed_callers``.
ANTHROPIC_CODE_EXECUTION: Final = "code_execution_20260120"
#: What each provider with programmatic calls names a caller, by toolwire's name.
PROVIDER_CALLERS: Final[Mapping[str, Mapping[str, str]]] = {
    "openai-responses": {"direct": "direct", "program": "programmatic"},
    "anthropic": {"direct": "direct", "program": ANTHROPIC_CODE_EXECUTION},
}
#: The tool that runs a model's code, added where a tool in the list allows ``program``.
PROGRAM_TOOLS: Final[Mapping[str, Mapping[str, Any]]] = {
    "openai-responses": {"type": "programmatic_tool_calling"},
    "anthropic": {"type": ANTHROPIC_CODE_EXECUTION, "name": "code_execution"},
}
#: The name of toolwire's own search tool, where a provider has no native search, and the
#: name observers see for an OpenAI client-side ``tool_search_call`` toolwire answered. A
#: start with deferred tools refuses a tool of either name (``_plan``).
SEARCH_TOOL, OPENAI_SEARCH = SEARCH_NAMES
#: The search modes ``tool_definitions(search=...)`` takes, by provider (others: ``client``).
SEARCH_MODES: Final[Mapping[str, tuple[str, ...]]] = {
    "openai-responses": ("client", "hosted"),
    "anthropic": ("client", "bm25", "regex"),
}
_ANTHROPIC_SERVER: Final = {
    "bm25": {"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"},
    "regex": {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
}
SEARCH_DESCRIPTION: Final = (
    "Search the tools not yet loaded: describe the tool you need in a few words. "
    "The tools found can be called in your next step."
)
SEARCH_PARAMETERS: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "Words describing the tool you need."},
    },
    "required": ["query"],
    "additionalProperties": False,
}
#: How many tools one search answers with.
FOUND_PER_SEARCH: Final = 5

#: What finds tools: ``(query, limit) -> tools`` for the role of the call.
Searcher = Callable[[str, int], list[Tool]]


def _search_stand_in(**_: Any) -> None:  # pragma: no cover - never called: toolwire answers
    return None


#: The search tool as a tool, so that any provider describes it in its own way.
SEARCH_TOOL_VALUE: Final = Tool(
    _search_stand_in,
    name=SEARCH_TOOL,
    description=SEARCH_DESCRIPTION,
    schema=SEARCH_PARAMETERS,
    output_schema=False,
)


def check_mode(provider: str, search: str) -> None:
    """Raise ``ValueError`` for a search mode the provider does not have."""
    modes = SEARCH_MODES.get(provider, ("client",))
    if search not in modes:
        raise ValueError(
            f"search={search!r}: provider {provider!r} takes {', '.join(map(repr, modes))}"
        )


def definitions(
    provider: str,
    tools: Sequence[Tool],
    deferred: frozenset[str],
    define: Callable[[Tool], Any],
    search: str,
    history: Iterable[Any] | None,
) -> list[Any]:
    """The ``tools`` list with ``deferred`` (names among ``tools``) deferred, for ``provider``."""
    if provider == "openai-responses":
        return _responses(tools, deferred, define, search)
    if provider == "anthropic":
        return _anthropic(tools, deferred, define, search)
    found = found_in(history) & deferred
    kept = [define(t) for t in tools if t.name not in deferred or t.name in found]
    return [*kept, define(SEARCH_TOOL_VALUE)]


def _responses(
    tools: Sequence[Tool], deferred: frozenset[str], define: Callable[[Tool], Any], search: str
) -> list[Any]:
    values: list[Any] = []
    spaces: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if tool.name not in deferred:
            values.append(define(tool))
            continue
        function = {**define(tool), "defer_loading": True}
        if tool.pack is None:
            values.append(function)
            continue
        space = spaces.get(tool.pack)
        if space is None:
            space = spaces[tool.pack] = namespace(tool)
            values.append(space)
        space["tools"].append(function)
    if search == "hosted":
        values.append({"type": "tool_search"})
    else:
        values.append(
            {
                "type": "tool_search",
                "execution": "client",
                "description": SEARCH_DESCRIPTION,
                "parameters": dict(SEARCH_PARAMETERS),
            }
        )
    return values


def namespace(tool: Tool) -> dict[str, Any]:
    """An empty OpenAI ``namespace`` tool for the tool's pack (its name made safe)."""
    pack = tool.pack or "tools"
    return {
        "type": "namespace",
        "name": re.sub(r"[^A-Za-z0-9_-]", "_", pack)[:64],
        "description": tool.pack_description or f"The tools of {pack}.",
        "tools": [],
    }


def _anthropic(
    tools: Sequence[Tool], deferred: frozenset[str], define: Callable[[Tool], Any], search: str
) -> list[Any]:
    values = [
        {**define(t), "defer_loading": True} if t.name in deferred else define(t) for t in tools
    ]
    if search in _ANTHROPIC_SERVER:
        values.append(dict(_ANTHROPIC_SERVER[search]))
    else:
        values.append(define(SEARCH_TOOL_VALUE))
    return values


# -- programmatic calls ----------------------------------------------------------------------


def offered(
    provider: str, tools: Sequence[Tool], callers: Mapping[str, tuple[str, ...]]
) -> list[Tool]:
    """The tools a model on ``provider`` can call at all: a tool only a program may call is
    left out where the provider has no programmatic calls."""
    if provider in PROVIDER_CALLERS or not callers:
        return list(tools)
    return [t for t in tools if "direct" in callers.get(t.name, ("direct",))]


def with_callers(provider: str, tool: Tool, callers: tuple[str, ...] | None, value: Any) -> Any:
    """One definition with the provider's ``allowed_callers`` (and, for OpenAI, the tool's
    ``output_schema``), where the tool allows other callers than the model itself."""
    names = PROVIDER_CALLERS.get(provider)
    if callers is None or names is None or not isinstance(value, Mapping):
        return value
    value = {**value, "allowed_callers": [names[c] for c in callers]}
    schema = tool.output_schema
    if provider == "openai-responses" and isinstance(schema, Mapping):
        value["output_schema"] = dict(schema)
    return value


def with_program_tool(
    provider: str, tools: Sequence[Tool], callers: Mapping[str, tuple[str, ...]], values: list[Any]
) -> list[Any]:
    """``values`` with the provider's tool that runs code, when a tool sent allows ``program``."""
    program = PROGRAM_TOOLS.get(provider)
    if program is None or not any("program" in callers.get(t.name, ()) for t in tools):
        return values
    return [*values, dict(program)]


# -- history -------------------------------------------------------------------------------


def found_in(history: Iterable[Any] | None) -> frozenset[str]:
    """The tool names toolwire's answers to ``search_tools`` in a conversation named.

    Reads Gemini contents (``functionResponse`` parts) and Chat Completions messages (``tool``
    messages answering a ``search_tools`` call), as SDK objects or plain JSON. What it finds
    is only a candidate: the caller keeps the names the role may call.
    """
    if history is None:
        return frozenset()
    names: set[str] = set()
    searches: set[str] = set()
    for entry in history:
        item = mapping_or_empty(_plain(entry))
        for call in list_or_empty(item.get("tool_calls")):
            function = mapping_or_empty(mapping_or_empty(call).get("function"))
            if function.get("name") == SEARCH_TOOL:
                searches.add(str(mapping_or_empty(call).get("id")))
        if item.get("role") == "tool" and str(item.get("tool_call_id")) in searches:
            names |= _names(_loaded(item.get("content")))
        for part in list_or_empty(item.get("parts")):
            part = mapping_or_empty(part)
            answer = mapping_or_empty(part.get("functionResponse", part.get("function_response")))
            if answer.get("name") == SEARCH_TOOL:
                names |= _names(mapping_or_empty(answer.get("response")).get("output"))
    return frozenset(names)


def _plain(entry: Any) -> Any:
    try:
        return to_plain(entry)
    except TypeError:
        return None


def _loaded(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return None
    return content


def _names(answer: Any) -> set[str]:
    tools = list_or_empty(mapping_or_empty(answer).get("tools"))
    return {str(t["name"]) for t in tools if isinstance(t, Mapping) and "name" in t}


# -- answers -------------------------------------------------------------------------------


def query_of(arguments: Any) -> str:
    """The query of a search call's arguments (a JSON string or a mapping); ``""`` if none."""
    arguments = _loaded(arguments)
    query = mapping_or_empty(arguments).get("query")
    return query if isinstance(query, str) else ""


def answer(found: Sequence[Tool]) -> dict[str, Any]:
    """A search's answer as JSON data: each tool's name and description."""
    return {
        "tools": [{"name": t.name, "description": t.description} for t in found],
        "note": "these tools can be called now" if found else "no tool matches; try other words",
    }


def client_searches(shape: Provider, parsed: ParsedResponse) -> list[tuple[Any, ToolCall]]:
    """The client-side OpenAI ``tool_search_call`` items of a response, each with its call as
    observers and permission hooks see it (named ``tool_search``)."""
    if shape.name != "openai-responses":
        return []
    searches: list[tuple[Any, ToolCall]] = []
    for item in list_or_empty(parsed.response.get("output")):
        item = mapping_or_empty(item)
        if item.get("type") != "tool_search_call" or item.get("execution") != "client":
            continue
        query = query_of(item.get("arguments"))
        call_id = text_of(item.get("call_id") or item.get("id"))
        searches.append((item, ToolCall(OPENAI_SEARCH, {"query": query}, call_id)))
    return searches


def search_output(
    item: Mapping[str, Any], found: Sequence[Tool], define: Callable[[Tool], Any]
) -> Any:
    """The ``tool_search_output`` answering one client-side ``tool_search_call``: the found
    tools, each pack's in a ``namespace`` (none when the search was refused)."""
    loaded: list[Any] = []
    spaces: dict[str, dict[str, Any]] = {}
    for tool in found:
        if tool.pack is None:
            loaded.append(define(tool))
            continue
        if tool.pack not in spaces:
            spaces[tool.pack] = namespace(tool)
            loaded.append(spaces[tool.pack])
        spaces[tool.pack]["tools"].append(define(tool))
    output: dict[str, Any] = {
        "type": "tool_search_output",
        "execution": "client",
        "status": "completed",
        "tools": loaded,
    }
    call_id = item.get("call_id")
    if call_id is not None:
        output["call_id"] = call_id
    return output


def _result(call: ToolCall, data: dict[str, Any]) -> DispatchResult:
    """A search that ran: one attempt (a refused one made none)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return DispatchResult(True, call.call_id, call.name, result=data, output=text, attempts=1)


def anthropic_references(found: Sequence[Tool]) -> list[dict[str, Any]] | str:
    """A client-side search's ``tool_result`` content: a ``tool_reference`` block per tool."""
    if not found:
        return "no tool matches; try other words"
    return [{"type": "tool_reference", "tool_name": t.name} for t in found]


class SearchAnswers:
    """Answers a response's calls of toolwire's search tool, for the role of the response.

    Each search is a call: the permission hooks vote on it first (``toolwire_check_permission``
    with the call named ``search_tools``, or ``tool_search`` for OpenAI's client-side search,
    its ``{"query": ...}`` arguments, and a context with no tool policy), and a search that is
    denied, or that a hook would hold for a person (a search cannot wait), is answered
    ``permission_denied`` with no tool found. With no vote, ``[defaults] permission`` decides,
    as for any call. Each search is then finished as any call is (``_pipeline.finish``): the
    call log, the audit trail and spans see it.

    Args:
        searcher: ``(query, limit) -> tools``: ``Dispatcher.search_tools`` for the role.
        define: ``(provider, tool) -> definition``, as ``tool_definitions`` sends it.
    """

    def __init__(
        self,
        searcher: Searcher,
        define: Callable[[Provider, Tool], Any],
        callers: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.searcher = searcher
        self.define = define
        self.callers = callers

    def calls(self, plan: Any, parsed: ParsedResponse) -> frozenset[int]:
        """The indexes of the calls toolwire's search answers (none when a tool has the
        search tool's name: then it is that tool's call)."""
        if SEARCH_TOOL in plan.routes:
            return frozenset()
        return frozenset(
            i
            for i, found in enumerate(parsed.calls)
            if found.call.name == SEARCH_TOOL and found.incomplete is None
        )

    async def answered(
        self,
        plan: Plan,
        shape: Provider,
        parsed: ParsedResponse,
        found: frozenset[int],
        role: str | None,
        state: Mapping[str, Any] | None,
        new_id: Callable[[], str],
    ) -> dict[int, Finished]:
        """Each search call of ``found`` (indexes into ``parsed.calls``) answered and finished."""
        done: dict[int, Finished] = {}
        for index in sorted(found):
            given = parsed.calls[index].call
            query = query_of(given.arguments)
            call = ToolCall(given.name, {"query": query}, given.call_id or new_id(), given.caller)
            started = time.perf_counter()
            result, tools, context = await self._search(
                plan, shape, call, given.arguments, role, state
            )
            item = shape.format_result(call, result)
            if result.success and shape.name == "anthropic" and isinstance(item, Mapping):
                item = {**item, "content": anthropic_references(tools)}
            done[index] = await _finished(plan, call, result, context, started, item)
        return done

    async def more(
        self,
        plan: Plan,
        shape: Provider,
        parsed: ParsedResponse,
        role: str | None,
        state: Mapping[str, Any] | None,
    ) -> list[Any]:
        """The ``tool_search_output`` of each client-side OpenAI ``tool_search_call``, each
        search voted on and finished as a call. The output type has no error field: a search
        refused, or with arguments that are no ``{"query": text}``, loads no tool, and its
        call ends with the error observers and the call log see."""
        define = functools.partial(self.define, shape)
        outputs: list[Any] = []
        for item, call in client_searches(shape, parsed):
            started = time.perf_counter()
            given = item.get("arguments")
            result, tools, context = await self._search(plan, shape, call, given, role, state)
            await _finished(plan, call, result, context, started, None)
            outputs.append(search_output(item, tools, define))
        return outputs

    async def _search(
        self,
        plan: Plan,
        shape: Provider,
        call: ToolCall,
        given: Any,
        role: str | None,
        state: Mapping[str, Any] | None,
    ) -> tuple[DispatchResult, list[Tool], CallContext]:
        """One search: its arguments checked, then the permission hooks' vote, then the
        tools found (those a model on ``shape`` can call)."""
        context = _context(call, role, state)
        refused = _bad_arguments(call, given) or await _refused(plan, call, context)
        if refused is not None:
            return refused, [], context
        query = query_of(call.arguments)
        if shape.name in PROVIDER_CALLERS or not self.callers:
            tools = self.searcher(query, FOUND_PER_SEARCH)
        else:  # a tool only a program may call is never offered here: never found either
            tools = offered(shape.name, self.searcher(query, MAX_LIMIT), self.callers)
            tools = tools[:FOUND_PER_SEARCH]
        return _result(call, answer(tools)), tools, context


def _context(call: ToolCall, role: str | None, state: Mapping[str, Any] | None) -> CallContext:
    context = CallContext(call.call_id, None, role, NO_STATE if state is None else state)
    context.caller = call.caller
    return context


async def _refused(plan: Plan, call: ToolCall, context: CallContext) -> DispatchResult | None:
    """The permission hooks' vote on a search: ``None`` when it may run, else its
    ``permission_denied`` result (a vote to ask a person refuses it: a search cannot wait)."""
    try:
        asked = plan.hooks.check_permission(call, context)
        if asked is not None and not isinstance(asked, RequireApproval):
            asked = await asked
    except ToolError as denied:
        return _refusal(call, denied)
    if asked is None:
        return None
    return _refusal(
        call,
        ToolError(
            f"a search cannot wait for a person ({asked.reason}); it was not run",
            kind="permission_denied",
        ),
    )


def _bad_arguments(call: ToolCall, given: Any) -> DispatchResult | None:
    """``invalid_arguments`` for search arguments that are no ``{"query": text}`` (as JSON
    text or a mapping), else ``None``."""
    arguments = _loaded(given)
    if isinstance(arguments, Mapping) and isinstance(arguments.get("query"), str):
        return None
    return _refusal(
        call,
        ToolError(
            f'{call.name} takes {{"query": "words describing the tool you need"}}: a JSON '
            'object whose "query" is text',
            kind="invalid_arguments",
        ),
    )


def _refusal(call: ToolCall, error: ToolError) -> DispatchResult:
    return DispatchResult(False, call.call_id, call.name, error=error, output=error_text(error))


async def _finished(
    plan: Plan,
    call: ToolCall,
    result: DispatchResult,
    context: CallContext,
    started: float,
    item: Any,
) -> Finished:
    """Observers see an answered search as a call (``toolwire_call_finished``)."""
    result.elapsed_ms = (time.perf_counter() - started) * 1000.0
    pending = plan.hooks.run_finished(call, result, context)
    if pending is not None:
        await pending
    return Finished(call, result, context, item)
