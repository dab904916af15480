"""Fixtures (in ``console_helpers``): a site with the fixture pack and a config, and headless
Chromium."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from console_helpers import browser_for, site

__all__ = ["browser_for", "site"]
