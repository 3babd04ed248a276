"""The statutory clocks on the official Chinese working calendar (holidays and 调休 make-up days).

Real dates of 2025: National Day and Mid-Autumn ran together from 2025-10-01 to 2025-10-08, with Sunday
2025-09-28 and Saturday 2025-10-11 as make-up working days. Working hours (default policy): 09:00-17:00,
with no lunch break in the policy.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from triage.cli import app
from triage.policy import PolicyEngine, load_policy
from triage.policy.calendar import WorkCalendar
from triage.schemas import ComplaintIn, Prediction

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_policy()
ENGINE = PolicyEngine(POLICY)
CLOCK_KEYS = ["register_by", "acknowledge_by", "respond_by", "investigate_by", "investigate_extended_by",
              "decide_by"]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def clocks(received: datetime, tier: str = "green", category: str | None = None):
    return ENGINE.clocks(received, tier, category)


def calendar() -> WorkCalendar:
    return WorkCalendar(POLICY.zone, POLICY.working_hours.start, POLICY.working_hours.end)


# --- the calendar itself --------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "working"), [
    pytest.param(date(2025, 9, 30), True, id="tue_before_national_day"),
    pytest.param(date(2025, 10, 1), False, id="national_day"),
    pytest.param(date(2025, 10, 6), False, id="mid_autumn"),
    pytest.param(date(2025, 10, 8), False, id="last_holiday"),
    pytest.param(date(2025, 10, 9), True, id="first_day_back"),
    pytest.param(date(2025, 9, 28), True, id="make_up_sunday"),
    pytest.param(date(2025, 10, 11), True, id="make_up_saturday"),
    pytest.param(date(2025, 10, 12), False, id="ordinary_sunday"),
    pytest.param(date(2025, 10, 18), False, id="ordinary_saturday"),
])
def test_official_working_days(day, working):
    cal = calendar()
    assert cal.is_workday(day) is working
    assert cal.warnings() == []


# --- respond_by / investigate_by -------------------------------------------------------------------------


def test_yellow_across_national_day():
    c = clocks(at(2025, 9, 30, 16), "yellow")
    assert c.respond_by == at(2025, 10, 10, 17)
    assert c.investigate_by == at(2025, 10, 10, 17)
    assert c.investigate_extended_by == at(2025, 10, 11, 17)  # the make-up Saturday counts


def test_red_responds_the_same_working_day():
    c = clocks(at(2025, 9, 30, 16), "red")
    assert c.respond_by == at(2025, 9, 30, 17)
    assert c.investigate_by == at(2025, 10, 9, 17)
    assert c.investigate_extended_by == c.investigate_by


def test_red_received_after_hours_responds_the_next_working_day():
    c = clocks(at(2025, 9, 30, 18), "red")
    assert c.respond_by == at(2025, 10, 9, 17)


def test_green_received_on_a_make_up_saturday_counts_that_day():
    c = clocks(at(2025, 10, 11, 10), "green")
    assert c.respond_by == at(2025, 10, 16, 17)
    assert c.register_by == at(2025, 10, 11, 11)


def test_green_received_on_a_make_up_saturday_after_hours_starts_monday():
    c = clocks(at(2025, 10, 11, 20), "green")
    assert c.respond_by == at(2025, 10, 17, 17)
    assert c.register_by == at(2025, 10, 13, 10)


def test_received_on_an_ordinary_weekend_starts_monday():
    c = clocks(at(2025, 10, 18, 11), "red")  # Saturday
    assert c.respond_by == at(2025, 10, 20, 17)


def test_received_before_opening_starts_at_opening():
    c = clocks(at(2025, 9, 30, 7, 15), "red")
    assert c.register_by == at(2025, 9, 30, 10)
    assert c.respond_by == at(2025, 9, 30, 17)


def test_received_at_closing_time_starts_the_next_working_day():
    c = clocks(at(2025, 9, 29, 17), "red")
    assert c.register_by == at(2025, 9, 30, 10)
    assert c.respond_by == at(2025, 9, 30, 17)


# --- register_by: one working hour ----------------------------------------------------------------------


@pytest.mark.parametrize(("received", "expected"), [
    pytest.param(at(2025, 9, 30, 10), at(2025, 9, 30, 11), id="morning"),
    pytest.param(at(2025, 9, 23, 11, 30), at(2025, 9, 23, 12, 30), id="through_lunch_no_break_in_policy"),
    pytest.param(at(2025, 9, 23, 16), at(2025, 9, 23, 17), id="ends_exactly_at_closing"),
    pytest.param(at(2025, 9, 23, 16, 30), at(2025, 9, 24, 9, 30), id="rolls_over_night"),
    pytest.param(at(2025, 9, 26, 16, 30), at(2025, 9, 28, 9, 30), id="friday_to_make_up_sunday"),
    pytest.param(at(2025, 9, 30, 16, 30), at(2025, 10, 9, 9, 30), id="rolls_over_the_holiday"),
    pytest.param(at(2025, 10, 1, 10), at(2025, 10, 9, 10), id="received_on_national_day"),
    pytest.param(at(2025, 10, 8, 23, 59), at(2025, 10, 9, 10), id="last_holiday_night"),
    pytest.param(at(2025, 9, 23, 22), at(2025, 9, 24, 10), id="received_at_night"),
    pytest.param(at(2025, 9, 28, 10), at(2025, 9, 28, 11), id="make_up_sunday"),
])
def test_register_within_one_working_hour(received, expected):
    assert clocks(received).register_by == expected


def test_register_by_from_another_time_zone_is_the_same_instant():
    utc = datetime(2025, 9, 30, 8, 30, tzinfo=ZoneInfo("UTC"))  # 16:30 in Beijing
    assert clocks(utc).register_by == at(2025, 10, 9, 9, 30)


# --- acknowledge_by: 24 hours, holidays included -------------------------------------------------------


@pytest.mark.parametrize("received", [at(2025, 9, 30, 16), at(2025, 10, 1, 3), at(2025, 10, 12, 23, 59)],
                         ids=["before_holiday", "on_holiday", "sunday_night"])
def test_acknowledge_within_24_hours(received):
    assert clocks(received).acknowledge_by == received + timedelta(hours=24)


# --- decide_by: 15 (complex: 30) calendar days, on a working day -----------------------------------------


@pytest.mark.parametrize(("received", "category", "expected"), [
    pytest.param(at(2025, 9, 30, 16), None, at(2025, 10, 15, 17), id="15_days_on_a_working_day"),
    pytest.param(at(2025, 9, 30, 16), "客户服务", at(2025, 10, 15, 17), id="simple_category"),
    pytest.param(at(2025, 9, 30, 16), "资金安全", at(2025, 10, 30, 17), id="complex_30_days"),
    pytest.param(at(2025, 9, 30, 16), "合同条款", at(2025, 10, 30, 17), id="complex_contract"),
    pytest.param(at(2025, 9, 16, 10), None, at(2025, 10, 9, 17), id="lands_on_national_day"),
    pytest.param(at(2025, 9, 1, 10), "信息安全", at(2025, 10, 9, 17), id="complex_lands_on_national_day"),
    pytest.param(at(2025, 9, 27, 10), None, at(2025, 10, 13, 17), id="lands_on_a_sunday"),
    pytest.param(at(2025, 9, 26, 10), None, at(2025, 10, 11, 17), id="lands_on_make_up_saturday"),
    pytest.param(at(2025, 9, 30, 16), "投诉其他", at(2025, 10, 15, 17), id="unknown_category_is_not_complex"),
])
def test_decide_by(received, category, expected):
    assert clocks(received, "yellow", category).decide_by == expected


def test_decision_carries_the_clocks_of_its_tier_and_category():
    prediction = Prediction(category="资金安全", confidence=0.9, top_categories=[], tier="yellow",
                            tier_confidence=0.9, needs_review=False, review_reasons=[], language="zh",
                            truncated=False, masked_text="想咨询一下业务", model_version="test")
    decision = ENGINE.decide(ComplaintIn(text="想咨询一下业务", received_at=at(2025, 9, 30, 16)), prediction)
    assert decision.tier.label == "yellow"
    assert decision.clocks == clocks(at(2025, 9, 30, 16), "yellow", "资金安全")
    assert decision.clocks.decide_by == at(2025, 10, 30, 17)
    assert decision.warnings == []


def test_naive_received_at_is_local_time():
    prediction = Prediction(category="其他", confidence=0.9, top_categories=[], tier="red", tier_confidence=0.9,
                            needs_review=False, review_reasons=[], language="zh", truncated=False,
                            masked_text="想咨询一下业务", model_version="test")
    decision = ENGINE.decide(ComplaintIn(text="x", received_at=datetime(2025, 9, 30, 16, 30)), prediction)
    assert decision.clocks.register_by == at(2025, 10, 9, 9, 30)


# --- a year the library does not cover -------------------------------------------------------------------


def test_uncovered_year_falls_back_with_a_warning():
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2030, 10, 1))
    cal = calendar()
    assert cal.is_workday(date(2030, 10, 1)) is False  # National Day: a fixed date
    assert cal.is_workday(date(2030, 1, 1)) is False
    assert cal.is_workday(date(2030, 10, 5)) is False  # Saturday
    assert cal.is_workday(date(2030, 10, 6)) is False  # Sunday
    assert cal.is_workday(date(2030, 10, 9)) is True  # a Wednesday
    warnings = cal.warnings()
    assert len(warnings) == 1
    assert "2030" in warnings[0]


def test_uncovered_year_clocks_skip_weekends_and_national_day():
    cal = calendar()
    c = ENGINE.clocks(at(2030, 9, 30, 16), "red", None, cal)  # Monday before National Day
    assert c.respond_by == at(2030, 9, 30, 17)
    assert c.investigate_by == at(2030, 10, 8, 17)  # 10-01..10-07 fixed holidays
    assert any("2030" in w for w in cal.warnings())


def test_uncovered_year_warning_reaches_the_decision():
    prediction = Prediction(category="其他", confidence=0.9, top_categories=[], tier="green", tier_confidence=0.9,
                            needs_review=False, review_reasons=[], language="zh", truncated=False,
                            masked_text="想咨询一下业务", model_version="test")
    # A received time years ahead is refused at intake; the engine is given one directly.
    decision = ENGINE.decide(ComplaintIn.model_construct(text="x", received_at=at(2030, 10, 1, 10)), prediction)
    assert any("2030" in w for w in decision.warnings)
    assert decision.clocks.register_by == at(2030, 10, 8, 10)


# --- `triage policy deadlines` -----------------------------------------------------------------------------


def deadlines(*args: str):
    return CliRunner().invoke(app, ["policy", "deadlines", *args])


def test_deadlines_command_prints_iso_clocks_in_beijing_time():
    result = deadlines("--received-at", "2025-09-30T16:00:00+08:00", "--tier", "yellow")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"register_by", "acknowledge_by", "respond_by", "investigate_by", "decide_by"} <= set(out)
    for key in CLOCK_KEYS:
        assert out[key].endswith("+08:00"), (key, out[key])
        assert datetime.fromisoformat(out[key]).utcoffset() == timedelta(hours=8)
    assert out["register_by"] == "2025-09-30T17:00:00+08:00"
    assert out["acknowledge_by"] == "2025-10-01T16:00:00+08:00"
    assert out["respond_by"] == "2025-10-10T17:00:00+08:00"
    assert out["investigate_by"] == "2025-10-10T17:00:00+08:00"
    assert out["decide_by"] == "2025-10-15T17:00:00+08:00"
    assert "warnings" not in out


def test_deadlines_command_converts_other_offsets():
    result = deadlines("--received-at", "2025-09-30T08:30:00+00:00", "--tier", "green")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["register_by"] == "2025-10-09T09:30:00+08:00"
    assert out["acknowledge_by"] == "2025-10-01T16:30:00+08:00"


def test_deadlines_command_complex_category():
    result = deadlines("--received-at", "2025-09-30T16:00:00+08:00", "--tier", "yellow", "--category", "资金安全")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decide_by"] == "2025-10-30T17:00:00+08:00"


def test_deadlines_command_warns_about_an_uncovered_year():
    result = deadlines("--received-at", "2030-09-30T16:00:00+08:00", "--tier", "red")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["warnings"] and "2030" in out["warnings"][0]
    assert out["investigate_by"] == "2030-10-08T17:00:00+08:00"


def test_deadlines_command_refuses_an_unknown_tier():
    result = deadlines("--received-at", "2025-09-30T16:00:00+08:00", "--tier", "purple")
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "--tier" in result.stderr and "purple" in result.stderr
    assert result.stdout == ""


def test_deadlines_command_refuses_a_bad_date():
    result = deadlines("--received-at", "yesterday", "--tier", "red")
    assert result.exit_code != 0
    assert "received-at" in result.output


# --- properties over three years --------------------------------------------------------------------------

FALLBACK_FIXED_HOLIDAYS = {(1, 1), (10, 1)}  # the ones any schedule has; checked only where the library has none


def official_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # 2027: decide_by of a complaint from late 2026
        return day.weekday() < 5 and (day.month, day.day) not in FALLBACK_FIXED_HOLIDAYS


RECEIVED = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31, 23, 59, 59),
                        timezones=st.just(TZ))
CATEGORIES = st.sampled_from([None, "客户服务", "资金安全"])
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(received=RECEIVED, category=CATEGORIES)
def test_every_clock_is_later_than_receipt(received, category):
    for tier in ("red", "yellow", "green"):
        c = clocks(received, tier, category)
        for key in CLOCK_KEYS:
            assert getattr(c, key) > received, (tier, key)
        assert c.investigate_extended_by >= c.investigate_by
        # the day of receipt does not count: the 15th day after it, at the earliest
        assert c.decide_by.astimezone(TZ).date() >= received.date() + timedelta(days=15)


@PROPERTY_SETTINGS
@given(received=RECEIVED)
def test_a_lower_tier_is_never_due_earlier(received):
    red, yellow, green = (clocks(received, tier) for tier in ("red", "yellow", "green"))
    for key in ("respond_by", "investigate_by"):
        assert getattr(yellow, key) >= getattr(red, key), key
        assert getattr(green, key) >= getattr(yellow, key), key
    assert red.register_by == yellow.register_by == green.register_by
    assert red.decide_by == yellow.decide_by == green.decide_by


@PROPERTY_SETTINGS
@given(received=RECEIVED, category=CATEGORIES)
def test_deadlines_fall_on_working_days_within_working_hours(received, category):
    for tier in ("red", "yellow", "green"):
        c = clocks(received, tier, category)
        for key in ("register_by", "respond_by", "investigate_by", "investigate_extended_by", "decide_by"):
            local = getattr(c, key).astimezone(TZ)
            assert official_workday(local.date()), (tier, key, local)
            assert time(9) <= local.timetz().replace(tzinfo=None) <= time(17), (tier, key, local)


@PROPERTY_SETTINGS
@given(received=RECEIVED.map(lambda d: d.replace(second=0, microsecond=0)))
def test_register_by_is_exactly_one_working_hour_of_working_time(received):
    """Count the working minutes between receipt and register_by on the official calendar: 60."""
    register_by = clocks(received).register_by
    minutes, moment = 0, received
    while moment < register_by:
        if official_workday(moment.date()) and time(9) <= moment.timetz().replace(tzinfo=None) < time(17):
            minutes += 1
        moment += timedelta(minutes=1)
    assert minutes == 60, (received, register_by)
