"""Tool search: the tools a query names, ranked with BM25 (``bm25s``), for a role.

An index is built once per plan, on the first search, over each tool's name (split into
words: ``get_weather``, ``listEvents``), description, parameter names and descriptions, and its
pack's description. A search ranks every tool, then keeps only those the role may call, so a
search never returns, names or describes a tool the role may not call. A dispatcher that
never searches never builds one (``bm25s`` is imported then, not with toolwire).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from ._schemadoc import walk
from ._tools import Tool

#: The most tools one search returns, whatever ``limit`` asks.
MAX_LIMIT: Final = 50
#: The longest query read, in characters; past it the query is cut (a model's text is input).
MAX_QUERY_CHARS: Final = 1_000

_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Words too common to tell tools apart (English function words and JSON Schema's own).
_STOPWORDS: Final = frozenset(
    """a an and are as at be but by for from has have if in into is it its of on or such that
    the their then there these they this to was were will with which who whom what when where
    how can do does not no may must should would could i you we our your me my object string
    integer number boolean array type default e g eg ie""".split()  # noqa: SIM905
)


def words(text: str) -> list[str]:
    """The lower-case words of ``text``: names split at ``_``, ``.``, ``-`` and case changes;
    stop words dropped."""
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS]


def tool_text(tool: Tool, pack_description: str = "") -> str:
    """Everything a search reads of one tool, as text."""
    parts = [tool.name, tool.name, tool.description, pack_description]
    for node in walk(tool.parameters):
        for name, sub in _properties(node):
            parts.append(name)
            if isinstance(sub, Mapping) and isinstance(sub.get("description"), str):
                parts.append(sub["description"])
    if isinstance(tool.parameters.get("description"), str):
        parts.append(tool.parameters["description"])
    return " ".join(p for p in parts if p)


def _properties(node: Any) -> Iterator[tuple[str, Any]]:
    properties = node.get("properties") if isinstance(node, Mapping) else None
    if isinstance(properties, Mapping):
        yield from ((str(name), sub) for name, sub in properties.items())


class ToolIndex:
    """A BM25 index of tools, built once; searched by many threads at once (read only).

    Args:
        tools: The tools to index, in a fixed order (ties rank in this order).
    """

    def __init__(self, tools: Sequence[Tool]) -> None:
        import bm25s  # type: ignore[import-untyped]  # imported by the first search only

        self.tools: tuple[Tool, ...] = tuple(tools)
        # One string per distinct word: thousands of tools repeat the same few thousand
        # words, and a string per occurrence would take several times the index's memory.
        one: dict[str, str] = {}
        corpus = [
            [one.setdefault(w, w) for w in words(tool_text(t, t.pack_description))] or ["_"]
            for t in tools
        ]
        self._bm25 = bm25s.BM25()
        if self.tools:
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, may_call: Callable[[Tool], bool], limit: int) -> list[Tool]:
        """At most ``limit`` tools that ``may_call`` allows, best first; none for a query
        with no word any tool has."""
        import numpy  # bm25s's own dependency

        terms = words(query[:MAX_QUERY_CHARS])
        if not terms or not self.tools or limit <= 0:
            return []
        scores = self._bm25.get_scores(terms)
        found: list[Tool] = []
        # Best first; a stable sort keeps the index's order among equal scores.
        for index in numpy.argsort(-scores, kind="stable"):
            if scores[index] <= 0:
                break
            tool = self.tools[int(index)]
            if may_call(tool):
                found.append(tool)
                if len(found) >= limit:
                    break
        return found


def checked_limit(limit: Any) -> int:
    """``limit`` as a whole number from 1 to ``MAX_LIMIT``.

    Raises:
        ValueError: ``limit`` is no whole number of 1 or more.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number, 1 or more, got {limit!r}")
    return min(limit, MAX_LIMIT)
