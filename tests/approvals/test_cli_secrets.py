"""`toolwire call` and `toolwire approvals` print no secret argument's value (``[logging]
redact``), anywhere; the table shows each call's arguments, masked and shortened."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from toolwire.testing import install_plugin, process_environment, run_toolwire

KEY = "sk-live-4f9a1c"
PASSWORD = "hunter2-pw"

PLUGIN_MODULE = '''
"""Tools that take secrets, and a guard that quotes them, as an installed plugin."""

import toolwire

pack = toolwire.Toolset("secret-fixtures")


@pack.tool(approval=True)
def rotate_key(service: str, api_key: str, note: str = "") -> str:
    """Give a service a new key (a person approves); the answer repeats the key."""
    return f"{service} now uses {api_key}"


@pack.tool
def connect(user: str, password: str) -> str:
    """Log in; a wrong password is quoted back in the error the model reads."""
    raise toolwire.ToolError(f"wrong password {password} for {user}")


class Guard:
    """Asks a person before a key is stored for production, quoting the key in the reason."""

    @toolwire.hookimpl
    def toolwire_check_permission(self, call, context):
        arguments = call.arguments
        if call.name == "rotate_key" and arguments.get("service") == "prod":
            return toolwire.RequireApproval(f"production key {arguments['api_key']}")
        return None


guard = Guard()
'''


@dataclass
class Operator:
    """Runs the installed ``toolwire`` command as an operator would, on one config."""

    site: Path
    config: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = process_environment(drop=("TOOLWIRE_", "PYTHON"), pythonpath=self.site, COLUMNS="250")
        return run_toolwire("--config", self.config, *args, env=env, timeout=60)

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert KEY not in done.stdout + done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def operator_for(tmp_path: Path) -> Callable[..., Operator]:
    """An ``Operator`` whose config enables the secret fixtures on a SQLite store."""
    site = install_plugin(
        tmp_path / "site",
        "twsecret-fixtures",
        {
            "secret-fixtures": "twsecret_fixtures:pack",
            "secret-guard": "twsecret_fixtures:guard",
        },
        {"twsecret_fixtures": PLUGIN_MODULE},
    )

    def build(logging_table: str = "") -> Operator:
        config = tmp_path / "toolwire.toml"
        config.write_text(
            textwrap.dedent(
                """
                [plugins]
                autoload = false
                enable = ["secret-fixtures", "secret-guard"]

                [approvals]
                store = "sqlite:///{store}"
                """
            ).format(store=tmp_path / "approvals.sqlite3")
            + logging_table
        )
        return Operator(site, config)

    return build


@pytest.fixture
def operator(operator_for: Callable[..., Operator]) -> Operator:
    """The default ``[logging] redact`` list (password, token, api_key, authorization, secret)."""
    return operator_for()


def ask(operator: Operator, service: str = "prod", note: str = "") -> str:
    """A waiting call to rotate_key, made through `toolwire call`; its approval id."""
    arguments = {"service": service, "api_key": KEY, "note": note}
    done = operator.run("call", "rotate_key", json.dumps(arguments))
    assert done.returncode == 1, done.stderr  # approval_required is an error for the caller
    assert KEY not in done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["error"]["error"] == "approval_required"
    assert result["approval"]["arguments"]["api_key"] == "[redacted]"
    return str(result["approval"]["id"])


def test_call_masks_a_secret_the_tool_quotes_in_its_error(operator: Operator) -> None:
    """`toolwire call` prints the error the tool chose with the password masked."""
    arguments = json.dumps({"user": "ann", "password": PASSWORD})
    result = operator.json("call", "connect", arguments)
    assert result["error"]["message"] == "wrong password [redacted] for ann"
    assert result["output"] == json.dumps(result["error"], separators=(",", ":"))


def test_list_json_masks_arguments_reason_and_quotes(operator: Operator) -> None:
    """`approvals list --json` redacts secret arguments by key, and masks their values where the
    reason or another argument repeats them."""
    approval_id = ask(operator, note=f"old key was {KEY}")
    (listed,) = operator.json("approvals", "list", "--json")
    assert listed["id"] == approval_id
    assert listed["arguments"] == {
        "api_key": "[redacted]",
        "note": "old key was [redacted]",
        "service": "prod",
    }
    assert listed["reason"] == "production key [redacted]"


def test_the_table_shows_each_calls_arguments_masked_and_shortened(operator: Operator) -> None:
    """The table has an ARGUMENTS column: each call's arguments, secrets masked, long ones cut
    with '...'."""
    short = ask(operator, service="staging")  # no guard: its policy asks
    long = ask(operator, note="n" * 200)
    table = operator.run("approvals", "list")
    assert table.returncode == 0, table.stderr
    assert KEY not in table.stdout
    header, *rows = table.stdout.splitlines()
    assert "ARGUMENTS" in header.split()
    column = header.index("ARGUMENTS")
    cells = {row.split()[0]: row[column:] for row in rows}
    assert cells[short].startswith('{"api_key": "[redacted]", "note": "", "service": "staging"}')
    assert cells[long].startswith('{"api_key": "[redacted]", "note": "nnnn')
    shown = cells[long].split("...")[0] + "..."
    assert len(shown) == 60
    assert cells[long][60:].strip() == "production key [redacted]"  # the REASON column


def test_approve_masks_the_record_and_the_output(operator: Operator) -> None:
    """`approvals approve` prints the result: the approval's arguments redacted, the output that
    repeats the key masked; the tool ran with the real key."""
    approval_id = ask(operator)
    result = operator.json("approvals", "approve", approval_id, "--by", "bob")
    assert result["success"] is True
    assert result["output"] == "prod now uses [redacted]"
    assert result["approval"]["arguments"]["api_key"] == "[redacted]"
    assert result["approval"]["status"] == "executed"


def test_reject_masks_a_message_that_quotes_the_secret(operator: Operator) -> None:
    """`approvals reject --message` quoting the key prints it masked, in the record and in the
    error the model reads (which the store keeps as said)."""
    approval_id = ask(operator)
    done = operator.run(
        "approvals", "reject", approval_id, "--by", "bob", "--message", f"{KEY} leaked"
    )
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["approval"]["message"] == "[redacted] leaked"
    assert "[redacted] leaked" in result["error"]["message"]


def test_the_redact_list_in_the_config_decides(operator_for: Callable[..., Operator]) -> None:
    """With [logging] redact = ["note"], note is masked and api_key is shown as given."""
    operator = operator_for('\n[logging]\nredact = ["NOTE"]\n')
    done = operator.run(
        "call", "rotate_key", json.dumps({"service": "x", "api_key": "k1", "note": "n-77"})
    )
    assert "n-77" not in done.stdout
    (listed,) = json.loads(operator.run("approvals", "list", "--json").stdout)
    assert listed["arguments"] == {"api_key": "k1", "note": "[redacted]", "service": "x"}


def test_the_table_shows_control_characters_as_escapes(operator: Operator) -> None:
    """Arguments holding a terminal escape sequence or a bidi override show as their escapes in
    the table, so what a person reads is what the call holds."""
    ask(operator, service="staging", note="\x1b[2Jok\u202eevil")
    table = operator.run("approvals", "list")
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\u202e" not in table.stdout
    assert '"note": "\\u001b[2Jok\\u202eevil' in table.stdout
