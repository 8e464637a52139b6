"""Recurrence expansion against RFC 5545 section 3.8.5.3, in America/New_York.

The expectations below are written by hand from the RFC's published lists (local
times), not taken from the library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.storage.recurrence_times import FAR, HOUR, MAX_OCCURRENCES, occurrences

NY = ZoneInfo("America/New_York")


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
