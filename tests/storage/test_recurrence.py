"""Recurrence: RFC 5545 expansion in the event's zone, windows, spans and refusals.

The RFC 5545 section 3.8.5.3 expectations below are written by hand from the RFC's
published lists (local times in America/New_York), not taken from the library.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.recurrence import MAX_OCCURRENCES, occurrences, series_span
from storage.recurrence_rules import RecurrenceError, recurrence_problem

NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
FAR = datetime(2010, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def at(year: int, month: int, days: list[int] | range, abbreviation: str) -> list[str]:
    """The RFC's way of listing: 9:00 AM local on these days of one month."""
    return [f"{year}-{month:02d}-{day:02d} 09:00 {abbreviation}" for day in days]


def expand_ny(dtstart: str, lines: list[str], limit: int = MAX_OCCURRENCES) -> list[str]:
    """Occurrences of a one-hour New York event, as local wall times with EST/EDT."""
    start = datetime.strptime(dtstart, "%Y%m%dT%H%M%S").replace(tzinfo=NY).astimezone(UTC)
    found = occurrences(start, start + HOUR, "America/New_York", lines, start, FAR, limit)
    return [s.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z") for s, _ in found]


RFC_EXAMPLES = [
    (
        "Daily for 10 occurrences",
        "19970902T090000",
        ["RRULE:FREQ=DAILY;COUNT=10"],
        None,
        at(1997, 9, range(2, 12), "EDT"),
    ),
    (
        "Daily until December 24, 1997",
        "19970902T090000",
        ["RRULE:FREQ=DAILY;UNTIL=19971224T000000Z"],
        None,
        at(1997, 9, range(2, 31), "EDT")
        + at(1997, 10, range(1, 26), "EDT")
        + at(1997, 10, range(26, 32), "EST")
        + at(1997, 11, range(1, 31), "EST")
        + at(1997, 12, range(1, 24), "EST"),
    ),
    (
        "Every 10 days, 5 occurrences",
        "19970902T090000",
        ["RRULE:FREQ=DAILY;INTERVAL=10;COUNT=5"],
        None,
        at(1997, 9, [2, 12, 22], "EDT") + at(1997, 10, [2, 12], "EDT"),
    ),
    (
        "Every day in January, for 3 years",
        "19980101T090000",
        ["RRULE:FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA"],
        None,
        at(1998, 1, range(1, 32), "EST")
        + at(1999, 1, range(1, 32), "EST")
        + at(2000, 1, range(1, 32), "EST"),
    ),
    (
        "Weekly for 10 occurrences",
        "19970902T090000",
        ["RRULE:FREQ=WEEKLY;COUNT=10"],
        None,
        at(1997, 9, [2, 9, 16, 23, 30], "EDT")
        + at(1997, 10, [7, 14, 21], "EDT")
        + at(1997, 10, [28], "EST")
        + at(1997, 11, [4], "EST"),
    ),
    (
        "Weekly until December 24, 1997",
        "19970902T090000",
        ["RRULE:FREQ=WEEKLY;UNTIL=19971224T000000Z"],
        None,
        at(1997, 9, [2, 9, 16, 23, 30], "EDT")
        + at(1997, 10, [7, 14, 21], "EDT")
        + at(1997, 10, [28], "EST")
        + at(1997, 11, [4, 11, 18, 25], "EST")
        + at(1997, 12, [2, 9, 16, 23], "EST"),
    ),
    (
        "Every other week - forever",
        "19970902T090000",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU"],
        13,
        at(1997, 9, [2, 16, 30], "EDT")
        + at(1997, 10, [14], "EDT")
        + at(1997, 10, [28], "EST")
        + at(1997, 11, [11, 25], "EST")
        + at(1997, 12, [9, 23], "EST")
        + at(1998, 1, [6, 20], "EST")
        + at(1998, 2, [3, 17], "EST"),
    ),
    (
        "Weekly on Tuesday and Thursday for five weeks",
        "19970902T090000",
        ["RRULE:FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH"],
        None,
        at(1997, 9, [2, 4, 9, 11, 16, 18, 23, 25, 30], "EDT") + at(1997, 10, [2], "EDT"),
    ),
    (
        "Every other week on Monday, Wednesday, and Friday until December 24, 1997",
        "19970901T090000",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR"],
        None,
        at(1997, 9, [1, 3, 5, 15, 17, 19, 29], "EDT")
        + at(1997, 10, [1, 3, 13, 15, 17], "EDT")
        + at(1997, 10, [27, 29, 31], "EST")
        + at(1997, 11, [10, 12, 14, 24, 26, 28], "EST")
        + at(1997, 12, [8, 10, 12, 22], "EST"),
    ),
    (
        "Every other week on Tuesday and Thursday, for 8 occurrences",
        "19970902T090000",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH"],
        None,
        at(1997, 9, [2, 4, 16, 18, 30], "EDT") + at(1997, 10, [2, 14, 16], "EDT"),
    ),
    (
        "Monthly on the first Friday for 10 occurrences",
        "19970905T090000",
        ["RRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR"],
        None,
        at(1997, 9, [5], "EDT")
        + at(1997, 10, [3], "EDT")
        + at(1997, 11, [7], "EST")
        + at(1997, 12, [5], "EST")
        + at(1998, 1, [2], "EST")
        + at(1998, 2, [6], "EST")
        + at(1998, 3, [6], "EST")
        + at(1998, 4, [3], "EST")
        + at(1998, 5, [1], "EDT")
        + at(1998, 6, [5], "EDT"),
    ),
    (
        "Every other month on the first and last Sunday of the month for 10 occurrences",
        "19970907T090000",
        ["RRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU"],
        None,
        at(1997, 9, [7, 28], "EDT")
        + at(1997, 11, [2, 30], "EST")
        + at(1998, 1, [4, 25], "EST")
        + at(1998, 3, [1, 29], "EST")
        + at(1998, 5, [3, 31], "EDT"),
    ),
    (
        "Monthly on the second-to-last Monday of the month for 6 months",
        "19970922T090000",
        ["RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=-2MO"],
        None,
        at(1997, 9, [22], "EDT")
        + at(1997, 10, [20], "EDT")
        + at(1997, 11, [17], "EST")
        + at(1997, 12, [22], "EST")
        + at(1998, 1, [19], "EST")
        + at(1998, 2, [16], "EST"),
    ),
    (
        "Monthly on the third-to-the-last day of the month, forever",
        "19970928T090000",
        ["RRULE:FREQ=MONTHLY;BYMONTHDAY=-3"],
        6,
        at(1997, 9, [28], "EDT")
        + at(1997, 10, [29], "EST")
        + at(1997, 11, [28], "EST")
        + at(1997, 12, [29], "EST")
        + at(1998, 1, [29], "EST")
        + at(1998, 2, [26], "EST"),
    ),
    (
        "Monthly on the first and last day of the month for 10 occurrences",
        "19970930T090000",
        ["RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1"],
        None,
        at(1997, 9, [30], "EDT")
        + at(1997, 10, [1], "EDT")
        + at(1997, 10, [31], "EST")
        + at(1997, 11, [1, 30], "EST")
        + at(1997, 12, [1, 31], "EST")
        + at(1998, 1, [1, 31], "EST")
        + at(1998, 2, [1], "EST"),
    ),
    (
        "Every 18 months on the 10th thru 15th of the month for 10 occurrences",
        "19970910T090000",
        ["RRULE:FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15"],
        None,
        at(1997, 9, range(10, 16), "EDT") + at(1999, 3, [10, 11, 12, 13], "EST"),
    ),
    (
        "Every Tuesday, every other month",
        "19970902T090000",
        ["RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"],
        18,
        at(1997, 9, [2, 9, 16, 23, 30], "EDT")
        + at(1997, 11, [4, 11, 18, 25], "EST")
        + at(1998, 1, [6, 13, 20, 27], "EST")
        + at(1998, 3, [3, 10, 17, 24, 31], "EST"),
    ),
    (
        "Yearly in June and July for 10 occurrences",
        "19970610T090000",
        ["RRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7"],
        None,
        [
            day
            for year in range(1997, 2002)
            for day in at(year, 6, [10], "EDT") + at(year, 7, [10], "EDT")
        ],
    ),
    (
        "Every other year on January, February, and March for 10 occurrences",
        "19970310T090000",
        ["RRULE:FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3"],
        None,
        at(1997, 3, [10], "EST")
        + [
            day
            for year in (1999, 2001, 2003)
            for month in (1, 2, 3)
            for day in at(year, month, [10], "EST")
        ],
    ),
    (
        "Every third year on the 1st, 100th, and 200th day for 10 occurrences",
        "19970101T090000",
        ["RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200"],
        None,
        at(1997, 1, [1], "EST")
        + at(1997, 4, [10], "EDT")
        + at(1997, 7, [19], "EDT")
        + at(2000, 1, [1], "EST")
        + at(2000, 4, [9], "EDT")
        + at(2000, 7, [18], "EDT")
        + at(2003, 1, [1], "EST")
        + at(2003, 4, [10], "EDT")
        + at(2003, 7, [19], "EDT")
        + at(2006, 1, [1], "EST"),
    ),
    (
        "Every 20th Monday of the year, forever",
        "19970519T090000",
        ["RRULE:FREQ=YEARLY;BYDAY=20MO"],
        3,
        at(1997, 5, [19], "EDT") + at(1998, 5, [18], "EDT") + at(1999, 5, [17], "EDT"),
    ),
    (
        "Monday of week number 20, forever",
        "19970512T090000",
        ["RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"],
        3,
        at(1997, 5, [12], "EDT") + at(1998, 5, [11], "EDT") + at(1999, 5, [17], "EDT"),
    ),
    (
        "Every Thursday in March, forever",
        "19970313T090000",
        ["RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=TH"],
        11,
        at(1997, 3, [13, 20, 27], "EST")
        + at(1998, 3, [5, 12, 19, 26], "EST")
        + at(1999, 3, [4, 11, 18, 25], "EST"),
    ),
    (
        "Every Thursday, but only during June, July, and August, forever",
        "19970605T090000",
        ["RRULE:FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8"],
        13,
        at(1997, 6, [5, 12, 19, 26], "EDT")
        + at(1997, 7, [3, 10, 17, 24, 31], "EDT")
        + at(1997, 8, [7, 14, 21, 28], "EDT"),
    ),
    (
        "Every Friday the 13th, forever",
        "19970902T090000",
        [
            "EXDATE;TZID=America/New_York:19970902T090000",
            "RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        ],
        5,
        at(1998, 2, [13], "EST")
        + at(1998, 3, [13], "EST")
        + at(1998, 11, [13], "EST")
        + at(1999, 8, [13], "EDT")
        + at(2000, 10, [13], "EDT"),
    ),
    (
        "The first Saturday that follows the first Sunday of the month, forever",
        "19970913T090000",
        ["RRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"],
        10,
        at(1997, 9, [13], "EDT")
        + at(1997, 10, [11], "EDT")
        + at(1997, 11, [8], "EST")
        + at(1997, 12, [13], "EST")
        + at(1998, 1, [10], "EST")
        + at(1998, 2, [7], "EST")
        + at(1998, 3, [7], "EST")
        + at(1998, 4, [11], "EDT")
        + at(1998, 5, [9], "EDT")
        + at(1998, 6, [13], "EDT"),
    ),
    (
        "Every 4 years, U.S. Presidential Election day",
        "19961105T090000",
        ["RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8"],
        3,
        at(1996, 11, [5], "EST") + at(2000, 11, [7], "EST") + at(2004, 11, [2], "EST"),
    ),
    (
        "The third instance into the month of one of Tuesday, Wednesday, or Thursday",
        "19970904T090000",
        ["RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3"],
        None,
        at(1997, 9, [4], "EDT") + at(1997, 10, [7], "EDT") + at(1997, 11, [6], "EST"),
    ),
    (
        "The second-to-last weekday of the month",
        "19970929T090000",
        ["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2"],
        7,
        at(1997, 9, [29], "EDT")
        + at(1997, 10, [30], "EST")
        + at(1997, 11, [27], "EST")
        + at(1997, 12, [30], "EST")
        + at(1998, 1, [29], "EST")
        + at(1998, 2, [26], "EST")
        + at(1998, 3, [30], "EST"),
    ),
    (
        "WKST=MO",
        "19970805T090000",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"],
        None,
        at(1997, 8, [5, 10, 19, 24], "EDT"),
    ),
    (
        "WKST=SU",
        "19970805T090000",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"],
        None,
        at(1997, 8, [5, 17, 19, 31], "EDT"),
    ),
    (
        "An invalid date (February 30) is ignored",
        "20070115T090000",
        ["RRULE:FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5"],
        None,
        at(2007, 1, [15, 30], "EST") + at(2007, 2, [15], "EST") + at(2007, 3, [15, 30], "EDT"),
    ),
]


@pytest.mark.parametrize(
    ("dtstart", "lines", "limit", "expected"),
    [case[1:] for case in RFC_EXAMPLES],
    ids=[case[0] for case in RFC_EXAMPLES],
)
def test_rfc5545_examples(
    dtstart: str, lines: list[str], limit: int | None, expected: list[str]
) -> None:
    """Expansion gives exactly the dates RFC 5545 3.8.5.3 publishes, local time kept over DST."""
    assert expand_ny(dtstart, lines, limit or MAX_OCCURRENCES) == expected


def test_rfc5545_sub_daily_examples() -> None:
    """The RFC's every-15-minutes and every-90-minutes examples give its listed times."""
    quarters = expand_ny("19970902T090000", ["RRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=6"])
    assert [text[11:16] for text in quarters] == [
        "09:00",
        "09:15",
        "09:30",
        "09:45",
        "10:00",
        "10:15",
    ]
    halves = expand_ny("19970902T090000", ["RRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=4"])
    assert [text[11:16] for text in halves] == ["09:00", "10:30", "12:00", "13:30"]


def test_local_time_kept_means_utc_shifts() -> None:
    """09:00 New York is 13:00Z in EDT and 14:00Z once EST starts on 1997-10-26."""
    start = utc("1997-10-24T13:00:00Z")
    found = occurrences(
        start, start + HOUR, "America/New_York", ["RRULE:FREQ=DAILY;COUNT=3"], start, FAR
    )
    assert [s for s, _ in found] == [
        utc("1997-10-24T13:00:00Z"),
        utc("1997-10-25T13:00:00Z"),
        utc("1997-10-26T14:00:00Z"),
    ]
    assert all(e - s == HOUR for s, e in found)


PARIS_START = utc("2026-03-02T08:00:00Z")
PARIS_END = utc("2026-03-02T09:00:00Z")
PROTOCOL_LINES = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"]
YEAR_2026 = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))


def paris(lines: list[str], window: tuple[datetime, datetime] = YEAR_2026) -> list[datetime]:
    found = occurrences(PARIS_START, PARIS_END, "Europe/Paris", lines, *window)
    return [s for s, _ in found]


def test_protocol_example() -> None:
    """The contract's weekly Paris meeting: 9 March dropped, 07:00Z from CEST (30 March) on."""
    found = occurrences(PARIS_START, PARIS_END, "Europe/Paris", PROTOCOL_LINES, *YEAR_2026)
    assert [s for s, _ in found] == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-03-16T08:00:00Z"),
        utc("2026-03-23T08:00:00Z"),
        utc("2026-03-30T07:00:00Z"),
        utc("2026-04-06T07:00:00Z"),
        utc("2026-04-13T07:00:00Z"),
        utc("2026-04-20T07:00:00Z"),
        utc("2026-04-27T07:00:00Z"),
        utc("2026-05-04T07:00:00Z"),
    ]
    assert all(e - s == HOUR for s, e in found)
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", PROTOCOL_LINES) == (
        utc("2026-03-02T08:00:00Z"),
        utc("2026-05-04T08:00:00Z"),
    )


def test_rdate_adds_occurrences_in_order() -> None:
    """RDATE adds occurrences (UTC, TZID and comma lists), merged in time order."""
    lines = [
        "RRULE:FREQ=WEEKLY;COUNT=2",
        "RDATE:20260304T120000Z",
        "RDATE;TZID=America/New_York:20260305T090000,20260306T090000",
    ]
    assert paris(lines) == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-03-04T12:00:00Z"),
        utc("2026-03-05T14:00:00Z"),
        utc("2026-03-06T14:00:00Z"),
        utc("2026-03-09T08:00:00Z"),
    ]


def test_exdate_forms() -> None:
    """EXDATE drops by UTC time, by TZID local time (across DST), floating local time or date."""
    lines = [
        "RRULE:FREQ=WEEKLY;COUNT=6",
        "EXDATE;TZID=Europe/Paris:20260309T090000,20260330T090000",
        "EXDATE:20260316T090000",
        "EXDATE;VALUE=DATE:20260323",
    ]
    assert paris(lines) == [utc("2026-03-02T08:00:00Z"), utc("2026-04-06T07:00:00Z")]


def test_date_rdate_takes_the_start_clock_time() -> None:
    """A VALUE=DATE RDATE adds an occurrence at the event's local start time that day."""
    assert paris(["RDATE;VALUE=DATE:20260401"]) == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-04-01T07:00:00Z"),
    ]


@pytest.mark.parametrize(
    ("until", "count"),
    [
        ("20260304T080000Z", 3),  # UTC, inclusive
        ("20260304T075959Z", 2),
        ("20260304T090000", 3),  # floating: 09:00 Paris
        ("20260304T085959", 2),
        ("20260304", 3),  # a date: the whole local day
    ],
)
def test_until_forms(until: str, count: int) -> None:
    """UNTIL in UTC, floating (local to the event's zone) or as a date works with an aware start."""
    assert len(paris([f"RRULE:FREQ=DAILY;UNTIL={until}"])) == count


def test_start_always_counts_as_first_occurrence() -> None:
    """DTSTART is an occurrence even when the rule would not match it (RFC 5545 3.8.5.3)."""
    tuesday = utc("2026-03-03T08:00:00Z")
    found = occurrences(
        tuesday, tuesday + HOUR, "Europe/Paris", ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2"], *YEAR_2026
    )
    assert [s for s, _ in found] == [
        tuesday,
        utc("2026-03-09T08:00:00Z"),
        utc("2026-03-16T08:00:00Z"),
    ]


def test_all_day_event_keeps_local_midnights_across_dst() -> None:
    """Occurrences keep local clock times: a day-long event spans 23 hours on the DST day."""
    start, end = utc("2026-03-21T23:00:00Z"), utc("2026-03-22T23:00:00Z")  # Sunday, Paris
    found = occurrences(start, end, "Europe/Paris", ["RRULE:FREQ=WEEKLY;COUNT=2"], *YEAR_2026)
    assert found == [
        (start, end),
        (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z")),
    ]


def test_window_overlap_edges() -> None:
    """An occurrence counts when it overlaps [window_start, window_end): touching is not enough."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3"]
    second = utc("2026-03-03T08:00:00Z")
    assert paris(lines, (second, second + HOUR)) == [second]
    assert paris(lines, (second + HOUR, second + 2 * HOUR)) == []  # ends as the window starts
    assert paris(lines, (second - HOUR, second)) == []  # starts as the window ends
    tick = timedelta(microseconds=1)
    assert paris(lines, (second + HOUR - tick, second + 2 * HOUR)) == [second]
    assert paris(lines, (second - HOUR, second + tick)) == [second]


def test_occurrence_running_into_the_window_is_included() -> None:
    """An occurrence that began before the window but is still running overlaps it."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3"]
    inside = (utc("2026-03-03T08:30:00Z"), utc("2026-03-03T08:45:00Z"))
    assert paris(lines, inside) == [utc("2026-03-03T08:00:00Z")]


def test_single_event_without_recurrence() -> None:
    """With no lines the event itself is the only occurrence, when it overlaps."""
    assert occurrences(PARIS_START, PARIS_END, "UTC", [], *YEAR_2026) == [(PARIS_START, PARIS_END)]
    assert occurrences(PARIS_START, PARIS_END, "UTC", [], PARIS_END, FAR.replace(year=2030)) == []
    assert series_span(PARIS_START, PARIS_END, "UTC", []) == (PARIS_START, PARIS_END)


def test_unbounded_rule_is_capped() -> None:
    """A rule without end stops at `limit` results, MAX_OCCURRENCES by default."""
    lines = ["RRULE:FREQ=DAILY"]
    century = (PARIS_START, utc("2126-01-01T00:00:00Z"))
    assert len(paris(lines, century)) == MAX_OCCURRENCES
    assert len(occurrences(PARIS_START, PARIS_END, "UTC", lines, *century, limit=7)) == 7


def test_far_window_of_an_old_rule() -> None:
    """Decades after its start, an endless rule still expands the right days, local time kept."""
    lines = ["RRULE:FREQ=DAILY;INTERVAL=2"]
    window = (utc("2090-03-24T00:00:00Z"), utc("2090-03-30T00:00:00Z"))
    # 2026-03-02 + 2 * 11,699 days = 2090-03-24; CEST starts on 2090-03-26, a Sunday.
    assert paris(lines, window) == [
        utc("2090-03-24T08:00:00Z"),
        utc("2090-03-26T07:00:00Z"),
        utc("2090-03-28T07:00:00Z"),
    ]


def test_far_window_keeps_defaults_from_the_real_start() -> None:
    """A monthly rule from the 31st meets only 31-day months, however far ahead one looks."""
    start = utc("2026-01-31T09:00:00Z")
    window = (utc("2060-01-01T00:00:00Z"), utc("2061-01-01T00:00:00Z"))
    found = occurrences(start, start + HOUR, "UTC", ["RRULE:FREQ=MONTHLY"], *window)
    assert [s.strftime("%m-%d") for s, _ in found] == [
        "01-31", "03-31", "05-31", "07-31", "08-31", "10-31", "12-31",
    ]  # fmt: skip
    leap = utc("2028-02-29T09:00:00Z")
    later = (utc("2090-01-01T00:00:00Z"), utc("2101-01-01T00:00:00Z"))
    found = occurrences(leap, leap + HOUR, "UTC", ["RRULE:FREQ=YEARLY"], *later)
    assert [s.date().isoformat() for s, _ in found] == ["2092-02-29", "2096-02-29"]


def test_far_window_matches_a_full_walk() -> None:
    """Expanding a far window gives what walking the rule from its start gives."""
    lines = ["RRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SA", "EXDATE:20400114T080000Z"]
    window = (utc("2040-01-01T00:00:00Z"), utc("2040-03-01T00:00:00Z"))
    walked = [s for s in paris(lines, (PARIS_START, window[1])) if s >= window[0]]
    assert paris(lines, window) == walked
    # Every third week from Monday 2026-03-02: the weeks of 9 January, 30 January and
    # 20 February 2040; 09:00 Paris is 08:00Z in winter; the 14th is excluded.
    assert [s.day for s in walked] == [10, 31, 4, 21, 25]


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=DAILY;COUNT=1000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=150",
        "RRULE:FREQ=MONTHLY;COUNT=40",
        "RRULE:FREQ=YEARLY;COUNT=12",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TH;COUNT=300",  # two a week: walked, not skipped
    ],
)
def test_far_window_of_a_count_rule_matches_a_full_walk(rule: str) -> None:
    """A COUNT rule skipped ahead ends where walking it from the start ends, local time kept."""
    lines = [rule, "EXDATE:20290305T080000Z"]
    whole = paris(lines, (PARIS_START, utc("2040-01-01T00:00:00Z")))
    last = whole[-1]
    windows = [
        (utc("2029-03-01T00:00:00Z"), utc("2029-04-01T00:00:00Z")),  # excluded day, DST
        (last - timedelta(days=3), last + timedelta(days=3)),  # around the last occurrence
        (last + timedelta(days=1), last + timedelta(days=800)),  # after the series
        (last + timedelta(days=400), last + timedelta(days=800)),  # long after it
    ]
    for window in windows:
        assert paris(lines, window) == [s for s in whole if window[0] < s + HOUR and s < window[1]]


def test_fraction_of_a_second_is_kept() -> None:
    """A start with microseconds gives occurrences with the same fraction, the first exact."""
    start = utc("2026-03-02T08:00:00.250000Z")
    found = occurrences(start, start + HOUR, "UTC", ["RRULE:FREQ=DAILY;COUNT=2"], *YEAR_2026)
    assert [s for s, _ in found] == [start, start + timedelta(days=1)]


def test_series_span_bounded_and_unbounded() -> None:
    """series_span gives the last end for COUNT/UNTIL rules and None for an endless one."""
    span = series_span(PARIS_START, PARIS_END, "Europe/Paris", ["RRULE:FREQ=DAILY;COUNT=30"])
    assert span == (PARIS_START, utc("2026-03-31T08:00:00Z"))
    until = ["RRULE:FREQ=WEEKLY;UNTIL=20260330T070000Z"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", until)[1] == utc(
        "2026-03-30T08:00:00Z"
    )
    endless = ["RRULE:FREQ=WEEKLY;COUNT=2", "RRULE:FREQ=MONTHLY"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", endless) == (PARIS_START, None)


def test_series_span_with_rdates_and_exdates() -> None:
    """An RDATE before the start opens the span; an EXDATE on the last occurrence shortens it."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3", "RDATE:20260220T100000Z", "EXDATE:20260304T080000Z"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", lines) == (
        utc("2026-02-20T10:00:00Z"),
        utc("2026-03-03T09:00:00Z"),
    )


def test_series_span_of_a_huge_count_is_open_ended() -> None:
    """Past MAX_SCAN occurrences the span is not computed: None, like an endless rule."""
    lines = ["RRULE:FREQ=HOURLY;COUNT=100000000"]
    assert series_span(PARIS_START, PARIS_END, "UTC", lines) == (PARIS_START, None)


def test_series_span_when_everything_is_excluded() -> None:
    """A series whose every occurrence is excluded keeps the event's own span."""
    lines = ["RRULE:FREQ=DAILY;COUNT=1", "EXDATE:20260302T080000Z"]
    assert paris(lines) == []
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", lines) == (PARIS_START, PARIS_END)


VALID_LINES = [
    ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"],
    ["rrule:freq=monthly;byday=-1fr;interval=2"],
    ["RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;WKST=SU"],
    ["RDATE;VALUE=DATE:20260401,20260402"],
    ["RRULE:FREQ=MONTHLY;BYMONTHDAY=31"],
    [],
]


@pytest.mark.parametrize("lines", VALID_LINES)
def test_valid_recurrences(lines: list[str]) -> None:
    """Well-formed recurrences have no problem."""
    assert recurrence_problem(lines, PARIS_START, "Europe/Paris") is None


INVALID_LINES = [
    (["RRULE FREQ=DAILY"], "NAME:VALUE"),
    (["RRULE:FREQ=FORTNIGHTLY"], "FREQ must be one of"),
    (["RRULE:COUNT=3"], "FREQ must be one of"),
    (["RRULE:FREQ=DAILY;FREQ=WEEKLY"], "repeats FREQ"),
    (["RRULE:FREQ=DAILY;COLOR=RED"], "unknown RRULE part COLOR"),
    (["RRULE:FREQ=DAILY;COUNT=0"], "COUNT"),
    (["RRULE:FREQ=DAILY;COUNT=2;UNTIL=20260310T000000Z"], "both COUNT and UNTIL"),
    (["RRULE:FREQ=DAILY;UNTIL=2026-03-10"], "bad DATE-TIME"),
    (["RRULE:FREQ=MONTHLY;BYMONTH=13"], "BYMONTH"),
    (["RRULE:FREQ=MONTHLY;BYMONTHDAY=0"], "BYMONTHDAY"),
    (["RRULE:FREQ=MONTHLY;BYDAY=XX"], "BYDAY"),
    (["RRULE:FREQ=WEEKLY;BYDAY=2MO"], "ordinal"),
    (["RRULE:FREQ=DAILY;BYWEEKNO=3"], "BYWEEKNO cannot be used with FREQ=DAILY"),
    (["RRULE:FREQ=DAILY;BYSETPOS=1"], "BYSETPOS needs"),
    (["RRULE:FREQ=DAILY;INTERVAL=100000"], "INTERVAL"),
    (["RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"], "no occurrence"),
    (["RRULE:FREQ=SECONDLY;BYMONTH=4;BYMONTHDAY=31"], "no occurrence"),
    (["DTSTART:20260302T080000Z"], "DTSTART is not allowed"),
    (["EXRULE:FREQ=DAILY"], "EXRULE is not supported"),
    (["VEVENT:X"], "unknown property"),
    (["EXDATE:20260230T080000Z"], "bad DATE-TIME"),
    (["EXDATE;TZID=Mars/Olympus:20260309T090000"], "unknown TZID"),
    (["EXDATE;TZID=Europe/Paris:20260309T090000Z"], "bad DATE-TIME"),
    (["RDATE;VALUE=PERIOD:20260309T090000Z/PT1H"], "not supported"),
    (["RRULE:FREQ=DAILY"] * 51, "at most 50 lines"),
    (["RDATE:" + ",".join(["20260401T080000Z"] * 60)], "longer than 1000"),
    ("RRULE:FREQ=DAILY", "list of strings"),
    ([42], "list of strings"),
]


@pytest.mark.parametrize(("lines", "message"), INVALID_LINES)
def test_invalid_recurrences_give_a_message(lines: list[str], message: str) -> None:
    """Each kind of bad recurrence is refused with a message that says why."""
    problem = recurrence_problem(lines, PARIS_START, "Europe/Paris")
    assert problem is not None and message in problem


def test_problem_names_the_line() -> None:
    """The message points at the offending line by number."""
    problem = recurrence_problem(["RRULE:FREQ=DAILY", "EXDATE:nope"], PARIS_START, "UTC")
    assert problem is not None and problem.startswith("line 2:")


def test_unknown_zone_is_a_problem_and_expansion_refuses_bad_lines() -> None:
    """An unknown zone is reported; expanding refused lines raises RecurrenceError."""
    assert recurrence_problem([], PARIS_START, "../etc") == "unknown time zone"
    with pytest.raises(RecurrenceError):
        occurrences(PARIS_START, PARIS_END, "UTC", ["DTSTART:20260302T080000Z"], *YEAR_2026)
