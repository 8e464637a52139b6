"""`tandem audit verify` and `tandem audit export [--since TIME]`."""

from __future__ import annotations

import os
import sys

from realtime import codec
from realtime.settings import Settings
from realtime.wire import audit_record_json
from storage import audit_trail
from storage.audit_trail import Mismatch
from storage.database import Database
from storage.document import parse_time


async def audit_command(settings: Settings, command: str, since_text: str | None) -> int:
    """Run one audit subcommand; its exit status."""
    since = None
    if since_text is not None:
        since = parse_time(since_text)
        if since is None:
            print(f"tandem: --since {since_text!r} is not an RFC 3339 time", file=sys.stderr)
            return 2
    database = Database(settings.database_url)
    try:
        # One snapshot: verify reads every record, then the chains' heads, and an edit
        # committed between the two must not look like a record removed by hand.
        async with database.read_snapshot() as conn:
            if command == "verify":
                return _report(await audit_trail.verify(conn))
            try:
                async for record in audit_trail.every_record(conn, since):
                    sys.stdout.write(codec.encode_json(audit_record_json(record)).decode() + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                # The reader has read enough (`| head`): a quiet end, not a database
                # failure. What is still buffered goes nowhere, so that Python's flush
                # at exit does not fail again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    finally:
        await database.close()


def _report(mismatch: Mismatch | None) -> int:
    """Say what verify found; the exit status."""
    if mismatch is None:
        print("tandem: every audit chain verifies")
        return 0
    where = f"record {mismatch.seq}" if mismatch.seq is not None else "the last record"
    print(f"tandem: audit {where} of chain {mismatch.chain}: {mismatch.reason}", file=sys.stderr)
    return 1
