"""The calls of one batch as far as approvals go (``Turn``), and what a gated call ends with."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

from .._errors import ToolError
from .._values import ToolCall
from ._records import Approval, new_id


class Turn:
    """The calls of one batch, as far as approvals go: which ids repeat, whether a call waits.

    ``provider`` is set only for a response whose turn is held (``hold`` mode); the turn gets
    its id when its first call starts to wait, so a turn that never waits costs no id.
    """

    __slots__ = ("_counts", "_given", "_id", "calls", "held", "provider")

    def __init__(
        self,
        calls: Sequence[ToolCall],
        provider: str | None = None,
        given: Sequence[str | None] = (),
    ) -> None:
        self.calls = calls
        self.provider = provider
        #: The ids as the response gave them, where a provider gave a call a fresh one: a
        #: repeated id is still a repeat, though each call now has an id of its own.
        self._given = {
            call.call_id: original
            for call, original in zip(calls, given, strict=False)
            if original is not None
        }
        #: A call of this held turn waits for a person.
        self.held = False
        self._id: str | None = None
        self._counts: collections.Counter[str] | None = None

    @property
    def turn_id(self) -> str | None:
        """The held turn's id (``None`` when the batch is not held as a turn)."""
        if self.provider is None:
            return None
        if self._id is None:
            self._id = new_id("turn")
        return self._id

    def given_id(self, call_id: str) -> str:
        """The id the response gave the call (where the provider gave it a fresh one)."""
        return self._given.get(call_id, call_id)

    def repeats(self, call_id: str) -> int:
        """How many calls of the batch carried this call's id as given (counted on first need)."""
        given = self._given
        if self._counts is None:
            self._counts = collections.Counter(given.get(c.call_id, c.call_id) for c in self.calls)
        return self._counts[given.get(call_id, call_id)]


class _Answer(ToolError):
    """The error a gated or decided call ends with, carrying its approval record."""

    __slots__ = ("approval",)

    def __init__(self, message: str, *, approval: Approval, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.approval = approval
