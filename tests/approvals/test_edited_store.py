"""A store edited behind toolwire's back: a decision ends with a clear error, never a spin."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import toolwire

from .conftest import Ledger, MakeDispatcher


@pytest.mark.parametrize("shift", [-3600.0, 3600.0], ids=["column-past", "column-future"])
async def test_an_expiry_column_that_disagrees_with_the_record_ends_the_wait(
    make: MakeDispatcher, pack: toolwire.Toolset, ledger: Ledger, tmp_path: Path, shift: float
) -> None:
    """When the row's expires_at says otherwise than the digested record, approve gives up
    within its wait with an ApprovalError naming the disagreement, and nothing runs."""
    store = tmp_path / "approvals.sqlite3"
    config = {"approvals": {"store": f"sqlite:///{store}", "ttl": 600}}
    dispatcher = make(pack, config=config)
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    assert held.approval is not None
    if shift > 0:  # the record is overdue, the column says it is not
        fixed = held.approval.expires_at
        db = sqlite3.connect(store)
        db.execute("UPDATE approvals SET fixed = replace(fixed, ?, ?) WHERE id = ?",
                   (repr(fixed), repr(time.time() - 10), held.approval.id))  # fmt: skip
        db.commit()
        db.close()
    db = sqlite3.connect(store)
    db.execute(
        "UPDATE approvals SET expires_at = ? WHERE id = ?", (time.time() + shift, held.approval.id)
    )
    db.commit()
    db.close()
    with pytest.raises(toolwire.ApprovalError, match="could not be claimed within the wait"):
        await dispatcher.approve(held.approval.id, by="alice", wait=0.5)
    assert ledger.entries == []
