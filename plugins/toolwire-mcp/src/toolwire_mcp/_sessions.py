"""Who owns each MCP session, and how many one caller may hold.

The SDK keeps one table of sessions for the whole server; a caller that opens sessions and
never closes them would fill it for everyone. The ledger records the caller that opened
each session (the gate sees the ``Mcp-Session-Id`` the SDK answers with), refuses a session
id presented by anyone else as if it did not exist (so one caller cannot ride another's
session, whether it learned the id or planted it), and caps the sessions one caller holds.

A session ends as it does in the SDK: on a ``DELETE``, when the SDK no longer knows it
(404), or once no request of it has been in flight for the idle timeout. The ledger keeps a
session a second longer than the SDK's timeout, so it never counts fewer than the SDK holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

#: How much longer than the SDK the ledger keeps an idle session.
_GRACE: Final = 1.0


@dataclass
class _Session:
    owner: Hashable
    in_flight: int = 0
    idle_since: float = 0.0


class SessionLedger:
    """Session id -> owner, with a cap on the sessions (open or opening) of each owner.

    Args:
        per_owner: The most sessions one owner may hold, counting those being opened.
        idle_timeout: The SDK's session idle timeout, in seconds.
        clock: Monotonic seconds (a seam for tests).
    """

    def __init__(
        self, per_owner: int, idle_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_owner = per_owner
        self.idle_timeout = idle_timeout + _GRACE
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._by_owner: dict[Hashable, set[str]] = {}
        self._opening: dict[Hashable, int] = {}
        self._swept = clock()

    def reserve(self, owner: Hashable) -> bool:
        """Hold a place for a session ``owner`` is about to open; ``False`` at the cap."""
        if self._clock() - self._swept >= self.idle_timeout:
            self._sweep()
        held = len(self._live(owner)) + self._opening.get(owner, 0)
        if held >= self.per_owner:
            return False
        self._opening[owner] = self._opening.get(owner, 0) + 1
        return True

    def release(self, owner: Hashable, session_id: str | None) -> None:
        """End a reservation: the session it became (in flight), or none."""
        left = self._opening.get(owner, 1) - 1
        if left > 0:
            self._opening[owner] = left
        else:
            self._opening.pop(owner, None)
        if session_id is not None and session_id not in self._sessions:
            self._sessions[session_id] = _Session(owner, in_flight=1)
            self._by_owner.setdefault(owner, set()).add(session_id)

    def begin(self, session_id: str, owner: Hashable) -> bool:
        """A request of a session starts: ``False`` (and nothing counted) unless ``owner``
        opened that session and it is still live."""
        session = self._sessions.get(session_id)
        if session is None or self._expired(session):
            self.forget(session_id)
            return False
        if session.owner != owner:
            return False
        session.in_flight += 1
        return True

    def end(self, session_id: str) -> None:
        """A request of a session (begun, or the opening one) is over."""
        session = self._sessions.get(session_id)
        if session is not None:
            session.in_flight = max(0, session.in_flight - 1)
            if session.in_flight == 0:
                session.idle_since = self._clock()

    def forget(self, session_id: str) -> None:
        """The session is over."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            owned = self._by_owner.get(session.owner)
            if owned is not None:
                owned.discard(session_id)
                if not owned:
                    del self._by_owner[session.owner]

    def count(self, owner: Hashable) -> int:
        """The live sessions of ``owner``."""
        return len(self._live(owner))

    def _sweep(self) -> None:
        """Forget every expired session, whoever owns it (owners that never come back)."""
        self._swept = self._clock()
        for session_id in [s for s, v in self._sessions.items() if self._expired(v)]:
            self.forget(session_id)

    def _live(self, owner: Hashable) -> set[str]:
        owned = self._by_owner.get(owner, set())
        for session_id in [s for s in owned if self._expired(self._sessions[s])]:
            self.forget(session_id)
        return self._by_owner.get(owner, set())

    def _expired(self, session: _Session) -> bool:
        return session.in_flight == 0 and self._clock() - session.idle_since >= self.idle_timeout
