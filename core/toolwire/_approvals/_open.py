"""Which store ``[approvals] store`` names, and where the default one lives."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from .._errors import ConfigError
from ._memory import MemoryStore
from ._redis import RedisStore
from ._sqlite import SQLiteStore
from ._store import ApprovalStore

#: Where an approval is kept when ``[approvals] store`` is not set: a file in this folder of
#: the platform's user state directory.
APP_NAME: Final = "toolwire"


def default_store_path() -> Path:
    """The SQLite file of ``[approvals]`` without ``store``: in the user state directory."""
    import platformdirs

    return platformdirs.user_state_path(APP_NAME, appauthor=False) / "approvals.sqlite3"


def open_store(url: str | None) -> ApprovalStore:
    """The store a URL names; ``None`` is a SQLite file in the user state directory.

    ``sqlite:///PATH`` takes a relative path (``sqlite:////var/lib/x.db`` for an absolute
    one), as SQLAlchemy spells it.

    Raises:
        ConfigError: an unknown scheme, or ``redis://`` without the ``redis`` package.
    """
    if url is None:
        return SQLiteStore(default_store_path())
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url)
    raise ConfigError(
        f"[approvals] store = {url!r}: expected sqlite:///PATH, memory:// or redis://"
    )


def check_store_url(url: str | None) -> None:
    """Fail at start for a store that cannot work here (a Redis URL without ``redis``).

    Raises:
        ConfigError: naming the missing package and how to install it.
    """
    if url is not None and url.startswith(("redis://", "rediss://")):
        import importlib.util

        if importlib.util.find_spec("redis") is None:
            raise ConfigError(
                f"[approvals] store = {url!r} needs the redis package: "
                "pip install 'toolwire[redis]'"
            )
