"""The execution-policy middleware, public for anyone to compose: ``Retry``, ``Timeout``,
``ConcurrencyLimit``, and ``Order``, the places in the onion.

The built-in ``policy`` plugin puts them on the tools whose policy asks for them; a third-party
middleware places itself among them with an ``order`` attribute.
"""

from __future__ import annotations

from ._order import Order
from .concurrency import ConcurrencyLimit
from .retry import DEFAULT_RETRY_ON, Retry
from .timeout import Timeout

__all__ = ["DEFAULT_RETRY_ON", "ConcurrencyLimit", "Order", "Retry", "Timeout"]
