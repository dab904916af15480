"""``toolwire audit verify``: the subcommand the plugin contributes to the ``toolwire`` CLI."""

from __future__ import annotations

import argparse
import json
import sys

import toolwire
from toolwire.types import Command

from ._settings import Settings
from ._verify import Verification, verify, verify_trail

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
        help="check the hash chain of a trail",
        description="Check that every record is intact, in sequence, and seals the one before "
        "it: across the whole trail written to PATH (--trail: its rotated files, oldest first, "
        "then PATH itself), or across FILEs given oldest first. Names the first record that "
        "was changed, removed, reordered or inserted, and exits 1; exits 0 when the chain "
        "holds. Safe while processes write the trail: an incomplete last line of the last "
        "file (a write under way, or one a crash cut short) is reported and is not a "
        "failure, nor is one of an earlier file that the next record notes, nor records the "
        "trail says it lost; a trail rotated while it is read is read again.",
    )
    check.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="trail files, oldest first (or give --trail; with neither, the trail the config's "
        "[plugins.audit] path names)",
    )
    check.add_argument(
        "--trail",
        metavar="PATH",
        help="the trail's file, as [plugins.audit] path names it: its rotated files are found "
        "beside it",
    )
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
    if args.trail is not None and args.files:
        sys.stderr.write("toolwire audit verify: error: give either --trail PATH or FILEs\n")
        return 2
    if args.trail is None and not args.files:
        # The trail the config names ([plugins.audit] path, resolved against its file).
        try:
            args.trail = Settings.from_config(toolwire.load_config(args.config)).path
        except toolwire.ConfigError as exc:
            sys.stderr.write(
                f"toolwire audit verify: error: no --trail or FILEs, and the config names no "
                f"trail: {exc}\n"
            )
            return 2
    if args.trail is None:
        files = args.files
        outcome = verify(files, after_hash=args.after_hash)
    else:
        outcome, files = verify_trail(args.trail, after_hash=args.after_hash)
        if not files:
            sys.stderr.write(
                f"toolwire audit verify: error: no trail at {args.trail} (neither the file nor "
                "rotated files beside it)\n"
            )
            return 2
    if args.json:
        sys.stdout.write(json.dumps(outcome.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(_describe(outcome, len(files)))
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
        noted = f"; record seq {torn.noted_by} notes it" if torn.noted_by is not None else ""
        lines.append(
            f"note: {torn.file} ends with an incomplete record ({torn.bytes} bytes): a write "
            f"under way when it was read, or one a crash cut short; it is not part of the "
            f"chain{noted}"
        )
    for lost in outcome.lost:
        lines.append(
            f"note: {lost.file}:{lost.line}: record seq {lost.seq} says {lost.records} "
            "record(s) before it could not be written (lost; see toolwire_audit.record_lost in "
            "the writer's log)"
        )
    return "\n".join(lines) + "\n"


def _hash(text: str) -> str:
    if len(text) != 64 or not set(text) <= _HEX:
        raise argparse.ArgumentTypeError("a hash is 64 lowercase hexadecimal digits")
    return text
