"""The execution-policy middleware, public for anyone to compose: ``Retry``, ``Timeout``,
``ConcurrencyLimit``, and ``Order``, the places in the onion.

The built-in ``policy`` plugin puts them on the tools whose policy asks for them; a third-party
middleware places itself among them with an ``order`` attribute. ``Order`` is loaded with the
package (the hook specifications name it); the middleware, which need asyncio, on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._order import Order

if TYPE_CHECKING:
    from .concurrency import ConcurrencyLimit
    from .retry import DEFAULT_RETRY_ON, Retry
    from .timeout import Timeout

__all__ = ["DEFAULT_RETRY_ON", "ConcurrencyLimit", "Order", "Retry", "Timeout"]

#: Names loaded on first use: name -> the submodule that defines it.
_LAZY = {
    "ConcurrencyLimit": ".concurrency",
    "DEFAULT_RETRY_ON": ".retry",
    "Retry": ".retry",
    "Timeout": ".timeout",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # once: later reads find it without this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
