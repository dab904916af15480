"""The console's guards over real HTTP: failed sign-ins limited per client address and
overall, ``allowed_hosts`` and ``allowed_origins``; and ``run_in = "console"``."""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest
import toolwire
from console_helpers import ALICE, Site, csrf_of, signed_in
from toolwire_console._limits import MAX_ADDRESSES, SignInLimiter

LIMITS = """
[plugins.console]
sign_in_failures = 3
sign_in_failures_total = 5
"""


def client_from(url: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, follow_redirects=False, timeout=30, transport=transport)


def try_token(client: httpx.Client, url: str, token: str) -> httpx.Response:
    csrf = csrf_of(client.get("/sign-in").text)
    return client.post("/sign-in", data={"csrf": csrf, "token": token}, headers={"Origin": url})


def config_with(site: Site, table: str) -> None:
    """The site's config with ``table``'s keys added to ``[plugins.console]``."""
    text = site.config.read_text()
    keys = table.strip().removeprefix("[plugins.console]").strip()
    site.config.write_text(text.replace("[plugins.console]\n", f"[plugins.console]\n{keys}\n", 1))


@pytest.mark.slow
def test_failed_sign_ins_are_limited_per_address_and_overall(site: Site) -> None:
    """An address that failed 3 times is answered 429, even with the right token, while
    another address signs in; 5 failures from all addresses together stop every address; the
    log says so and never holds a token."""
    config_with(site, LIMITS)
    url = site.start_console()
    wrong = "wrong-token-" + "x" * 20
    with closing(client_from(url, "127.0.0.2")) as guesser:
        assert [try_token(guesser, url, wrong).status_code for _ in range(3)] == [401] * 3
        limited = try_token(guesser, url, ALICE)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in limited.text
    with closing(client_from(url, "127.0.0.3")) as other:
        assert try_token(other, url, ALICE).status_code == 303
    with closing(client_from(url, "127.0.0.5")) as third:
        assert try_token(third, url, wrong).status_code == 401
        assert try_token(third, url, wrong).status_code == 401  # the fifth failure overall
    with closing(client_from(url, "127.0.0.4")) as fresh:
        assert try_token(fresh, url, ALICE).status_code == 429
    log = site.console_log.read_text() if site.console_log else ""
    assert log.count("toolwire_console.sign_in_limited") == 2
    assert "127.0.0.2" in log and "127.0.0.4" in log
    assert ALICE not in log and wrong not in log


@pytest.mark.slow
def test_a_sign_in_limit_of_zero_stops_the_start(site: Site) -> None:
    """``sign_in_failures = 0`` would mean nobody may fail, or be read as no limit: the start
    stops naming the key."""
    config_with(site, "[plugins.console]\nsign_in_failures = 0\n")
    done = site.run("console", "--port", "0")
    assert done.returncode != 0
    assert "sign_in_failures" in done.stderr and "console on" not in done.stderr


@pytest.mark.slow
def test_allowed_hosts_and_origins(site: Site) -> None:
    """A Host in ``allowed_hosts`` is served and one not allowed is answered 421; a form from
    an origin in ``allowed_origins`` signs in and decides, one from any other origin is
    refused (403) and decides nothing."""
    config_with(
        site,
        '[plugins.console]\nallowed_hosts = ["console.example.com"]\n'
        'allowed_origins = ["https://console.example.com"]\n',
    )
    url = site.start_console()
    host = site.start_host(47, resume_after=site.folder / "never")
    proxied = {"Host": "console.example.com"}
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        assert client.get("/sign-in", headers=proxied).status_code == 200
        assert client.get("/sign-in", headers={"Host": "other.example.com"}).status_code == 421
        assert client.get("/sign-in", headers={"Host": "console.example.com.evil"}).status_code == (
            421
        )
        csrf = csrf_of(client.get("/sign-in", headers=proxied).text)
        evil = {**proxied, "Origin": "https://evil.example.com"}
        assert (
            client.post("/sign-in", data={"csrf": csrf, "token": ALICE}, headers=evil).status_code
            == 403
        )
        allowed = {**proxied, "Origin": "https://console.example.com"}
        signed = client.post("/sign-in", data={"csrf": csrf, "token": ALICE}, headers=allowed)
        assert signed.status_code == 303
        csrf = csrf_of(client.get("/approvals", headers=proxied).text)
        target = f"/approvals/{host.pending[0]}/approve"
        assert client.post(target, data={"csrf": csrf}, headers=evil).status_code == 403
        assert "pending" in client.get(f"/approvals/{host.pending[0]}", headers=proxied).text
        decided = client.post(target, data={"csrf": csrf}, headers=allowed)
        assert decided.status_code == 303 and "outcome=approved" in decided.headers["location"]
    assert site.executions() == []


@pytest.mark.slow
def test_run_in_console_runs_the_call_in_the_console(site: Site) -> None:
    """With ``run_in = "console"`` an approval in the page runs the call at once in the
    console's process, as ``toolwire approvals approve`` would; the host gets its result."""
    config_with(site, '[plugins.console]\nrun_in = "console"\n')
    url = site.start_console()
    console_pid = site.processes[-1].pid
    go = site.folder / "resume-now"
    host = site.start_host(48, resume_after=go)
    with closing(signed_in(url, ALICE)) as alice:
        csrf = csrf_of(alice.get("/approvals").text)
        target = f"/approvals/{host.pending[0]}/approve"
        done = alice.post(target, data={"csrf": csrf}, headers={"Origin": url})
        assert done.status_code == 303 and "outcome=ok" in done.headers["location"]
        assert 'id="status">executed<' in alice.get(f"/approvals/{host.pending[0]}").text
    assert site.ran_in() == [console_pid]
    go.touch()
    items = host.items()
    assert next(i["output"] for i in items if i["type"] == "function_call_output") == (
        "deleted user 48"
    )
    assert site.ran_in() == [console_pid]


def test_run_in_names_host_or_console() -> None:
    """``run_in`` other than host or console is a config error naming the key."""
    from toolwire_console import Settings

    config = toolwire.Config(data={"plugins": {"console": {"run_in": "anywhere"}}})
    with pytest.raises(toolwire.ConfigError, match="run_in"):
        Settings.from_config(config)


def test_the_limiter_forgets_after_its_window_and_holds_a_bounded_number_of_addresses() -> None:
    """Failures count within the window only; a flood from more addresses than it tracks
    keeps MAX_ADDRESSES of them, and the overall limit still stops it."""
    now = [0.0]
    limiter = SignInLimiter(per_address=2, overall=100, window=60, clock=lambda: now[0])
    limiter.failed("a")
    assert limiter.wait_for("a") == 0
    limiter.failed("a")
    assert limiter.wait_for("a") == 60 and limiter.wait_for("b") == 0
    now[0] = 59.5
    assert limiter.wait_for("a") == pytest.approx(0.5)
    now[0] = 60.0
    assert limiter.wait_for("a") == 0
    for n in range(MAX_ADDRESSES + 500):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    assert limiter.tracked() == MAX_ADDRESSES
    assert limiter.wait_for("someone-new") > 0  # the flood met the overall limit
    with pytest.raises(ValueError, match="above 0"):
        SignInLimiter(per_address=0, overall=5)
