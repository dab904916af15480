"""Fixtures for the logging tests: logging as a host that configured nothing leaves it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def unconfigured() -> Iterator[None]:
    """structlog unconfigured (``capture_logs`` leaves it configured) and no level on ``toolwire``."""
    structlog.reset_defaults()
    logging.getLogger("toolwire").setLevel(logging.NOTSET)
    yield
    logging.getLogger("toolwire").setLevel(logging.NOTSET)
    structlog.reset_defaults()
