"""Recurrence lines: which are valid, and the message that says why one is refused."""

from __future__ import annotations

import pytest

from storage.recurrence_rules import RecurrenceError, recurrence_problem
from tests.storage.recurrence_times import PARIS_END, PARIS_START, YEAR_2026, occurrences

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
