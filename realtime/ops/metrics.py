"""The Prometheus metrics that the server keeps (served by realtime/ops/metrics_route.py).

With several worker processes (`tandem serve --workers N`), PROMETHEUS_MULTIPROC_DIR
names a directory where every process writes its samples; /metrics, answered by
any one worker, adds them all up. Gauges count live processes only.
"""

from __future__ import annotations

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# From a cached read (about a millisecond) to a slow batch write.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "tandem_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tandem_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
OPEN_SOCKETS = Gauge(
    "tandem_websocket_connections",
    "Authenticated WebSocket connections open.",
    multiprocess_mode="livesum",
)
OPEN_ROOMS = Gauge(
    "tandem_rooms",
    "Event rooms with at least one socket, per process (summed).",
    multiprocess_mode="livesum",
)
EDITS_COMMITTED = Counter(
    "tandem_edits_committed_total",
    "Versions committed, by origin (create, rest, ws, rollback, import).",
    ["origin"],
)
BROADCAST_DELAY = Histogram(
    "tandem_broadcast_delay_seconds",
    "Time from an edit's commit to its arrival in a room, on any process.",
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "tandem_errors_total",
    "Errors answered, by contract code and transport (http or ws).",
    ["code", "transport"],
)
