"""Working days and working hours on the official Chinese schedule (holidays and 调休 make-up days).

`chinese-calendar` carries the State Council's schedule for the years it ships. For a year it does not
know, we fall back to weekends plus the fixed-date holidays and say so in the decision, rather than
crash or silently pretend.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

# Fixed-date public holidays (the lunar ones — Spring Festival, Qingming, Dragon Boat, Mid-Autumn —
# move every year and cannot be guessed without the official notice).
FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7)}


@lru_cache(maxsize=4096)
def _official(day: date) -> bool | None:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the library has no schedule for that year
        return None


class WorkCalendar:
    def __init__(self, zone: ZoneInfo, start: time, end: time):
        self.zone = zone
        self.start = start
        self.end = end
        self.fallback_years: set[int] = set()

    def is_workday(self, day: date) -> bool:
        official = _official(day)
        if official is not None:
            return official
        self.fallback_years.add(day.year)
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def warnings(self) -> list[str]:
        return [f"calendar: no official holiday schedule for {year}; counted weekends and fixed-date holidays "
                f"only (lunar holidays and 调休 are missing)" for year in sorted(self.fallback_years)]

    # ---- points in time -------------------------------------------------------------------------
    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.zone)

    def next_workday(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def clock_start(self, received: datetime) -> datetime:
        """When the working clock starts: at receipt inside working hours, else the next working hour."""
        local = received.astimezone(self.zone)
        day = local.date()
        if self.is_workday(day):
            if local.timetz().replace(tzinfo=None) < self.start:
                return self._at(day, self.start)
            if local.timetz().replace(tzinfo=None) < self.end:
                return local
        return self._at(self.next_workday(day), self.start)

    def add_working_hours(self, received: datetime, hours: float) -> datetime:
        moment = self.clock_start(received)
        remaining = timedelta(hours=hours)
        while True:
            end_of_day = self._at(moment.date(), self.end)
            if moment + remaining <= end_of_day:
                return moment + remaining
            remaining -= end_of_day - moment
            moment = self._at(self.next_workday(moment.date()), self.start)

    def end_of_working_days(self, received: datetime, days: int) -> datetime:
        """End of the `days`-th working day after the day the clock starts (0: that same day)."""
        day = self.clock_start(received).date()
        for _ in range(days):
            day = self.next_workday(day)
        return self._at(day, self.end)

    def end_of_calendar_days(self, received: datetime, days: int) -> datetime:
        """End of working hours `days` calendar days after receipt; a deadline on a non-working day
        moves to the next working day (as statutory time limits do)."""
        day = received.astimezone(self.zone).date() + timedelta(days=days)
        if not self.is_workday(day):
            day = self.next_workday(day)
        return self._at(day, self.end)
