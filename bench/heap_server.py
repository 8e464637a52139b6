"""`tandem serve` under tracemalloc, for bench/heap.py: SIGUSR1 writes a heap snapshot.

Each signal writes `<HEAP_SNAPSHOTS>/<n>.tm` (n counting from 1) after a full garbage
collection, then an empty `<n>.done` to say it is complete.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from realtime.cli import main

FRAMES = 12  # deep enough to name the allocating module under uvicorn's call chain


def serve() -> int:
    folder = Path(os.environ["HEAP_SNAPSHOTS"])
    taken = 0

    def snapshot(_signum: int, _frame: FrameType | None) -> None:
        nonlocal taken
        taken += 1
        gc.collect()
        tracemalloc.take_snapshot().dump(str(folder / f"{taken}.tm"))
        (folder / f"{taken}.done").touch()

    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, snapshot)
    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(serve())
