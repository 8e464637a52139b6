"""`memory://`: delivery within this process only, for the embedded (one process) mode."""

from __future__ import annotations

from realtime.broadcast import Broadcast


class MemoryBroadcast(Broadcast):
    """All the work is the shared local fan-out; there is nothing to connect to or lose."""
