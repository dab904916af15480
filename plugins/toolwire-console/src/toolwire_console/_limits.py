"""Failed sign-ins, counted per client address and overall, in a bounded amount of memory.

Why not a rate-limit library: the ones that fit (``limits``' memory storage) keep one entry per
key until it expires, so a flood from many addresses grows memory with the flood. Here each
address keeps at most ``per_address`` timestamps, at most ``MAX_ADDRESSES`` addresses are
tracked (the one seen least recently is forgotten first), and the overall count keeps at most
``overall`` timestamps: memory is bounded whatever arrives. Forgetting an address cannot
lift the overall limit, which is what a flood from many addresses meets.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Final

#: How many client addresses are tracked at most.
MAX_ADDRESSES: Final = 4096


class SignInLimiter:
    """At most ``per_address`` failed sign-ins per client address, and ``overall`` from every
    address together, in any ``window`` seconds; past either, sign-ins wait.

    Args:
        per_address: Failures one address may have in a window.
        overall: Failures every address together may have in a window.
        window: The window, in seconds.
        clock: Monotonic seconds (a test may pass its own).
    """

    def __init__(
        self,
        per_address: int,
        overall: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_address < 1 or overall < 1 or window <= 0:
            raise ValueError("sign-in limits are whole numbers above 0, over a window above 0")
        self.per_address = per_address
        self.overall = overall
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._by_address: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._all: collections.deque[float] = collections.deque(maxlen=overall)

    def wait_for(self, address: str) -> float:
        """Seconds until ``address`` may try to sign in again (0: it may now)."""
        now = self._clock()
        with self._lock:
            waits = [self._full_until(self._all, self.overall, now)]
            failures = self._by_address.get(address)
            if failures is not None:
                waits.append(self._full_until(failures, self.per_address, now))
        return max(waits)

    def failed(self, address: str) -> None:
        """Count a failed sign-in from ``address``."""
        now = self._clock()
        with self._lock:
            failures = self._by_address.pop(address, None)
            if failures is None:
                failures = collections.deque(maxlen=self.per_address)
                while len(self._by_address) >= MAX_ADDRESSES:
                    self._by_address.popitem(last=False)
            failures.append(now)
            self._by_address[address] = failures  # now the most recently seen
            self._all.append(now)

    def tracked(self) -> int:
        """How many addresses are tracked now."""
        with self._lock:
            return len(self._by_address)

    def _full_until(self, failures: collections.deque[float], limit: int, now: float) -> float:
        """Seconds until a window of ``failures`` holds fewer than ``limit`` (0 when it does)."""
        if len(failures) < limit:
            return 0.0
        return max(0.0, failures[-limit] + self.window - now)
