"""What a record's page says agrees with the record: a notice in the URL cannot contradict it,
an edited record is flagged, invisible formatting characters are shown; and a console started
on a store no host can share refuses to start."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest
import toolwire
from console_helpers import ALICE, Site, csrf_of, signed_in
from toolwire.types import Redaction
from toolwire_console._views import approval_view, visible

pytestmark = pytest.mark.slow


def test_a_memory_store_stops_the_console(site: Site) -> None:
    """``[approvals] store = "memory://"`` would show the console its own, empty memory: the
    start stops, saying to use the store the hosts share."""
    site.config.write_text(
        site.config.read_text().replace('"sqlite:///approvals.sqlite3"', '"memory://"')
    )
    done = site.run("console", "--port", "0")
    assert done.returncode != 0
    assert "the store the hosts share" in done.stderr and "console on" not in done.stderr


def test_a_notice_in_the_url_never_contradicts_the_record(site: Site) -> None:
    """A crafted link ``?outcome=approved`` to a pending call shows no notice; the notice a
    decision leads to is shown once the record agrees."""
    url = site.start_console()
    host = site.start_host(51)
    approval_id = host.pending[0]
    with closing(signed_in(url, ALICE)) as alice:
        crafted = alice.get(f"/approvals/{approval_id}?outcome=approved").text
        assert 'id="outcome"' not in crafted and 'id="status">pending<' in crafted
        assert 'id="outcome"' not in alice.get(f"/approvals/{approval_id}?outcome=ok").text
        csrf = csrf_of(alice.get("/approvals").text)
        alice.post(
            f"/approvals/{approval_id}/approve", data={"csrf": csrf}, headers={"Origin": url}
        )
        approved = alice.get(f"/approvals/{approval_id}?outcome=approved").text
        assert "runs it when it resumes" in approved  # what the record says too
        for claim in ("ok", "internal_error", "approval_denied"):
            page = alice.get(f"/approvals/{approval_id}?outcome={claim}").text
            assert "succeeded" not in page and "ended with" not in page
            assert "Rejected" not in page


def test_an_edited_record_is_flagged_on_its_page(site: Site) -> None:
    """A record whose stored arguments were edited after it was made no longer matches its
    digest: its page says so (its host would refuse to run it)."""
    url = site.start_console()
    host = site.start_host(52)
    approval_id = host.pending[0]
    with closing(sqlite3.connect(site.folder / "approvals.sqlite3")) as db, db:
        (fixed,) = db.execute("SELECT fixed FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        record = json.loads(fixed)
        record["arguments"] = record["arguments"].replace("52", "1")
        db.execute("UPDATE approvals SET fixed = ? WHERE id = ?", (json.dumps(record), approval_id))
    with closing(signed_in(url, ALICE)) as alice:
        page = alice.get(f"/approvals/{approval_id}").text
        listed = alice.get("/approvals").text
        csrf = csrf_of(listed)
        refused = alice.post(
            f"/approvals/{approval_id}/approve", data={"csrf": csrf}, headers={"Origin": url}
        )
    assert 'id="tampered"' in page and "cannot be approved" in listed
    assert refused.status_code == 409 and "cannot be approved" in refused.text


def test_invisible_formatting_characters_are_shown_as_escapes() -> None:
    """A right-to-left override or a zero-width character in a tool's arguments or its
    principal reads as its escape, so a person reads what is stored."""
    assert visible("pay\u202eusd") == "pay\\u202eusd"
    assert visible("a\u00adb\u2028c\U000e0041d\ufe0f") == "a\\u00adb\\u2028c\\U000e0041d\\ufe0f"
    assert visible({"to\u200b": ["\u2066x"]}) == {"to\\u200b": ["\\u2066x"]}
    approval = toolwire.Approval(
        id="a_1",
        call_id="c1",
        tool="pay",
        arguments=json.dumps({"to": "mallory\u202e"}),
        digest="",
        role=None,
        principal="ada\u202e",
        reason="",
        created_at=0.0,
        expires_at=1.0,
        status="pending",
    )
    view = approval_view(approval, Redaction(frozenset()), 0.5)
    assert view["principal"] == "ada\\u202e"
    assert "\u202e" not in json.dumps(view["arguments"], ensure_ascii=False)
    assert view["intact"] is False  # no digest of its own


def test_the_audit_page_shows_invisible_characters_as_escapes(tmp_path: Any) -> None:
    """A principal or tool name in the audit trail with a right-to-left override reads as its
    escape on the audit page, as it does on the approvals pages."""
    from toolwire_console._views import _newest_calls

    trail = tmp_path / "audit.jsonl"
    record = {"event": "call", "tool": "wipe", "principal": "ada\u202egnp.exe", "outcome": "ok"}
    trail.write_text(json.dumps(record) + "\n")
    (call,) = _newest_calls([trail], 10)
    assert call["principal"] == "ada\\u202egnp.exe"
