"""Starting the console fails closed, binds to loopback, checks ``Host``; policy sources."""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest
import toolwire
from console_helpers import ALICE, Site, signed_in

pytestmark = pytest.mark.slow


def test_without_a_token_the_console_refuses_to_start(site: Site) -> None:
    """No sign-in token configured: ``toolwire console`` exits with a message naming the key
    to add, and listens on nothing."""
    site.config.write_text(site.config.read_text().split("[plugins.console.tokens.alice]")[0])
    done = site.run("console", "--port", "0")
    assert done.returncode != 0
    assert "[plugins.console] tokens: no sign-in token is configured" in done.stderr
    assert "console on" not in done.stderr


def test_an_unset_token_variable_stops_the_start(site: Site) -> None:
    """A token's variable unset: the message names the variable and the key, never a token."""
    del site.env["CONSOLE_BOB_TOKEN"]
    done = site.run("console", "--port", "0")
    assert done.returncode != 0
    assert "[plugins.console.tokens.bob] env" in done.stderr
    assert "CONSOLE_BOB_TOKEN is not set" in done.stderr
    assert ALICE not in done.stderr + done.stdout


def test_a_wrong_permission_is_reported_by_key(site: Site) -> None:
    """A permission other than view or approve stops the start naming the key."""
    site.config.write_text(site.config.read_text().replace('"view"', '"admin"'))
    done = site.run("console", "--port", "0")
    assert done.returncode != 0
    assert "[plugins.console] tokens.bob.permission" in done.stderr or (
        "permission" in done.stderr and "view or approve" in done.stderr
    )


def test_the_console_listens_on_loopback_and_checks_host(site: Site) -> None:
    """By default it serves on 127.0.0.1; a request naming another Host is answered 421, and a
    signed-out visitor is sent to the sign-in page."""
    url = site.start_console()
    assert url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=url) as client:
        assert client.get("/approvals", headers={"Host": "evil.example"}).status_code == 421
        moved = client.get("/approvals")
        assert moved.status_code == 303 and moved.headers["location"] == "/sign-in"
        page = client.get("/sign-in")
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_wrong_token_does_not_sign_in(site: Site) -> None:
    """A token that is not one of the console's answers 401 and gives no session."""
    url = site.start_console()
    with closing(signed_in(url, ALICE)) as alice:
        assert alice.get("/tools").status_code == 200
    with pytest.raises(AssertionError, match="not signed in: 401"):
        signed_in(url, ALICE[:-1] + "x")


def test_policy_sources_name_each_layer() -> None:
    """``Dispatcher.policy_sources`` names ``[tools.NAME]``, the code, ``[defaults]`` and the
    built-in defaults for the values ``policy`` holds."""
    pack = toolwire.Toolset("sources")

    @pack.tool(timeout=3, approval=True, destructive=True)
    def wipe(path: str) -> str:
        """Wipe a path."""
        return path

    config = {"tools": {"wipe": {"retries": 2}}, "defaults": {"executor": "thread"}}
    with toolwire.Dispatcher(config).add(pack) as dispatcher:
        policy = dispatcher.policy("wipe")
        sources = dispatcher.policy_sources("wipe")
    assert (policy.retries, sources["retries"]) == (2, "[tools.wipe]")
    assert (policy.timeout, sources["timeout"]) == (3, "code")
    assert (policy.approval, sources["approval"]) == (True, "code")
    assert (policy.executor, sources["executor"]) == ("thread", "[defaults]")
    assert sources["max_output_chars"] == "built-in default"
    assert sources["roles"] == "not set"


def test_defaults_approval_is_named_as_its_source() -> None:
    """``[defaults] approval = "destructive"`` makes a destructive tool wait, and is named as
    the source; ``[tools.NAME] approval = false`` lifts it and is named instead."""
    pack = toolwire.Toolset("sources")

    @pack.tool(destructive=True)
    def drop(table: str) -> str:
        """Drop a table."""
        return table

    @pack.tool(destructive=True)
    def purge(table: str) -> str:
        """Purge a table."""
        return table

    config = {"defaults": {"approval": "destructive"}, "tools": {"purge": {"approval": False}}}
    with toolwire.Dispatcher(config).add(pack) as dispatcher:
        assert dispatcher.policy("drop").approval is True
        assert dispatcher.policy_sources("drop")["approval"] == "[defaults]"
        assert dispatcher.policy("purge").approval is False
        assert dispatcher.policy_sources("purge")["approval"] == "[tools.purge]"
