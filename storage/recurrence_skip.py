"""How a rule reaches a window without being walked from its start. Pure: no I/O.

Three ways, cheapest first: a DAILY or WEEKLY rule (plain BYDAY at most) is stepped
by date arithmetic (`stepped`); any other rule restarts whole periods before the
window (`fast_forward`), which a COUNT rule can do once it is the UNTIL rule of its
last match (`without_count`). storage.recurrence decides which applies; its property
tests compare each with a full walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, rrule

# Occurrences a walk may step through (~5 us each): the longest COUNT rule turned
# into its UNTIL rule, and how far before a window a rule that cannot skip is walked.
MAX_SCAN = 50_000
SUB_DAILY_SECONDS = {HOURLY: 3600, MINUTELY: 60}  # SECONDLY: 1
UNITS = {YEARLY: "years", MONTHLY: "months", WEEKLY: "weeks", DAILY: "days"}


def can_step(rule: dict[str, Any]) -> bool:
    """Whether `stepped` expands this rule: DAILY or WEEKLY, BYDAY without ordinals at
    most, and no COUNT beside a BYDAY (without_count has made that an UNTIL)."""
    days = rule.get("byweekday")
    return (
        rule["freq"] in (DAILY, WEEKLY)
        and all(key == "byweekday" for key in rule if key.startswith("by"))
        and (days is None or ("count" not in rule and all(d.n is None for d in days)))
    )


class Stepper:
    """A rule `can_step` takes, set up once per series: its matches after DTSTART
    (`local`) by date arithmetic at DTSTART's wall-clock time, as dateutil would give
    them. DTSTART itself is the caller's to yield."""

    def __init__(self, rule: dict[str, Any], local: datetime) -> None:
        self.local, self.first = local, local.date()
        self.clock = local.timetz().replace(tzinfo=None)
        weekly = rule["freq"] == WEEKLY
        self.step = rule.get("interval", 1) * (7 if weekly else 1)
        days = {d.weekday for d in rule.get("byweekday", ())}
        origin, offsets = self.first, [0]
        if weekly and days:  # the periods are WKST weeks, counted from the one holding DTSTART
            origin = self.first - timedelta(days=(self.first.weekday() - rule["wkst"]) % 7)
            offsets = sorted((day - rule["wkst"]) % 7 for day in days)
            days = set()
        self.origin, self.days = origin, days
        self.shifts = [timedelta(days=offset) for offset in offsets]
        self.count, self.until = rule.get("count"), rule.get("until")

    def after(self, target: datetime | None) -> Iterator[datetime]:
        """The matches from the period before the one holding `target` (local; all of
        them without one). Not from the target's own: where a zone falls back across
        midnight, the repeated times of a date begin after the next date has begun."""
        period = 0
        if target is not None:
            period = max(0, (target.date() - self.origin).days // self.step - 1)
        count = self.count
        if count is not None:  # one match per period here: the skipped ones are counted off
            period = min(period, count)
            count -= period
        return self._matches(period, count)

    def _matches(self, period: int, count: int | None) -> Iterator[datetime]:
        first, days, shifts, until = self.first, self.days, self.shifts, self.until
        zone, clock, combine = self.local.tzinfo, self.clock, datetime.combine
        every = timedelta(days=self.step)
        try:
            base = self.origin + timedelta(days=period * self.step)
            while True:
                for shift in shifts:
                    day: date = base + shift
                    if day <= first:  # DTSTART's own match (counted) or before it
                        if day == first and count is not None:
                            count -= 1
                        continue
                    if days and day.weekday() not in days:
                        continue
                    moment = combine(day, clock, tzinfo=zone)
                    if (until is not None and moment > until) or count == 0:
                        return
                    if count is not None:
                        count -= 1
                    yield moment
                base += every
        except OverflowError:  # time ends at year 9999
            return


def without_count(rule: dict[str, Any], local: datetime) -> dict[str, Any]:
    """The COUNT rule as the UNTIL rule of its last match, which can skip ahead.

    A rule with one match per period keeps its COUNT (it skips ahead by arithmetic),
    and so does one with more than MAX_SCAN matches (walked from its start).
    """
    if "count" not in rule or one_per_period(rule, local):
        return rule
    last = None
    try:
        for scanned, moment in enumerate(rrule(dtstart=local, **rule)):
            if scanned >= MAX_SCAN:
                return rule
            last = moment
    except (ValueError, OverflowError):
        return rule
    if last is None:
        return rule
    until = {k: v for k, v in rule.items() if k != "count"}
    until["until"] = last.astimezone(UTC)
    return until


def fast_forward(
    rule: dict[str, Any], local: datetime, target: datetime
) -> tuple[dict[str, Any], datetime]:
    """The rule restarted whole periods later, at least two periods before `target`.

    Without COUNT, what a rule yields after a period boundary does not depend on how
    many periods came before, so a daily rule begun years ago need not be walked from
    its start. Defaults dateutil takes from DTSTART's date are pinned to the real start.
    A COUNT rule skips too when each period holds exactly one occurrence: the skipped
    periods are taken off its COUNT, keeping at least the last occurrence.
    """
    freq, step = rule["freq"], rule.get("interval", 1)
    if "count" in rule and not one_per_period(rule, local):
        return rule, local
    naive, goal = local.replace(tzinfo=None), target.replace(tzinfo=None)
    if freq == YEARLY:
        periods = (goal.year - naive.year) // step
    elif freq == MONTHLY:
        periods = ((goal.year - naive.year) * 12 + goal.month - naive.month) // step
    elif freq in (WEEKLY, DAILY):
        periods = (goal.date() - naive.date()).days // (step * (7 if freq == WEEKLY else 1))
    else:  # sub-daily: whole periods of wall-clock time, as dateutil counts them
        seconds = step * SUB_DAILY_SECONDS.get(freq, 1)
        periods = int((goal - naive).total_seconds()) // seconds
    periods -= 2  # margin: occurrences begun before the new start may still run into the window
    if "count" in rule:
        periods = min(periods, rule["count"] - 1)
    if periods <= 0:
        return rule, local
    rule = dict(rule)
    if "count" in rule:
        rule["count"] -= periods
    if not any(k in rule for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq == YEARLY:
            rule.setdefault("bymonth", local.month)
        if freq in (YEARLY, MONTHLY):
            rule["bymonthday"] = local.day
        elif freq == WEEKLY:
            rule["byweekday"] = local.weekday()
    if freq in UNITS:
        shift = relativedelta(**{UNITS[freq]: step * periods})
    else:
        shift = relativedelta(seconds=step * periods * SUB_DAILY_SECONDS.get(freq, 1))
    return rule, (naive + shift).replace(tzinfo=local.tzinfo)


def one_per_period(rule: dict[str, Any], local: datetime) -> bool:
    """Whether every period of the rule holds exactly one occurrence, at DTSTART's place."""
    if any(key.startswith("by") for key in rule):
        return False
    if rule["freq"] == MONTHLY:
        return local.day <= 28
    if rule["freq"] == YEARLY:
        return (local.month, local.day) != (2, 29)
    return True
