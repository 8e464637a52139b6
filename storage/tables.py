"""The schema, in SQLAlchemy Core. Migrations in storage/migrations create it."""

from __future__ import annotations

import sqlalchemy as sa

from storage.column_types import JSONDocument, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(32), nullable=False),
    # Lower-cased copies carry the case-insensitive uniqueness on both databases.
    sa.Column("username_key", sa.String(32), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# A login session: one refresh-token family. Access tokens carry its id, so
# revoking the row revokes every token issued in it.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("refresh_jti", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("refreshed_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("revoked_reason", sa.String(20), nullable=True),
    sa.Index(None, "user_id"),
)

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("location", sa.String(500), nullable=True),
    sa.Column("start_time", UTCDateTime, nullable=False),
    sa.Column("end_time", UTCDateTime, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("all_day", sa.Boolean, nullable=False),
    sa.Column("recurrence", JSONDocument, nullable=False),
    sa.Column("metadata", JSONDocument, nullable=False),
    sa.Column("overrides", JSONDocument, nullable=False),
    # The iCalendar UID: `<uuid>@tandem`, or the one an import brought. Unique per
    # owner, so that importing a file again finds the events it made.
    sa.Column("uid", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    # The occurrence bounds: the first occurrence's start and the last one's end
    # (storage.recurrence.FAR_FUTURE for a series without end), written with every
    # version so that window queries are an index range instead of rule expansion.
    sa.Column("first_start", UTCDateTime, nullable=False),
    sa.Column("last_end", UTCDateTime, nullable=False),
    # last_end first: a calendar's past grows and its future does not, so "ends
    # after the window starts" is the selective side (see storage/events.py).
    sa.Index(None, "last_end", "first_start"),
    # A user's own events in a window (storage/events.py, `_window`): one range of
    # one owner's, where the index above ranges over everyone's.
    sa.Index(None, "owner_id", "last_end", "first_start"),
    # The hash of the newest record in the event's audit chain: every writer of the
    # event already holds this row locked, so appending costs no extra read.
    sa.Column("audit_hash", sa.String(64), nullable=False, server_default=""),
    # The sync log's position of the event's newest version, set by a trigger (migration
    # 0008): an edit is logged here once, however many members the event has.
    sa.Column("sync_position", _BIG_ID, nullable=False, server_default="0"),
    sa.Index(None, "owner_id", "uid", unique=True),
    # Never reuse an id: the audit trail and the sync log outlive the event.
    sqlite_autoincrement=True,
)

event_versions = sa.Table(
    "event_versions",
    metadata,
    sa.Column(
        "event_id", sa.Integer, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("origin", sa.String(10), nullable=False),
    sa.Column("op_id", sa.String(100), nullable=True),
    sa.Column("ops", JSONDocument, nullable=False),
    sa.Column("snapshot", JSONDocument, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    # A resubmitted op is found here and acknowledged, not applied twice. Keyed by
    # author too: op ids are made up by clients, and two clients may pick the same.
    # NULLs (changes without an op id) are distinct on both databases.
    sa.UniqueConstraint("event_id", "author_id", "op_id"),
)

# Every role, the owner's included, so that "events I can see" is one join. The one
# owner's row always agrees with events.owner_id (storage/permissions.py changes both
# in one transaction): window reads take the caller's own events from there.
permissions = sa.Table(
    "permissions",
    metadata,
    sa.Column(
        "event_id", sa.Integer, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("granted_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("granted_at", UTCDateTime, nullable=False),
    sa.Index(None, "user_id", "event_id"),
    # The events shared with a user, the ones they own left out: a window reads the
    # caller's own events from events.owner_id (one owner per event) and only these
    # through a join (storage/events.py, `_window`).
    sa.Index(
        "ix_permissions_shared",
        "user_id",
        "event_id",
        postgresql_where=sa.text("role <> 'owner'"),
        sqlite_where=sa.text("role <> 'owner'"),
    ),
)

# "Event X may look different to user U": one row per change of a user's access (a
# share, a role, a revocation, a transfer, a deletion) and per user it concerns,
# written in the change's transaction. A new version is logged on its event instead
# (events.sync_position), from the same counter. No foreign key to events: the
# rows of a deleted event, or of a revoked user, are the tombstones /sync reports.
# None to users either: each row copies its user from a permissions row or the
# request's user, and checking it locked the user's row on every edit (migration 0007).
# AUTOINCREMENT on SQLite: a position is never reused, even after pruning.
sync_changes = sa.Table(
    "sync_changes",
    metadata,
    sa.Column("position", _BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index(None, "user_id", "position"),
    sa.Index(None, "at"),
    sqlite_autoincrement=True,
)

# The audit trail. `chain` is `event:<id>`, `user:<id>` or `anonymous`; records
# outlive their event (no foreign key to events).
audit_records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("seq", _BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("chain", sa.String(40), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("action", sa.String(24), nullable=False),
    sa.Column("event_id", sa.Integer, nullable=True),
    sa.Column("target_user_id", sa.Integer, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index(None, "chain", "seq"),
    # An event's records are found by their chain: no index of their own on event_id,
    # one index fewer for every edit to update.
    sa.Index(None, "actor_id", "seq"),
    sqlite_autoincrement=True,
)

# The newest hash of each account chain (and of `anonymous`), and the final one of
# each deleted event's chain; a live event keeps its head in events.audit_hash. Its
# row lock orders the appends to one account chain.
audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("chain", sa.String(40), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
)

# A secret subscription URL (/ical/<token>.ics) of one user's calendar. Only a hash of
# the token is kept: a leaked database does not leak working URLs.
feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Index(None, "user_id"),
    sqlite_autoincrement=True,
)
