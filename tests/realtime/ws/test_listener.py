"""A room's listener reads what a broadcast gap owes from the database, and keeps trying
until it has: an outage is waited out, and a fault is logged whole and tried again."""

from __future__ import annotations

import logging

import pytest

from realtime.broadcast import DEFAULT_MAX_QUEUE, create_broadcast
from realtime.ws import listener as listener_module
from realtime.ws.listener import Listener
from storage.errors import ServiceUnavailable
from tests.support import eventually

pytestmark = pytest.mark.timeout(30)


async def _resyncs_after(failure: Exception, caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """Overflow a listener's subscription so that it owes a resync whose first try fails
    with `failure`; wait for the second try, and answer what the first one logged."""
    broadcast = create_broadcast("memory://")
    await broadcast.connect()
    calls: list[str] = []

    async def resync() -> None:
        calls.append("tried")
        if len(calls) == 1:
            raise failure

    listener = Listener(broadcast, "event:1", lambda message: None, resync)
    try:
        await listener.ready.wait()
        # More than the subscription holds, without yielding: it overflows into a Resync.
        for n in range(DEFAULT_MAX_QUEUE + 1):
            await broadcast.publish("event:1", b'{"n": %d}' % n)
        with caplog.at_level(logging.WARNING, logger=listener_module.__name__):
            await eventually(lambda: len(calls) == 2, what="a second resync")
    finally:
        await listener.stop()
        await broadcast.disconnect()
    [logged] = [r for r in caplog.records if r.name == listener_module.__name__]
    return logged


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener_module, "RETRY_AFTER_OUTAGE", 0.01)


async def test_an_outage_is_waited_out_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    logged = await _resyncs_after(ServiceUnavailable("the database is unavailable"), caplog)
    assert logged.levelno == logging.WARNING and logged.exc_info is None


@pytest.mark.traceback_expected
async def test_a_fault_is_logged_whole_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    logged = await _resyncs_after(RuntimeError("a fault"), caplog)
    assert logged.levelno == logging.ERROR and logged.exc_info is not None
