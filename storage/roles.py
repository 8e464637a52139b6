"""The three roles on an event and what each may do. Pure: no I/O."""

from __future__ import annotations

from storage.errors import ErrorCode, TandemError, not_found

# Lowest first: each role may do everything the ones before it may.
ROLES = ("viewer", "editor", "owner")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


def check_role(event_id: int, role: str | None, least: str) -> str:
    """`role` when it is `least` or above: not_found without any (the event's existence
    is not leaked to a stranger), forbidden below `least`.
    """
    if role is None:
        raise not_found(f"event {event_id}")
    if ROLE_RANK[role] < ROLE_RANK[least]:
        raise TandemError(ErrorCode.FORBIDDEN, f"a {role} cannot do this; {least} or above can")
    return role
