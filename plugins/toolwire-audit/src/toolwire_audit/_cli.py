"""``toolwire audit verify FILE...``: the subcommand the plugin contributes to the ``toolwire`` CLI."""

from __future__ import annotations

import argparse
import json
import sys

from toolwire.types import Command

from ._verify import Verification, verify

_HEX = frozenset("0123456789abcdef")


def audit_command() -> Command:
    """The ``audit`` command, with its ``verify`` action."""
    return Command(
        "audit",
        "check audit trails written by toolwire-audit",
        _run,
        _setup,
        "Check audit trails that the toolwire-audit plugin wrote.",
    )


def _setup(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "verify",
        help="check the hash chain of one or more trail files",
        description="Check that every record is intact, in sequence, and seals the one before "
        "it, across FILEs given oldest first (rotated files, then the current one). Names the "
        "first record that was changed, removed, reordered or inserted, and exits 1; exits 0 "
        "when the chain holds. An incomplete last line (a write cut short by a crash) is "
        "reported, and is not a failure.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="trail files, oldest first")
    check.add_argument(
        "--after-hash",
        type=_hash,
        metavar="HASH",
        help="the hash of the record just before the first one given (the head an earlier "
        "verify of the older files printed): check a later part of a trail alone",
    )
    check.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the outcome as JSON",
    )


def _run(args: argparse.Namespace) -> int:
    outcome = verify(args.files, after_hash=args.after_hash)
    if args.json:
        sys.stdout.write(json.dumps(outcome.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(_describe(outcome, len(args.files)))
    return 0 if outcome.ok else 1


def _describe(outcome: Verification, files: int) -> str:
    lines = []
    span = f"seq {outcome.first_seq}-{outcome.last_seq}" if outcome.records else "none"
    if outcome.problem is not None:
        problem = outcome.problem
        where = f"{problem.file}:{problem.line}"
        lines.append(f"{where}: {problem.kind}: {problem.message}")
        lines.append(
            f"verified before it: {outcome.records} record(s) ({span}); head {outcome.head}"
        )
    else:
        lines.append(
            f"ok: {outcome.records} record(s) ({span}) in {files} file(s); head {outcome.head}"
        )
    for torn in outcome.torn:
        lines.append(
            f"note: {torn.file} ends with an incomplete record ({torn.bytes} bytes), left by a "
            "write cut short (a crash); it is not part of the chain"
        )
    return "\n".join(lines) + "\n"


def _hash(text: str) -> str:
    if len(text) != 64 or not set(text) <= _HEX:
        raise argparse.ArgumentTypeError("a hash is 64 lowercase hexadecimal digits")
    return text
