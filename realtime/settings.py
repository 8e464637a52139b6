"""Settings, read once from the environment (see README and .env.example)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from limits import parse as parse_rate

from storage.database import sqlite_path

SECRET_FILE_NAME = "tandem.secret"
# A century: past it a conflict check would be asked to cover time no calendar plans.
MAX_HORIZON_DAYS = 36_500


class SettingsError(RuntimeError):
    """The environment does not describe a server that can start."""


@dataclass(frozen=True)
class Settings:
    # Embedded by default: one file, no other service.
    database_url: str = "sqlite:///./tandem.db"
    # memory:// delivers within one process; redis:// spans processes.
    broadcast_url: str = "memory://"
    # Prefix of every broadcast channel: deployments sharing one Redis each
    # need their own.
    broadcast_namespace: str = "tandem"
    secret_key: str = ""
    # Short access tokens bound the damage of a leaked one; revocation is
    # checked on every request anyway.
    access_token_ttl: int = 15 * 60
    # Two weeks of "stay logged in"; each refresh rotates the token.
    refresh_token_ttl: int = 14 * 24 * 3600
    cors_origins: tuple[str, ...] = ()
    # The contract's limit for request bodies (413 above it).
    max_body_bytes: int = 1024 * 1024
    # Patches one WebSocket may send (the `limits` notation): far above a person
    # typing or a client that waits for its acks, low enough that one socket
    # cannot flood the edit engine.
    ws_op_rate: str = "500/second"
    # Deepest nesting of objects and arrays in a decoded REST body or WebSocket
    # message (the outer object is level 1). Real documents need a handful of levels;
    # a bound far below Python's recursion limit keeps every walk over client data
    # (validation, diffs, NUL checks) safe. Deeper is 400 / invalid_message.
    max_nesting_depth: int = 64
    # The contract's WebSocket frame limit (1009 above it).
    ws_max_message_bytes: int = 1024 * 1024
    # Seconds a request's headers may take to arrive: a client that trickles them
    # (slowloris) would otherwise hold a connection and a file descriptor for ever.
    # Ten seconds is far above any real client, even on a slow mobile link.
    http_header_timeout: float = 10.0
    # SQLite only: seconds a writer waits for another process's write lock (a backup,
    # the sqlite3 shell) before the request is answered 503.
    sqlite_busy_timeout: float = 30.0
    # Seconds between a process's "alive" messages. One not heard from for three
    # of them has died: its members leave every room's presence elsewhere.
    presence_heartbeat: float = 5.0
    # Sign-in attempts (login and register), counted per client address and per
    # username: enough for people who mistype, slow for a password guesser.
    auth_rate_per_ip: str = "30/minute"
    auth_rate_per_username: str = "10/minute"
    # Authenticated REST calls per user, across all their devices and processes.
    api_rate_per_user: str = "1200/minute"
    # Proxies whose X-Forwarded-For is believed (the client address of the
    # per-IP limits and of the logs); "*" behind a private reverse proxy.
    forwarded_allow_ips: str = "127.0.0.1"
    # When set, GET /metrics wants `Authorization: Bearer <token>`.
    metrics_token: str = ""
    # Days ahead that `on_conflict=reject` checks a series without end (from now, or
    # from its first occurrence when later); a bounded series is checked whole.
    conflict_horizon_days: int = 730
    # How long /sync remembers changes and deletions (seconds): a client away
    # longer starts again with a full listing. A month covers holidays.
    sync_retention: int = 30 * 24 * 3600
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default: os.environ), with a secret key resolved."""
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or Settings.database_url
    settings = Settings(
        database_url=database_url,
        broadcast_url=env.get("BROADCAST_URL") or Settings.broadcast_url,
        broadcast_namespace=env.get("BROADCAST_NAMESPACE") or Settings.broadcast_namespace,
        secret_key=env.get("SECRET_KEY", ""),
        access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", Settings.access_token_ttl),
        refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", Settings.refresh_token_ttl),
        cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", Settings.max_body_bytes),
        max_nesting_depth=_int(env, "MAX_NESTING_DEPTH", Settings.max_nesting_depth),
        ws_op_rate=_rate(env, "WS_OP_RATE", Settings.ws_op_rate),
        ws_max_message_bytes=_int(env, "WS_MAX_MESSAGE_BYTES", Settings.ws_max_message_bytes),
        http_header_timeout=_seconds(env, "HTTP_HEADER_TIMEOUT", Settings.http_header_timeout),
        sqlite_busy_timeout=_seconds(env, "SQLITE_BUSY_TIMEOUT", Settings.sqlite_busy_timeout),
        presence_heartbeat=_seconds(env, "PRESENCE_HEARTBEAT", Settings.presence_heartbeat),
        auth_rate_per_ip=_rate(env, "AUTH_RATE_PER_IP", Settings.auth_rate_per_ip),
        auth_rate_per_username=_rate(
            env, "AUTH_RATE_PER_USERNAME", Settings.auth_rate_per_username
        ),
        api_rate_per_user=_rate(env, "API_RATE_PER_USER", Settings.api_rate_per_user),
        forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS") or Settings.forwarded_allow_ips,
        metrics_token=env.get("METRICS_TOKEN", ""),
        conflict_horizon_days=_days(env, "CONFLICT_HORIZON", Settings.conflict_horizon_days),
        sync_retention=_int(env, "SYNC_RETENTION", Settings.sync_retention),
        host=env.get("HOST") or Settings.host,
        port=_int(env, "PORT", Settings.port),
        log_level=env.get("LOG_LEVEL", Settings.log_level),
    )
    if settings.sync_retention < 1:
        raise SettingsError("SYNC_RETENTION must be a positive number of seconds")
    secret = settings.secret_key or _embedded_secret(database_url)
    if len(secret.encode()) < 32:
        raise SettingsError("SECRET_KEY must be at least 32 bytes")
    return Settings(**{**settings.__dict__, "secret_key": secret})


def _embedded_secret(database_url: str) -> str:
    """A key generated once and kept beside the SQLite file, so tokens survive restarts.

    With a shared database every process must sign with the same key, which only
    the operator can provide: refuse to guess one.
    """
    path = sqlite_path(database_url)
    if path is None:
        raise SettingsError(
            "SECRET_KEY is not set. With a PostgreSQL DATABASE_URL every process must share "
            "one key: set SECRET_KEY to a random string of at least 32 bytes, e.g. the output "
            "of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    secret_file = path.resolve().parent / SECRET_FILE_NAME
    if secret_file.exists():
        return secret_file.read_text().strip()
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with owner-only permissions before the key is written.
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        parse_rate(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a rate such as 30/minute or 500/second, got {raw!r}"
        ) from None
    return raw


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    days = _int(env, name, default)
    if not 1 <= days <= MAX_HORIZON_DAYS:
        raise SettingsError(f"{name} must be 1 to {MAX_HORIZON_DAYS} days, got {days}")
    return days


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
