"""The bare WebSocket broadcast server that `make bench` divides W2 and W3 by keeps working.

A few sockets for about a second; the assertions are outcomes (every frame reached
every other socket of the room once, in order; memory read), never timings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench import ceiling
from bench.servers import Deployment


@pytest.fixture(scope="module")
async def bare(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    deployment = await ceiling.start(Path(tmp_path_factory.mktemp("ceiling")))
    try:
        yield deployment
    finally:
        await deployment.stop()


async def test_the_bare_server_forwards_each_frame_to_every_other_socket(
    bare: Deployment,
) -> None:
    """W2 on the bare server: each subscriber gets every frame of the writer once, in order."""
    result = await ceiling.fan_out(bare, subscribers=10, rate=20, duration=1.0)
    assert result.sent > 0
    assert result.deliveries == 10 * result.sent
    assert result.check.clean, result.check.problems
    assert result.delivery_latency.count == result.deliveries


async def test_the_bare_server_holds_idle_sockets(bare: Deployment) -> None:
    """W3 on the bare server: the idle sockets stay open and their memory is read."""
    result = await ceiling.idle(bare, (10, 20))
    assert result.failed == 0
    assert [s.connections for s in result.steps] == [10, 20]
    assert all(s.rss > 0 for s in result.steps)
