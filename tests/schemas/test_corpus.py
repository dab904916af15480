"""1,311 tool schemas others published: every one defines a tool, and a sample means what it says.

The schemas (the MCP reference servers, Notion's and GitHub's MCP servers, the Berkeley
Function Calling Leaderboard's function docs) are read where the project's shared data lives;
they are never copied into the project.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import toolwire
from google.genai import types as gemini_types
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from toolwire.providers import restore_omitted, strict_schema
from toolwire.testing import make_dispatcher

from ._agreement import fill, mutations

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "data" / "tool-schemas.json"
PROVIDERS = ("openai-responses", "openai-chat", "anthropic", "gemini")
#: Formats the corpus uses that hypothesis-jsonschema does not generate by itself.
FORMATS = {"uuid": st.uuids().map(str), "int32": st.text(max_size=3), "json": st.just("{}")}


@functools.cache
def _load() -> list[dict[str, Any]]:
    if not CORPUS.exists():
        message = (
            f"needs the schema corpus {CORPUS} (the shared data folder beside the clone, "
            "`shared/data/tool-schemas.json`)"
        )
        # CI sets this: there the data must be present, and its absence is a failure.
        if os.environ.get("TOOLWIRE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    entries: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["schemas"]
    return entries


def _function(**kwargs: Any) -> dict[str, Any]:
    return kwargs


_STRATEGIES: dict[tuple[int, str], st.SearchStrategy[Any]] = {}


def _calls(key: tuple[int, str], schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Calls for a schema; hypothesis-jsonschema's work on a schema is done once per schema.

    It is handed a copy: it rewrites the schema it is given (resolving $refs in place).
    """
    if key not in _STRATEGIES:
        _STRATEGIES[key] = from_schema(copy.deepcopy(schema), custom_formats=FORMATS)
    return _STRATEGIES[key]


@pytest.fixture(scope="module")
def corpus_tools() -> list[toolwire.Tool]:
    """A tool per published schema, named by its place in the corpus."""
    return [
        toolwire.tool(name=f"t{i}", schema=entry["schema"])(_function)
        for i, entry in enumerate(_load())
    ]


@pytest.mark.slow
def test_every_published_schema_defines_a_tool_every_provider_describes(
    corpus_tools: list[toolwire.Tool],
) -> None:
    """All 1,311 define; all four providers describe each; strict mode takes at least 97.6%."""
    assert len(corpus_tools) == 1311
    pack = toolwire.Toolset("corpus")
    for tool in corpus_tools:
        pack.add(tool)
    with make_dispatcher(pack) as dispatcher:
        definitions = {p: dispatcher.tool_definitions(p) for p in PROVIDERS}
    assert all(len(listed) == 1311 for listed in definitions.values())
    strict = [d for d in definitions["openai-responses"] if d["strict"]]
    assert len(strict) / 1311 >= 0.976
    for definition in strict:
        jsonschema.Draft202012Validator.check_schema(definition["parameters"])
    for declaration in definitions["gemini"]:
        parsed = gemini_types.FunctionDeclaration.model_validate(declaration)
        assert "$ref" not in json.dumps(parsed.parameters_json_schema)


@functools.cache
def _sample() -> list[int]:
    """Every MCP server's tool, and every twentieth function of the leaderboard."""
    return [
        i
        for i, entry in enumerate(_load())
        if not entry["source"].startswith("bfcl") or i % 20 == 0
    ]


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_a_sample_is_accepted_as_its_schema_means_it(
    corpus_tools: list[toolwire.Tool], data: Any
) -> None:
    """Generated calls pass or fail as jsonschema says; strict mode and the validator agree."""
    index = data.draw(st.sampled_from(_sample()), label="corpus index")
    tool = corpus_tools[index]
    parameters = tool.parameters
    validator = tool.signature.validator
    reference = jsonschema.Draft202012Validator(parameters)
    strict, notes = strict_schema(parameters)
    exact = strict is not None and not any("dropped" in note for note in notes)

    drawn = data.draw(_calls((index, "tool"), parameters), label="call")
    accepted = validator.is_valid(drawn)
    # hypothesis-jsonschema ignores unevaluatedProperties: only such keys may be refused.
    assert accepted or {type(e.kind).__name__ for e in validator.iter_errors(drawn)} == {
        "UnevaluatedProperties"
    }, drawn
    assert accepted == reference.is_valid(drawn)
    for mutant in mutations(drawn, parameters, parameters):
        assert not validator.is_valid(mutant), mutant
        assert not reference.is_valid(mutant)
    if strict is None:
        return
    if accepted and exact:
        assert jsonschema.Draft202012Validator(strict).is_valid(
            fill(drawn, parameters, strict, parameters, strict)
        )
    sent = data.draw(_calls((index, "strict"), strict), label="sent in strict mode")
    if exact:
        assert validator.is_valid(restore_omitted(sent, parameters)), sent
