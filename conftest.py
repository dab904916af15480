"""Fixtures every test under this checkout gets (tests/, plugins/*/tests, docs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """structlog's global configuration as the test found it: the CLI, run in-process,
    configures it (logs to stderr), which must not reach the tests after it."""
    saved = structlog.get_config() if structlog.is_configured() else None
    yield
    structlog.reset_defaults()
    if saved is not None:
        structlog.configure(**saved)
