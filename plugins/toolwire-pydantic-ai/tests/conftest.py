"""Fixtures: the accounts pack (``pyai_helpers``) and a dispatcher over it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import toolwire
from toolwire.testing import make_dispatcher

sys.path.insert(0, str(Path(__file__).parent))

from pyai_helpers import Accounts, accounts_pack


@pytest.fixture
def accounts() -> Accounts:
    """get_user, delete_user (approval), audit (admin only), slow (a 0.2 s timeout), whoami."""
    return accounts_pack()


@pytest.fixture
def dispatcher(accounts: Accounts) -> Iterator[toolwire.Dispatcher]:
    """The accounts pack, approvals kept in memory."""
    with make_dispatcher(accounts.pack, config={"approvals": {"store": "memory://"}}) as made:
        yield made
