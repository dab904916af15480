"""Calls that wait for a person: approval records, held turns, and the stores that keep them.

A call whose permission walk ends in ``RequireApproval`` (or whose tool needs approval by
policy) does not run. It becomes an ``Approval``: an unguessable id, the call's id and tool,
its validated arguments as canonical JSON (sorted keys, no whitespace, UTF-8) with their
SHA-256 digest, the role and principal it came with, the reason, and an expiry. Every change
of state is one atomic claim in the store. A decision claims a waiting record (``pending``, or
``approved`` and not run) exactly once: to ``running`` to run it, or to ``rejected`` or
``expired``; its result is written exactly once. A run ends ``executed`` only when its tool
started; one that failed before (a before hook, an admission middleware, an executor that
could not take it, an audit trail that cannot be written) puts the record back to
``approved``, with no result, for the next ``approve`` to run. So two processes approving
one id run the tool once, and the one that lost the claim returns the stored result.

Decisions are matched by approval id, never by position; the permission walk is never run
again for an approved call, and its stored arguments are the only ones it can run with.

A response with a gated call is held as a turn: the other calls run at once and their items
are stored with it; ``resume`` returns every item, in call order, once every approval of the
turn is decided.

Stores (``[approvals] store``): ``sqlite:///PATH`` (standard library ``sqlite3``; the default
is a file in the platform's user state directory), ``memory://`` (this dispatcher only) and
``redis://`` (the ``redis`` client; several hosts share it).
"""


# The package's modules, lowest first: _records (the values), _turns, _store (what a store
# does), _memory, _sqlite, _redis, _open (which store a URL names), _gate (the approvals of one
# dispatcher, above the pipeline), _entry (the dispatcher's approval entry points). The core
# imports the module it needs, never this package, so that the records stay below the
# pipeline that the gate stands above.
