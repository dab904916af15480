"""A tamper-evident audit trail of every toolwire call.

Enable the ``audit`` plugin, set ``[plugins.audit] path`` and the HMAC key's environment
variable; every finished call then appends one record to a JSON Lines file: who (role,
principal) ran what (tool, the version of its package, an HMAC-SHA256 digest of the
arguments) with what outcome, each record chained to the one before it by a SHA-256 hash.
``toolwire audit verify --trail PATH`` checks the chain.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._plugin import APPROVAL_EVENTS, AuditPlugin
from ._records import (
    ARGUMENTS_WITHHELD,
    GENESIS,
    arguments_digest,
    canonical_arguments,
    record_hash,
)
from ._settings import Settings
from ._trail import AuditTrail, AuditWriteError, TrailOptions, rotated_files, stats, trail_files
from ._verify import Lost, Problem, TornTail, Verification, verify, verify_trail

#: What the ``toolwire`` entry point ``audit`` resolves to: a class, so every dispatcher gets
#: an instance of its own (dispatchers naming one file share its trail).
plugin: Final = AuditPlugin

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-audit")

__all__ = [
    "APPROVAL_EVENTS",
    "ARGUMENTS_WITHHELD",
    "GENESIS",
    "AuditPlugin",
    "AuditTrail",
    "AuditWriteError",
    "Lost",
    "Problem",
    "Settings",
    "TornTail",
    "TrailOptions",
    "Verification",
    "__version__",
    "arguments_digest",
    "canonical_arguments",
    "plugin",
    "record_hash",
    "rotated_files",
    "stats",
    "trail_files",
    "verify",
    "verify_trail",
]
