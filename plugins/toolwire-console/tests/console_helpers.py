"""Helpers: a tool pack installed in a site folder of the test's own, a config an operator
would write, a host process that holds an approval-gated call, ``toolwire console`` started as
an operator starts it, a real HTTP client, and headless Chromium driven by Selenium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

SCRIPT = Path(sys.executable).parent / "toolwire"
ALICE = "alice-approves-6Qm2x9Lw41ZsT8kVbR3n"  # sign-in tokens of the test's own
BOB = "bob-only-views-P7c0Yj5HqW2dNu9eGf4a"
AUDIT_KEY = "audit-key-Vx83KdP0qLm2Zt7WbN5s"
SECRET = "sk-live-7Qd93xwZ"  # an argument the redact list hides
DOCS_SHOTS = Path(__file__).parent.parent.parent.parent / "docs" / "console"

PACK = '''
"""A tool that needs a person's approval and leaves a line in $TWCONSOLE_LEDGER each run."""

import os

import toolwire

pack = toolwire.Toolset("console-fixtures")


@pack.tool(approval=True, destructive=True)
def delete_user(user_id: int, api_key: str = "", note: str = "") -> str:
    """Delete a user account for good (a person approves)."""
    with open(os.environ["TWCONSOLE_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"delete {user_id} pid {os.getpid()}\\n")
    return f"deleted user {user_id}"


@pack.tool(timeout=3)
def get_user(user_id: int) -> dict:
    """Look a user up."""
    return {"id": user_id, "name": "Ada"}
'''

HOST = '''
"""A host: dispatches a model's turn with a gated call, holds it, and waits for the decision,
resuming the turn every 0.2 s (once the file named by argv[4] exists, when one is named): an
approved call runs here, in this process."""

import json
import os
import sys
import time
from pathlib import Path

import toolwire
from toolwire.testing import build_response

dispatcher = toolwire.Dispatcher.from_config(sys.argv[1])
response = build_response(
    "openai-responses",
    [("delete_user", json.dumps({"user_id": int(sys.argv[2]), "api_key": sys.argv[3],
                                  "note": "x" * 300})),
     ("get_user", '{"user_id": 7}')],
)
held = dispatcher.process_response_sync(response, state={"principal": "ada@example.com"})
print(json.dumps({"turn": held.turn_id, "pending": [a.id for a in held.pending],
                  "pid": os.getpid()}), flush=True)
while len(sys.argv) > 4 and not Path(sys.argv[4]).exists():
    time.sleep(0.05)
while True:
    try:
        items = dispatcher.resume_sync(held.turn_id, once=True)
        break
    except toolwire.ApprovalError as exc:
        if not exc.pending:
            raise
        time.sleep(0.2)
print(json.dumps(items), flush=True)
dispatcher.close()
'''


def chromium_paths() -> tuple[str, str] | None:
    """The system's Chromium and its driver, when both are installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@dataclass
class Site:
    """A config, its folder, and the environment the operator's commands run with."""

    folder: Path
    config: Path
    ledger: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    console_log: Path | None = None

    def executions(self) -> list[str]:
        """One line per time the gated tool's body ran, in any process."""
        if not self.ledger.exists():
            return []
        return self.ledger.read_text(encoding="utf-8").splitlines()

    def ran_in(self) -> list[int]:
        """The process id of each run of the gated tool, in order."""
        return [int(line.rsplit(" pid ", 1)[1]) for line in self.executions()]

    def write_config(self, extra: str = "", audit: bool = False) -> None:
        enabled = (
            '["console-fixtures", "console", "audit"]'
            if audit
            else ('["console-fixtures", "console"]')
        )
        audit_table = '[plugins.audit]\npath = "audit.jsonl"\n' if audit else ""
        self.config.write_text(
            textwrap.dedent(f"""
            [plugins]
            autoload = false
            enable = {enabled}

            [approvals]
            store = "sqlite:///approvals.sqlite3"

            [logging]
            redact = ["api_key"]

            [tools.delete_user]
            timeout = 7

            [plugins.console]
            refresh = 0.5

            [plugins.console.tokens.alice]
            env = "CONSOLE_ALICE_TOKEN"
            permission = "approve"

            [plugins.console.tokens.bob]
            env = "CONSOLE_BOB_TOKEN"
            permission = "view"
            """)
            + audit_table
            + extra
        )

    def start_host(self, user_id: int = 42, resume_after: Path | None = None) -> Host:
        """The host process: it holds the gated call until a person decides, resuming its turn
        over and over (only once ``resume_after`` exists, when given)."""
        after = [] if resume_after is None else [str(resume_after)]
        process = subprocess.Popen(
            [
                sys.executable,
                str(self.folder / "host.py"),
                str(self.config),
                str(user_id),
                SECRET,
                *after,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.folder,
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        held = json.loads(line)
        assert held["pid"] == process.pid
        return Host(process, held["turn"], held["pending"])

    def start_console(self, *args: str) -> str:
        """``toolwire --config FILE console --port 0``; returns its URL once it listens (its
        process is ``self.processes[-1]``, its log ``self.console_log``)."""
        log = self.folder / f"console-{len(self.processes)}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [str(SCRIPT), "--config", str(self.config), "console", "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=self.env,
                cwd=self.folder,
            )
        self.processes.append(process)
        self.console_log = log
        for _ in range(600):
            found = re.search(r"console on (http://\S+/)", log.read_text())
            if found:
                return found.group(1).rstrip("/")
            if process.poll() is not None:
                raise AssertionError(f"toolwire console ended: {log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"toolwire console did not start: {log.read_text()}")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``toolwire`` command on this config, as an operator runs it."""
        return subprocess.run(
            [str(SCRIPT), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
            timeout=60,
            check=False,
        )


@dataclass
class Host:
    process: subprocess.Popen[str]
    turn: str
    pending: list[str]

    def items(self) -> list[dict[str, Any]]:
        """The turn's items, printed once every decision is made."""
        assert self.process.stdout is not None
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return list(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A folder with the fixture pack installed beside toolwire, a config, and its env."""
    packages = tmp_path / "packages"
    dist_info = packages / "twconsole_fixtures-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: twconsole-fixtures\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[toolwire]\nconsole-fixtures = twconsole_fixtures:pack\n"
    )
    (packages / "twconsole_fixtures.py").write_text(PACK)
    (tmp_path / "host.py").write_text(HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLWIRE_", "PYTHON"))}
    env.update(
        PYTHONPATH=str(packages),
        TWCONSOLE_LEDGER=str(tmp_path / "ledger.txt"),
        CONSOLE_ALICE_TOKEN=ALICE,
        CONSOLE_BOB_TOKEN=BOB,
        TOOLWIRE_AUDIT_KEY=AUDIT_KEY,
    )
    made = Site(tmp_path, tmp_path / "toolwire.toml", tmp_path / "ledger.txt", env)
    made.write_config()
    yield made
    for process in made.processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def signed_in(url: str, token: str, **options: Any) -> httpx.Client:
    """An HTTP client signed in with ``token``, as a browser without JavaScript would
    (``options`` go to ``httpx.Client``)."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30, **options)
    form = client.get("/sign-in")
    csrf = csrf_of(form.text)
    answer = client.post("/sign-in", data={"csrf": csrf, "token": token}, headers={"Origin": url})
    if answer.status_code != 303:
        client.close()
        raise AssertionError(f"not signed in: {answer.status_code}")
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


@pytest.fixture
def browser_for() -> Iterator[Callable[..., Any]]:
    """Headless Chromium from the system's packages, driven by Selenium (JavaScript on unless
    ``javascript=False``); skipped with the reason when they are missing."""
    paths = chromium_paths()
    if paths is None:
        reason = (
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("TOOLWIRE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; TOOLWIRE_REQUIRE_BROWSER=1 requires them")
        pytest.skip(reason)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("TOOLWIRE_REQUIRE_BROWSER") == "1":
            pytest.fail("selenium is not installed; TOOLWIRE_REQUIRE_BROWSER=1 requires it")
        pytest.skip("selenium is not installed (pip install selenium)")
    drivers: list[Any] = []

    def start(javascript: bool = True) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = paths[0]
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--window-size=1100,900", "--disable-gpu"):  # fmt: skip
            options.add_argument(argument)
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        driver = webdriver.Chrome(options=options, service=Service(paths[1]))
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def shoot(driver: Any, name: str) -> None:
    """A screenshot of the page: taken every run (so a page that cannot render fails here);
    written over the documentation page's (docs/console/NAME.png) only when
    ``TOOLWIRE_SCREENSHOTS=docs`` asks, so a test run leaves the checkout as it was."""
    png = driver.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG"), f"no screenshot of {name}"
    if os.environ.get("TOOLWIRE_SCREENSHOTS") == "docs":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        (DOCS_SHOTS / f"{name}.png").write_bytes(png)
