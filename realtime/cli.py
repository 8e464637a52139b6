"""The `tandem` command: `tandem serve`, `tandem migrate` and `tandem audit`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from realtime.audit_cli import audit_command
from realtime.broadcast import redact_url
from realtime.ops.logs import configure_logging
from realtime.settings import Settings, SettingsError, load_settings
from storage.database import Database
from storage.migrate import migrate, schema_is_current

# A client that stops reading must not hold a send forever; pings find dead peers.
WS_PING_INTERVAL = 20.0
WS_PING_TIMEOUT = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tandem", description="Tandem calendar backend")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: $PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    audit = commands.add_parser("audit", help="check or export the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="recompute every hash chain; exit 1 at a mismatch")
    export = audit_commands.add_parser("export", help="write the records as JSON lines")
    export.add_argument("--since", help="only records at or after this RFC 3339 time")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "audit":
        return asyncio.run(
            audit_command(settings, args.audit_command, getattr(args, "since", None))
        )
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("tandem: the database schema is up to date")
        return 0
    return _serve(settings, args.host or settings.host, args.port or settings.port, args.workers)


async def _migrate(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:
        await migrate(database)
    finally:
        await database.close()


async def _schema_ready(settings: Settings) -> bool:
    database = Database(settings.database_url)
    try:
        if database.is_sqlite:
            # Embedded mode is one process: upgrading here cannot race anyone.
            await migrate(database)
            return True
        return await schema_is_current(database)
    finally:
        await database.close()


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    from realtime import server

    if not asyncio.run(_schema_ready(settings)):
        print(
            "tandem: the database schema is not current: run `tandem migrate` first",
            file=sys.stderr,
        )
        return 2
    print(
        f"Tandem is serving http://{host}:{port}/ (database {redact_url(settings.database_url)}, "
        f"broadcast {redact_url(settings.broadcast_url)})",
        flush=True,
    )
    config = server.uvicorn_config(
        "realtime.app:create_app",
        settings,
        factory=True,
        host=host,
        port=port,
        ws_ping_interval=WS_PING_INTERVAL,
        ws_ping_timeout=WS_PING_TIMEOUT,
        # Logging is ours (JSON lines, see realtime/ops/logs.py), and so is the access line.
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )
    server.run(config, workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
