"""``Dispatcher.search_tools``: ranked by BM25 over what a tool says of itself, per role."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire._search import words

from .conftest import MakeDispatcher

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tool-schemas.json"


def _packs() -> list[toolwire.Toolset]:
    calendar = toolwire.Toolset("calendar", "Meetings and events in the team calendar.")

    @calendar.tool
    def list_events(day: str) -> list[str]:
        """List the events of one day."""
        return [day]

    @calendar.tool(roles=["admin"])
    def purge_calendar(before: str) -> str:
        """Delete every event before a date, for good."""
        return before

    files = toolwire.Toolset("files", "Files on the local disk.")

    @files.tool(defer_loading=True)
    def read_file(path: str, encoding: str = "utf-8") -> str:
        """Read a text file.

        Args:
            path: Where the file is.
            encoding: The text encoding, such as latin-1.
        """
        return path

    return [calendar, files]


def test_a_query_finds_tools_by_name_description_parameters_and_pack(
    make: MakeDispatcher,
) -> None:
    """A word of the name, the description, a parameter's description or the pack finds it."""
    dispatcher = make(*_packs())
    assert dispatcher.search_tools("read")[0].name == "read_file"
    assert dispatcher.search_tools("text encoding latin")[0].name == "read_file"
    assert dispatcher.search_tools("local disk")[0].name == "read_file"
    assert dispatcher.search_tools("events of a day")[0].name == "list_events"
    assert dispatcher.search_tools("team meetings")[0].pack == "calendar"
    assert dispatcher.search_tools("listEvents")[0].name == "list_events"
    assert dispatcher.search_tools("nothing here matches zebra") == []


def test_a_search_never_returns_a_tool_the_role_may_not_call(make: MakeDispatcher) -> None:
    """The admin-only tool is found for admin and never for another role, however named."""
    dispatcher = make(*_packs())
    assert dispatcher.search_tools("purge calendar", role="admin")[0].name == "purge_calendar"
    for query in ("purge_calendar", "purge calendar delete every event", "for good"):
        found = dispatcher.search_tools(query, role="viewer", limit=50)
        assert "purge_calendar" not in [t.name for t in found]


def test_limit_caps_the_tools_returned_and_a_wrong_one_is_refused(make: MakeDispatcher) -> None:
    """``limit`` caps the list; a limit below one, or no whole number, is a ``ValueError``."""
    dispatcher = make(*_packs())
    assert len(dispatcher.search_tools("calendar day events", limit=1)) == 1
    for wrong in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            dispatcher.search_tools("calendar", limit=wrong)
    with pytest.raises(TypeError, match="text"):
        dispatcher.search_tools(None)  # type: ignore[arg-type]


def test_a_tool_added_later_is_found_after_the_next_start(make: MakeDispatcher) -> None:
    """The index is built per start: a pack added after a search is searched too."""
    dispatcher = make(_packs()[0])
    assert dispatcher.search_tools("local disk") == []
    dispatcher.add(_packs()[1])
    assert dispatcher.search_tools("local disk")[0].name == "read_file"


def _corpus() -> list[dict[str, Any]]:
    if not CORPUS.exists():
        message = f"needs the schema corpus {CORPUS} (shared/data/tool-schemas.json)"
        if os.environ.get("TOOLWIRE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    entries: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["schemas"]
    return entries


def corpus_description(entry: dict[str, Any]) -> str:
    """What the corpus says a tool does: it publishes no tool descriptions, so the schema's
    own description and its parameters' descriptions stand for one."""
    schema = entry["schema"]
    texts = [schema.get("description")]
    texts += [sub.get("description") for sub in (schema.get("properties") or {}).values()]
    return " ".join(t for t in texts if isinstance(t, str))


def corpus_pack(entries: list[dict[str, Any]]) -> tuple[toolwire.Toolset, list[str]]:
    """Every published tool in one pack, under its published name made distinct, and the
    query for each: the first three distinct content words of its description (of its name,
    for the few tools whose schema describes nothing)."""
    pack = toolwire.Toolset("corpus")
    queries = []
    for index, entry in enumerate(entries):
        description = corpus_description(entry)
        name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', entry['name'])[:50]}_{index}"
        pack.add(toolwire.tool(name=name, description=description, schema=entry["schema"])(dict))
        terms = list(dict.fromkeys(words(description))) or list(dict.fromkeys(words(name)))
        queries.append(" ".join(terms[:3]))
    return pack, queries


@pytest.mark.slow
def test_three_words_of_a_description_find_the_tool_in_the_top_five(
    make: MakeDispatcher,
) -> None:
    """For at least 90% of the 1,311 published tools, three words of its description put it
    in the top 5 of one registry holding them all."""
    pack, queries = corpus_pack(_corpus())
    dispatcher = make(pack)
    found = sum(
        tool.name in [t.name for t in dispatcher.search_tools(query, limit=5)]
        for tool, query in zip(pack, queries, strict=True)
    )
    share = found / len(queries)
    print(f"\ntool search: {found}/{len(queries)} tools in the top 5 ({share:.1%})")
    assert share >= 0.90
