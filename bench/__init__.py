"""The load benchmark: `make bench` (or `python -m bench`) writes bench/RESULTS.md.

    __main__.py   command line
    runner.py     per mode: start servers, run the workloads, baselines, profile passes
    servers.py    `tandem serve` processes (embedded, or two on PostgreSQL + Redis)
    client.py     the WebSocket client: thousands of sockets per process
    api.py        REST set-up: a few users whose tokens every socket reuses, events, shares
    workloads/    W1/W2 (edits.py), W3 (connections.py), R1 (rest.py)
    baselines.py  pgbench (the edit transaction) and redis-benchmark PUBLISH
    stats.py      percentiles and the lost / duplicated / reordered check
    profiling.py  where the profiled server's busy time went
    machine.py    the machine and service versions
    report.py     RESULTS.md

Logs, raw figures (results.json) and profiles go to bench/out/, which git ignores.
"""
