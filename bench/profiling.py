"""What a pyinstrument session says: where the server's busy time went.

pyinstrument samples the main thread's stack; under uvloop, time spent waiting for
I/O shows as the event loop's own time, which is counted as idle and left out of
the shares. Each remaining sample's own time is charged twice: to the innermost frame
on its stack that belongs to a known area (so "database" includes what the driver
called), and to the innermost Tandem function on its stack (so a function's figure is
its own work plus the library calls it makes, down to the next Tandem function).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pyinstrument.frame import Frame
from pyinstrument.session import Session

IDLE = "idle (event loop waiting)"
OTHER = "other (C built-ins, start-up)"
# Checked in this order against a frame's file path.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("database (sqlalchemy, asyncpg, aiosqlite)", ("sqlalchemy", "asyncpg", "aiosqlite")),
    ("redis client", ("/redis/",)),
    ("websocket protocol (uvicorn, websockets)", ("uvicorn/protocols", "/websockets/")),
    ("http (uvicorn, starlette)", ("uvicorn/", "starlette", "httptools", "h11")),
    ("rate limits", ("/limits/",)),
    ("json patch", ("storage/patching", "storage/patch_diff")),
    ("tandem rooms and sockets", ("realtime/ws/",)),
    ("tandem broadcast", ("realtime/broadcast/",)),
    ("tandem other", ("realtime/", "storage/", "auth/")),
    ("asyncio machinery", ("asyncio/",)),
]
TANDEM = re.compile(r"^(realtime|storage|auth)/")
# Frames that hold everything the server does: ranking them says nothing.
ENTRY_POINTS = ("realtime/cli.py", "realtime/server.py")


@dataclass(frozen=True)
class Summary:
    seconds: float  # sampled wall time
    busy: float  # share of it not idle
    by_area: list[tuple[str, float]]  # share of the busy time
    by_function: list[tuple[str, float]]  # innermost Tandem functions, share of busy time


# Sampled seconds by area or function (pyinstrument's times are floats).
Seconds = defaultdict[str, float]


def _largest(seconds: Seconds) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: item[1], reverse=True)


def summarise(path: Path, top: int = 12) -> Summary:
    root = Session.load(str(path)).root_frame()
    areas: Seconds = defaultdict(float)
    functions: Seconds = defaultdict(float)
    if root is not None:
        _walk(root, OTHER, "outside any Tandem frame (greenlet, loop callbacks)", areas, functions)
    total = sum(areas.values())
    busy = total - areas.pop(IDLE, 0.0)
    share = (lambda seconds: seconds / busy) if busy else (lambda _s: 0.0)
    return Summary(
        round(total, 1),
        busy / total if total else 0.0,
        [(area, share(t)) for area, t in _largest(areas)],
        [(name, share(t)) for name, t in _largest(functions)[:top]],
    )


def render(session: Path) -> None:
    """Beside the session: a text tree and an interactive HTML page."""
    for renderer, suffix in (("text", ".txt"), ("html", ".html")):
        subprocess.run(
            [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", renderer,
             "-o", str(session.with_suffix(suffix))],
            check=True,
        )  # fmt: skip


def _walk(frame: Frame, area: str, owner: str, areas: Seconds, functions: Seconds) -> None:
    path = frame.file_path_short or ""
    if TANDEM.match(path) and not frame.is_synthetic and not path.startswith(ENTRY_POINTS):
        owner = f"{frame.function} ({path}:{frame.line_no})"
    area = _area(frame.file_path or "") or area
    own = frame.time - sum(child.time for child in frame.children)
    if own > 0:
        if path.startswith(("asyncio/runners", "<thread>")):
            areas[IDLE] += own
        else:
            areas[area] += own
            functions[owner] += own
    for child in frame.children:
        _walk(child, area, owner, areas, functions)


def _area(path: str) -> str | None:
    for name, needles in AREAS:
        if any(needle in path for needle in needles):
            return name
    return None
