"""iCalendar out and in (PROTOCOL.md v1.1, "iCalendar"): export, feeds, import. Both databases."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from icalendar import Calendar

from tests.support import RunningServer, create_event, error_code, register, share, start_server

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
ICS = {"Content-Type": "text/calendar"}
WEEKLY = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"]
MARCH_16 = "2026-03-16T08:00:00Z"
MOVED = {"start_time": "2026-03-17T12:00:00Z", "end_time": "2026-03-17T13:00:00Z"}


def vevent(uid: str, *lines: str) -> str:
    return "\r\n".join(
        ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"]
    )


def vcalendar(*vevents: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//test//EN", *vevents, "END:VCALENDAR"]
    return ("\r\n".join(body) + "\r\n").encode()


STANDUP = vevent(
    "standup@example.com",
    "SUMMARY:Standup",
    "DTSTART;TZID=Europe/Paris:20260302T093000",
    "DTEND;TZID=Europe/Paris:20260302T094500",
    "RRULE:FREQ=DAILY;COUNT=5",
)
PLAIN = vevent("plain@example.com", "DTSTART:20260302T150000Z", "DURATION:PT1H")
STANDUP_MOVED = vevent(
    "standup@example.com",
    "SUMMARY:Standup (late)",
    "RECURRENCE-ID;TZID=Europe/Paris:20260304T093000",
    "DTSTART;TZID=Europe/Paris:20260304T110000",
    "DTEND;TZID=Europe/Paris:20260304T111500",
)


async def test_event_export_is_rfc5545(client: httpx.AsyncClient) -> None:
    """GET /events/{id}/ical: text/calendar, CRLF, folded lines, VTIMEZONE, RECURRENCE-ID, 304."""
    alice, mallory = await register(client), await register(client)
    event = await create_event(
        client,
        alice,
        title="A long title " * 8,
        recurrence=WEEKLY,
        overrides={MARCH_16: {**MOVED, "title": "Moved"}},
    )
    url = f"{EVENTS}/{event['id']}/ical"
    response = await client.get(url, headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    raw = response.content
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    parsed = Calendar.from_ical(raw)
    assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Paris"]
    series, moved = parsed.walk("VEVENT")
    assert str(series["UID"]) == str(moved["UID"]) == event["uid"]
    assert event["uid"].endswith("@tandem")
    assert series["SEQUENCE"] == 0 and series["RRULE"]["COUNT"] == [10]
    assert series["DTSTART"].params["TZID"] == "Europe/Paris"
    assert moved["RECURRENCE-ID"].dt.isoformat() == "2026-03-16T09:00:00+01:00"
    assert (str(moved["SUMMARY"]), moved["DTSTART"].dt.hour) == ("Moved", 13)
    etag = response.headers["etag"]
    again = await client.get(url, headers={**alice.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    await client.put(f"{EVENTS}/{event['id']}", json={"title": "New"}, headers=alice.headers)
    changed = await client.get(url, headers={**alice.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and b"SEQUENCE:1" in changed.content
    assert (await client.get(url, headers=mallory.headers)).status_code == 404


async def test_calendar_and_feeds(server: RunningServer, client: httpx.AsyncClient) -> None:
    """/calendar.ics holds what the caller sees; a feed serves it without a bearer until it
    is deleted, then answers 404 at once on another process too."""
    alice, bob = await register(client), await register(client)
    mine = await create_event(client, alice, title="Mine")
    theirs = await create_event(client, bob, title="Theirs")
    await share(client, bob, theirs["id"], alice, "viewer")
    whole = await client.get("/api/v1/calendar.ics", headers=alice.headers)
    assert [str(e["SUMMARY"]) for e in Calendar.from_ical(whole.content).walk("VEVENT")] == [
        "Mine",
        "Theirs",
    ]
    owned = await client.get(
        "/api/v1/calendar.ics", params={"role": "owner"}, headers=alice.headers
    )
    assert [str(e["UID"]) for e in Calendar.from_ical(owned.content).walk("VEVENT")] == [
        mine["uid"]
    ]
    created = await client.post("/api/v1/feeds", headers=alice.headers)
    assert created.status_code == 201
    url = created.json()["url"]
    assert url.startswith(str(client.base_url) + "/ical/") and url.endswith(".ics")
    path = httpx.URL(url).path
    feed = await client.get(path)
    assert feed.status_code == 200 and feed.content == whole.content
    assert (
        await client.get(path, headers={"If-None-Match": feed.headers["etag"]})
    ).status_code == 304
    listed = (await client.get("/api/v1/feeds", headers=alice.headers)).json()["items"]
    assert [(f["id"], f["last_used_at"] is not None) for f in listed] == [
        (created.json()["id"], True)
    ]
    assert "url" not in listed[0]
    feed_id = created.json()["id"]
    stolen = await client.delete(f"/api/v1/feeds/{feed_id}", headers=bob.headers)
    assert stolen.status_code == 404
    other = await start_server(server.settings)
    try:
        async with httpx.AsyncClient(base_url=other.url) as second:
            assert (await second.get(path)).status_code == 200
            gone = await client.delete(f"/api/v1/feeds/{feed_id}", headers=alice.headers)
            assert gone.status_code == 204
            after = await second.get(path)
            assert after.status_code == 404 and error_code(after) == "not_found"
    finally:
        await other.stop()
    trail = await client.get("/api/v1/audit", headers=alice.headers)
    actions = [r["action"] for r in trail.json()["items"]]
    assert actions.count("feed_create") == 1 and actions.count("feed_delete") == 1
    token = path.removeprefix("/ical/").removesuffix(".ics")
    for wrong in (token[:-1], token + "A", "A" * len(token)):
        answer = await client.get(f"/ical/{wrong}.ics")
        assert answer.status_code == 404 and error_code(answer) == "not_found"


async def test_a_feed_token_of_another_shape_is_not_found(client: httpx.AsyncClient) -> None:
    """43 characters outside the token's alphabet (non-ASCII, base64's own + and /, a dot)
    are a token never issued: 404 not_found, not a fault."""
    for wrong in ("a" * 42 + "%C3%A9", "%E2%82%AC" * 43, "a" * 42 + "+", "a" * 42 + "."):
        answer = await client.get(f"/ical/{wrong}.ics")
        assert answer.status_code == 404, (wrong, answer.text)
        assert error_code(answer) == "not_found"


async def test_import_creates_then_updates_by_uid(client: httpx.AsyncClient) -> None:
    """Import makes one event per UID with its overrides (origin import); again: unchanged;
    a changed file: one new version of the same event."""
    alice, bob = await register(client), await register(client)
    first = await client.post(
        f"{EVENTS}/import",
        content=vcalendar(STANDUP, STANDUP_MOVED),
        headers={**alice.headers, **ICS},
    )
    assert first.status_code == 200, first.text
    [event_id] = first.json()["created"]
    event = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()
    assert (event["uid"], event["title"], event["timezone"]) == (
        "standup@example.com",
        "Standup",
        "Europe/Paris",
    )
    assert event["start_time"] == "2026-03-02T08:30:00Z"
    assert event["recurrence"] == ["RRULE:FREQ=DAILY;COUNT=5"]
    assert event["overrides"] == {
        "2026-03-04T08:30:00Z": {
            "title": "Standup (late)",
            "start_time": "2026-03-04T10:00:00Z",
            "end_time": "2026-03-04T10:15:00Z",
        }
    }
    history = (await client.get(f"{EVENTS}/{event_id}/history", headers=alice.headers)).json()
    assert [v["origin"] for v in history["items"]] == ["import"]
    again = await client.post(
        f"{EVENTS}/import",
        content=vcalendar(STANDUP, STANDUP_MOVED),
        headers={**alice.headers, **ICS},
    )
    assert again.json() == {"created": [], "updated": [], "unchanged": [event_id]}
    renamed = STANDUP.replace("SUMMARY:Standup", "SUMMARY:Daily standup")
    third = await client.post(
        f"{EVENTS}/import", content=vcalendar(renamed), headers={**alice.headers, **ICS}
    )
    assert third.json() == {"created": [], "updated": [event_id], "unchanged": []}
    after = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()
    assert (after["version"], after["title"], after["overrides"]) == (2, "Daily standup", {})
    # Another user importing the same UID gets an event of their own.
    theirs = await client.post(
        f"{EVENTS}/import", content=vcalendar(STANDUP), headers={**bob.headers, **ICS}
    )
    assert len(theirs.json()["created"]) == 1 and theirs.json()["created"] != [event_id]
    # A UID is unique per owner: Bob cannot take over Alice's event with his UID.
    await share(client, alice, event_id, bob, "editor")
    transfer = await client.put(
        f"{EVENTS}/{event_id}/permissions/{bob.id}", json={"role": "owner"}, headers=alice.headers
    )
    assert (
        transfer.status_code == 422
        and "uid" in transfer.json()["error"]["details"]["fields"]["role"]
    )
    owner = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()["owner_id"]
    assert owner == alice.id


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        (b"this is not a calendar", "body", "iCalendar"),
        (vcalendar(STANDUP) + b"\x00", "body", "NUL"),
        (b"\xff\xfe" + vcalendar(STANDUP), "body", "UTF-8"),
        (vcalendar(STANDUP, vevent("x", "SUMMARY:no start", "DURATION:PT1H")), "1", "DTSTART"),
        (
            vcalendar(
                STANDUP,
                STANDUP_MOVED.replace("RECURRENCE-ID;", "RECURRENCE-ID;RANGE=THISANDFUTURE;"),
            ),
            "1",
            "THISANDFUTURE",
        ),
        (
            vcalendar(
                STANDUP.replace(
                    "RRULE:FREQ=DAILY;COUNT=5",
                    "RDATE;VALUE=PERIOD:20260310T090000Z/20260310T100000Z",
                )
            ),
            "0",
            "PERIOD",
        ),
        (vcalendar(STANDUP_MOVED), "0", "series"),
        (
            vcalendar(
                vevent("z", "DTSTART:20260302T090000Z", "DTEND:20260302T090000Z"),
                STANDUP,
            ),
            "0",
            "DTSTART",
        ),
    ],
)
async def test_import_refuses_what_it_cannot_represent(
    client: httpx.AsyncClient, body: bytes, where: str, what: str
) -> None:
    """A file Tandem cannot take is 422 naming the body or the VEVENT index; nothing is written."""
    alice = await register(client)
    response = await client.post(f"{EVENTS}/import", content=body, headers={**alice.headers, **ICS})
    assert response.status_code == 422 and error_code(response) == "validation_error", response.text
    details = response.json()["error"]["details"]
    problems = details["fields"] if where == "body" else details["errors"][where]["fields"]
    assert what in str(problems), problems
    assert (await client.get(EVENTS, headers=alice.headers)).json()["items"] == []


async def test_import_limits(client: httpx.AsyncClient) -> None:
    """A 2 MiB body is 413, another content type 415, more than 500 series 422."""
    alice = await register(client)
    url = f"{EVENTS}/import"
    huge = await client.post(url, content=b"X" * (2 << 20), headers={**alice.headers, **ICS})
    assert huge.status_code == 413 and error_code(huge) == "too_large"
    wrong = await client.post(url, content=vcalendar(STANDUP), headers=alice.headers)
    assert wrong.status_code == 415 and error_code(wrong) == "unsupported_media_type"
    many = vcalendar(*(STANDUP.replace("standup@", f"s{n}@") for n in range(501)))
    refused = await client.post(url, content=many, headers={**alice.headers, **ICS})
    assert (
        refused.status_code == 422 and "500" in refused.json()["error"]["details"]["fields"]["body"]
    )
    assert (await client.get(EVENTS, headers=alice.headers)).json()["items"] == []


async def test_import_keeps_utc_as_utc(client: httpx.AsyncClient) -> None:
    """DTSTART in Z or TZID=UTC imports as zone "UTC" (not Windows' "Etc/UTC", nor the
    calendar's X-WR-TIMEZONE), and Tandem's own export of a UTC event imports unchanged."""
    alice = await register(client)
    utc = vcalendar(
        vevent("z@example.com", "DTSTART:20260302T080000Z", "DTEND:20260302T090000Z"),
        vevent("tzid@example.com", "DTSTART;TZID=UTC:20260302T080000", "DURATION:PT1H"),
    ).replace(b"VERSION:2.0", b"VERSION:2.0\r\nX-WR-TIMEZONE:Europe/Berlin")
    imported = await client.post(f"{EVENTS}/import", content=utc, headers={**alice.headers, **ICS})
    assert imported.status_code == 200, imported.text
    for event_id in imported.json()["created"]:
        event = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()
        assert (event["timezone"], event["start_time"]) == ("UTC", "2026-03-02T08:00:00Z")
    event = await create_event(client, alice, timezone="UTC")
    exported = await client.get(f"{EVENTS}/{event['id']}/ical", headers=alice.headers)
    again = await client.post(
        f"{EVENTS}/import", content=exported.content, headers={**alice.headers, **ICS}
    )
    assert again.json() == {"created": [], "updated": [], "unchanged": [event["id"]]}


async def test_import_errors_name_the_override_and_its_property(
    client: httpx.AsyncClient,
) -> None:
    """An override's problem names its own VEVENT and property (SUMMARY, not a pointer);
    too many overrides names the series' VEVENT, not the file's first."""
    alice = await register(client)
    daily = vevent(
        "standup@example.com",
        "DTSTART:20260302T083000Z",
        "DURATION:PT15M",
        "RRULE:FREQ=DAILY;COUNT=2000",
    )
    moved = [
        vevent(
            "standup@example.com",
            f"RECURRENCE-ID:{day:%Y%m%d}T083000Z",
            f"DTSTART:{day:%Y%m%d}T090000Z",
            "DURATION:PT15M",
        )
        for day in (date(2026, 3, 2) + timedelta(days=n) for n in range(1001))
    ]
    retitled = STANDUP_MOVED.replace("SUMMARY:Standup (late)", "SUMMARY:" + "x" * 300)
    for body, errors in [
        (
            vcalendar(PLAIN, daily, *moved),
            {"1": {"fields": {"RECURRENCE-ID": "at most 1000 overrides"}}},
        ),
        (
            vcalendar(PLAIN, STANDUP, retitled),
            {"2": {"fields": {"SUMMARY": "must be 1-200 characters"}}},
        ),
    ]:
        response = await client.post(
            f"{EVENTS}/import", content=body, headers={**alice.headers, **ICS}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["errors"] == errors


async def test_reimporting_an_export_changes_nothing(client: httpx.AsyncClient) -> None:
    """Tandem's own export imported again is `unchanged`: the recurrence lines as stored
    (the export writes them its own way), and each override's metadata kept."""
    alice = await register(client)
    lines = [
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5",
        "RDATE:20260304T080000Z,20260305T080000Z",
        "EXDATE:20260309T080000Z",
    ]
    overrides = {MARCH_16: {"metadata": {"room": "B"}, "title": "moved"}}
    event = await create_event(
        client, alice, recurrence=lines, overrides=overrides, metadata={"kind": "review"}
    )
    exported = await client.get(f"{EVENTS}/{event['id']}/ical", headers=alice.headers)
    again = await client.post(
        f"{EVENTS}/import", content=exported.content, headers={**alice.headers, **ICS}
    )
    assert again.json() == {"created": [], "updated": [], "unchanged": [event["id"]]}
    renamed = exported.content.replace(b"SUMMARY:moved", b"SUMMARY:moved again")
    third = await client.post(f"{EVENTS}/import", content=renamed, headers={**alice.headers, **ICS})
    assert third.json() == {"created": [], "updated": [event["id"]], "unchanged": []}
    after = (await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)).json()
    assert (after["recurrence"], after["metadata"]) == (lines, {"kind": "review"})
    assert after["overrides"] == {MARCH_16: {"metadata": {"room": "B"}, "title": "moved again"}}


async def test_export_drops_control_characters(client: httpx.AsyncClient) -> None:
    """Control characters RFC 5545 forbids in TEXT are left out of SUMMARY, DESCRIPTION
    and LOCATION; line breaks are escaped and tabs kept."""
    alice = await register(client)
    event = await create_event(
        client,
        alice,
        title="a\x0bb\x1bc\x7f",
        description="one\ntwo\tthree\x01",
        location="\x1froom",
    )
    exported = await client.get(f"{EVENTS}/{event['id']}/ical", headers=alice.headers)
    raw = exported.content.replace(b"\r\n", b"").replace(b"\t", b"")
    assert not [byte for byte in raw if byte < 0x20 or byte == 0x7F]
    [component] = Calendar.from_ical(exported.content).walk("VEVENT")
    assert (str(component["SUMMARY"]), str(component["LOCATION"])) == ("abc", "room")
    assert str(component["DESCRIPTION"]) == "one\ntwo\tthree"
