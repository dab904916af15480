"""The console in a real browser: headless Chromium from the system's packages, driven by
Selenium, against ``toolwire console`` and a host process sharing a SQLite approvals store."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from console_helpers import ALICE, BOB, SECRET, Site, csrf_of, shoot, signed_in

pytestmark = pytest.mark.slow


def sign_in(driver: Any, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/sign-in")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.current_url.endswith("/approvals"))


def wait_for(driver: Any, check: Callable[[Any], Any], seconds: float = 30) -> Any:
    """What ``check(driver)`` returns once it is true: the DOM is polled until then."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(check)


def text_of(driver: Any, element_id: str) -> str:
    """The text of the element with that id, once the page that has it is loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    found = wait_for(driver, expected_conditions.presence_of_element_located((By.ID, element_id)))
    return str(found.text)


def _type(driver: Any, selector: str, text: str) -> bool:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        field = driver.find_element(By.CSS_SELECTOR, selector)
        field.click()
        field.send_keys(text)
        return field.get_attribute("value") == text
    except (NoSuchElementException, StaleElementReferenceException):
        return False


def test_approving_in_the_page_runs_the_call_once_in_the_host(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """With JavaScript off, the page lists the held call (secret masked); its Approve form
    records the approval, decided by the signed-in principal, and the page shows it approved,
    waiting for its host; the host process then runs it once, in its own process (never the
    console's), and its resumed turn gets the result."""
    from selenium.webdriver.common.by import By

    url = site.start_console()
    console_pid = site.processes[-1].pid
    go = site.folder / "resume-now"
    host = site.start_host(42, resume_after=go)
    driver = browser_for(javascript=False)
    sign_in(driver, url, ALICE)
    (article,) = driver.find_elements(By.CSS_SELECTOR, "article.approval")
    assert article.get_attribute("data-tool") == "delete_user"
    text = article.text
    assert "ada@example.com" in text and "[redacted]" in text
    assert SECRET not in driver.page_source  # masked, never rendered
    assert "Held turns" in driver.page_source and "1 of 1 call(s) still wait" in driver.page_source
    shoot(driver, "approvals")
    article.find_element(By.CSS_SELECTOR, "button.approve").click()
    assert text_of(driver, "status") == "approved"
    assert text_of(driver, "state") == "approved, waiting for its host"
    assert driver.find_element(By.ID, "decided-by").text == "alice"
    assert "the host that holds this call runs it" in text_of(driver, "outcome")
    assert driver.find_elements(By.CSS_SELECTOR, "button.approve") == []
    assert len(driver.find_elements(By.CSS_SELECTOR, "button.reject")) == 1  # to take it back
    shoot(driver, "approved")
    driver.get(url + "/approvals")
    assert driver.find_elements(By.CSS_SELECTOR, "article.approval") == []
    (waiting,) = driver.find_elements(By.CSS_SELECTOR, "article.approved")
    assert "approved, waiting for its host: approved by alice" in waiting.text
    assert driver.find_elements(By.CSS_SELECTOR, "button.approve, button.reject") == []
    assert site.executions() == []  # nothing ran in the console
    go.touch()
    items = host.items()
    outputs = [i["output"] for i in items if i["type"] == "function_call_output"]
    assert outputs[0] == "deleted user 42"
    assert site.ran_in() == [host.process.pid]
    assert console_pid not in site.ran_in()
    driver.get(url + f"/approvals/{host.pending[0]}")
    assert text_of(driver, "status") == "executed"
    assert driver.find_element(By.ID, "decided-by").text == "alice"


def test_rejecting_answers_approval_denied_and_the_list_updates_itself(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """With JavaScript on, a call held after the page loaded appears without a reload;
    rejecting it answers the host's turn with ``approval_denied`` and runs nothing."""
    from selenium.webdriver.common.by import By

    url = site.start_console()
    driver = browser_for(javascript=True)
    sign_in(driver, url, ALICE)
    assert "Nothing waits for a decision" in driver.page_source
    host = site.start_host(43)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.approval"))
    # Typing in the list pauses its updates; until the field has the focus, one may replace it.
    wait_for(driver, lambda d: _type(d, "article.approval input[name=message]", "not this user"))
    driver.find_element(By.CSS_SELECTOR, "article.approval button.reject").click()
    assert text_of(driver, "status") == "rejected"
    items = host.items()
    output = next(i["output"] for i in items if i.get("call_id") == "call_1" and "output" in i)
    assert "approval_denied" in output and "not this user" in output
    assert site.executions() == []


def test_a_viewer_has_no_buttons_and_a_forged_post_is_refused(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """A principal with ``view`` sees the call without buttons; its own post with a valid
    CSRF token is refused, and so are posts without the token, from another origin, or
    without the session cookie; the call still waits and nothing ran."""
    from selenium.webdriver.common.by import By

    url = site.start_console()
    host = site.start_host(44)
    driver = browser_for()
    sign_in(driver, url, BOB)
    assert driver.find_elements(By.CSS_SELECTOR, "article.approval")
    assert driver.find_elements(By.CSS_SELECTOR, "button.approve, button.reject") == []
    shoot(driver, "viewer")
    target = f"/approvals/{host.pending[0]}/approve"
    with closing(signed_in(url, BOB)) as bob:
        csrf = csrf_of(bob.get("/approvals").text)
        assert bob.post(target, data={"csrf": csrf}, headers={"Origin": url}).status_code == 403
    with closing(signed_in(url, ALICE)) as alice:
        csrf = csrf_of(alice.get("/approvals").text)
        assert (
            alice.post(target, data={"message": "no token"}, headers={"Origin": url}).status_code
            == 403
        )
        evil = {"Origin": "http://evil.example"}
        assert alice.post(target, data={"csrf": csrf}, headers=evil).status_code == 403
        assert alice.post(target, data={"csrf": csrf}).status_code == 403  # no Origin
        alice.cookies.clear()
        assert alice.post(target, data={"csrf": csrf}, headers={"Origin": url}).status_code == 403
    with closing(signed_in(url, ALICE)) as alice:
        page = alice.get(f"/approvals/{host.pending[0]}").text
        assert 'id="status">pending<' in page
    assert site.executions() == []


def test_the_tools_page_shows_a_config_value_with_its_source(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """The tools page shows ``timeout = 7`` from ``[tools.delete_user]``, the approval the
    code asks for, and each plugin with its status."""
    from selenium.webdriver.common.by import By

    url = site.start_console()
    driver = browser_for()
    sign_in(driver, url, BOB)
    driver.get(url + "/tools")
    cells = driver.find_element(By.ID, "policy-delete_user-timeout").find_elements(
        By.TAG_NAME, "td"
    )
    assert [c.text for c in cells] == ["timeout", "7", "[tools.delete_user]"]
    approval = driver.find_element(By.ID, "policy-delete_user-approval").text
    assert approval.endswith("yes plugin console-fixtures")
    timeout = driver.find_element(By.ID, "policy-get_user-timeout").text
    assert timeout == "timeout 3 plugin console-fixtures"
    assert "enabled" in driver.find_element(By.ID, "plugin-console-fixtures").text
    shoot(driver, "tools")


def test_the_audit_page_shows_recent_calls_and_the_chain(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """With the audit plugin on, the audit page lists the approved call with its principal
    and outcome, and says the chain verifies."""
    from selenium.webdriver.common.by import By

    site.write_config(audit=True)
    url = site.start_console()
    host = site.start_host(45)
    with closing(signed_in(url, ALICE)) as alice:
        csrf = csrf_of(alice.get("/approvals").text)
        done = alice.post(
            f"/approvals/{host.pending[0]}/approve", data={"csrf": csrf}, headers={"Origin": url}
        )
        assert done.status_code == 303
    host.items()  # the host, resuming all along, ran it: the trail names alice as deciding
    driver = browser_for()
    sign_in(driver, url, BOB)
    driver.get(url + "/audit")
    assert "The chain verifies" in driver.find_element(By.ID, "verification").text
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.calls tbody tr")]
    assert any("delete_user" in r and "ada@example.com" in r and "alice" in r for r in rows)
    shoot(driver, "audit")


EVIL_PAGE = """<!doctype html>
<title>Win a prize</title>
<form id="f" method="post" action="{action}">
  <input type="hidden" name="csrf" value="{csrf}">
</form>
<script>document.getElementById("f").submit();</script>
"""


@contextmanager
def page_served(html: str) -> Iterator[str]:
    """``html`` served at ``/`` by a real HTTP server on 127.0.0.1, on a port of its own."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Quiet: the test's output is not the place for an access log."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_cross_site_form_post_is_refused_and_nothing_runs(
    site: Site, browser_for: Callable[..., Any]
) -> None:
    """A page from another origin (another port) that auto-submits an approve form to the
    console, in a browser signed in to it and carrying the session's own CSRF token, is
    refused for its Origin: the call stays pending and nothing runs."""
    from selenium.webdriver.common.by import By

    url = site.start_console()
    host = site.start_host(46)
    driver = browser_for()
    sign_in(driver, url, ALICE)
    csrf = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    action = f"{url}/approvals/{host.pending[0]}/approve"
    with page_served(EVIL_PAGE.format(action=action, csrf=csrf)) as evil:
        assert not evil.startswith(url)
        driver.get(evil)
        wait_for(driver, lambda d: d.current_url == action)
        assert "cross-site request refused" in driver.find_element(By.TAG_NAME, "body").text
    log = site.console_log.read_text() if site.console_log else ""
    assert "toolwire_console.refused" in log and "origin" in log
    with closing(signed_in(url, ALICE)) as alice:
        page = alice.get(f"/approvals/{host.pending[0]}").text
        assert 'id="status">pending<' in page
    assert site.executions() == []
