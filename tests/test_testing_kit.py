"""The tool-pack authoring kit: the pytest plugin's fixtures, check_toolset, response builders."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire.testing import (
    ModelStub,
    build_response,
    check_toolset,
    install_plugin,
    make_dispatcher,
    process_environment,
    run_process,
    run_toolwire,
)

pytest_plugins = ["pytester"]


def test_plugin_does_not_disturb_projects_that_do_not_use_it(pytester: pytest.Pytester) -> None:
    """A project with toolwire installed but unused sees its own tests and nothing else."""
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    lines = [line for line in result.outlines if not line.startswith("plugins:")]
    assert "toolwire" not in "\n".join(lines)  # only the header names it, like any plugin
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert "toolwire_dispatcher" in fixtures.stdout.str()  # offered, never forced


def test_fixtures_dispatch_as_a_model_would(pytester: pytest.Pytester) -> None:
    """toolwire_dispatcher and toolwire_model test a pack's round trip with no SDK."""
    pytester.makepyfile(
        test_pack='''
import toolwire

pack = toolwire.Toolset("p")


@pack.tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


def test_round_trip(toolwire_dispatcher, toolwire_model):
    toolwire_dispatcher.add(pack)
    assert toolwire_model.call("add", '{"a": 1, "b": 2}', "c1").output == "3"
    assert toolwire_model.call("add", '{"a": 1', "c2").error.kind == "invalid_arguments"
    items = toolwire_model.respond([("add", '{"a": 2, "b": 2}', "c3")])
    assert items[-1]["call_id"] == "c3" and items[-1]["output"] == "4"


def test_fresh_dispatcher_each_test(toolwire_dispatcher):
    assert toolwire_dispatcher.tools() == []
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_check_toolset_reports_every_problem_at_once() -> None:
    """One call reports every problem: descriptions, strict mode, provider limits."""
    pack = toolwire.Toolset("messy")

    @pack.tool
    def undocumented(x: int) -> int:
        return x

    @pack.tool
    def open_mapping(counts: dict[str, int]) -> int:
        """Sum counts.

        Args:
            counts: Counts by name.
        """
        return sum(counts.values())

    @pack.tool
    def fine(text: str) -> str:
        """Echo.

        Args:
            text: The text.
        """
        return text

    report = check_toolset(pack)
    assert not report.ok
    text = str(report)
    assert "problem: tool 'undocumented': no description" in text
    assert "note: tool 'undocumented': parameter 'x' has no description" in text
    assert any(p.startswith("tool 'open_mapping'") and "strict" in p for p in report.problems)
    assert not any(p.startswith("tool 'fine'") for p in report.problems)
    with pytest.raises(AssertionError, match="messy: "):
        report.raise_for_problems()
    check_toolset([fine]).raise_for_problems()


def test_check_toolset_and_toolwire_check_give_one_verdict() -> None:
    """Notes fail neither checker unless a pack asks; a pack can accept named notes."""
    pack = toolwire.Toolset("terse")

    @pack.tool
    def terse(x: int) -> int:
        """Return x."""
        return x

    report = check_toolset(pack)
    assert report.ok and report.notes == ["tool 'terse': parameter 'x' has no description"]
    report.raise_for_problems()
    with pytest.raises(AssertionError, match="note: tool 'terse'"):
        report.raise_for_problems(fail_on_notes=True)
    report.raise_for_problems(fail_on_notes=True, accept=["parameter 'x' has no description"])


@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic", "gemini"])
def test_built_responses_round_trip_for_every_provider(provider: str) -> None:
    """build_response makes each provider's response; ids and order survive the round trip."""
    pack = toolwire.Toolset("p")

    @pack.tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    dispatcher = make_dispatcher(pack)
    model = ModelStub(dispatcher, provider=provider)
    items = model.respond([("echo", {"text": "a"}, "id_a"), ("echo", {"text": "b"}, "id_b")])
    dumped: Any = items
    assert "id_a" in str(dumped) and str(dumped).index("id_a") < str(dumped).index("id_b")
    assert build_response(provider, [("echo", {"text": "x"})])  # ids are made up when missing
    dispatcher.close()


SMALL_PACK = '''
import toolwire

pack = toolwire.Toolset("kit-pack")


@pack.tool
def shout(text: str) -> str:
    """Say it louder."""
    return text.upper()
'''


def test_an_installed_plugin_is_found_by_the_toolwire_command(tmp_path: Path) -> None:
    """install_plugin makes a distribution the ``toolwire`` command, run by run_toolwire with
    the site on PYTHONPATH, loads by its entry point name and calls."""
    site = install_plugin(
        tmp_path / "site", "kit-plugin", {"kit-pack": "kit_plugin:pack"}, {"kit_plugin": SMALL_PACK},
        version="2.5",
    )  # fmt: skip
    config = tmp_path / "toolwire.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["kit-pack"]\n')
    env = process_environment(drop=("TOOLWIRE_", "PYTHON"), pythonpath=site)
    listed = run_toolwire("--config", config, "plugins", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = {r["name"]: r for r in json.loads(listed.stdout)}["kit-pack"]
    assert (row["status"], row["distribution"], row["version"]) == ("enabled", "kit-plugin", "2.5")
    called = run_toolwire("--config", config, "call", "shout", '{"text": "hi"}', env=env)
    assert called.returncode == 0, called.stderr
    assert "HI" in called.stdout


def test_process_environment_leaves_out_what_changes_a_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """TOOLWIRE_ variables (or the prefixes named) stay out, extras are set, and the site goes in
    front of what is left of PYTHONPATH."""
    monkeypatch.setenv("TOOLWIRE_CONFIG", "/nowhere/toolwire.toml")
    monkeypatch.setenv("PYTHONPATH", "/already/there")
    monkeypatch.setenv("KIT_KEPT", "yes")
    env = process_environment(pythonpath=tmp_path, KIT_EXTRA="1")
    assert "TOOLWIRE_CONFIG" not in env
    assert (env["KIT_KEPT"], env["KIT_EXTRA"]) == ("yes", "1")
    assert env["PYTHONPATH"] == os.pathsep.join([str(tmp_path), "/already/there"])
    bare = process_environment(drop=("TOOLWIRE_", "PYTHON", "KIT_"))
    assert not any(k.startswith(("TOOLWIRE_", "PYTHON", "KIT_")) for k in bare)


def test_run_process_returns_a_failure_with_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_process hands back a failing exit with stdout and stderr as text, feeds stdin, and
    without an env gives the process the environment minus TOOLWIRE_ variables."""
    monkeypatch.setenv("TOOLWIRE_CONFIG", "/nowhere/toolwire.toml")
    code = (
        "import os, sys; print(sys.stdin.read().upper()); "
        "print(os.environ.get('TOOLWIRE_CONFIG', 'unset'), file=sys.stderr); sys.exit(3)"
    )
    done = run_process([sys.executable, "-c", code], stdin="piped")
    assert (done.returncode, done.stdout, done.stderr) == (3, "PIPED\n", "unset\n")
