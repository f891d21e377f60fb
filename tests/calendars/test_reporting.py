"""Which reports a bureau publishes on a day (`calendars.reporting`), on the published 2025-2026 calendars."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from calendars import get_calendar
from calendars.reporting import DAILY, MONTHLY, ReportPeriod, report_id, report_periods

CN = get_calendar("CN")


@pytest.mark.parametrize("day", [
    date(2026, 3, 14),  # Saturday
    date(2026, 3, 15),  # Sunday
    date(2026, 2, 17),  # Spring Festival, a Tuesday
    date(2026, 10, 1),  # National Day, a Thursday
])
def test_no_report_on_a_day_off(day: date) -> None:
    assert report_periods(CN, day) == []


def test_an_ordinary_monday_covers_friday_to_sunday_beside_the_thursday() -> None:
    assert report_periods(CN, date(2026, 3, 16)) == [
        ReportPeriod(DAILY, date(2026, 3, 13), date(2026, 3, 15), date(2026, 3, 12), date(2026, 3, 12)),
    ]


def test_a_makeup_saturday_publishes_and_the_day_after_the_holiday_covers_it() -> None:
    # 2026-02-14 (Sat) is worked for the Spring Festival, 02-15..02-23 are off
    assert report_periods(CN, date(2026, 2, 14)) == [
        ReportPeriod(DAILY, date(2026, 2, 13), date(2026, 2, 13), date(2026, 2, 12), date(2026, 2, 12)),
    ]
    assert report_periods(CN, date(2026, 2, 24)) == [
        ReportPeriod(DAILY, date(2026, 2, 14), date(2026, 2, 23), date(2026, 2, 13), date(2026, 2, 13)),
    ]


def test_the_first_working_day_of_a_month_adds_the_monthly_report() -> None:
    # 2026-01-01..03 are off and Sunday 01-04 is worked: it is January's first working day
    daily, monthly = report_periods(CN, date(2026, 1, 4))
    assert daily == ReportPeriod(DAILY, date(2025, 12, 31), date(2026, 1, 3), date(2025, 12, 30),
                                 date(2025, 12, 30))
    assert monthly == ReportPeriod(MONTHLY, date(2025, 12, 1), date(2025, 12, 31), date(2025, 11, 1),
                                   date(2025, 11, 30))
    assert [p.kind for p in report_periods(CN, date(2026, 1, 5))] == [DAILY]
    # March 2026 starts on a Sunday: Monday 03-02 publishes February beside January
    assert report_periods(CN, date(2026, 3, 2))[1] == ReportPeriod(
        MONTHLY, date(2026, 2, 1), date(2026, 2, 28), date(2026, 1, 1), date(2026, 1, 31))


def test_every_day_of_a_year_is_in_exactly_one_daily_report() -> None:
    covered: list[date] = []
    day = date(2025, 1, 2)
    while day <= date(2026, 12, 31):
        for p in report_periods(CN, day):
            if p.kind == DAILY:
                covered += [p.start + timedelta(days=i) for i in range((p.end - p.start).days + 1)]
        day += timedelta(days=1)
    assert covered == sorted(set(covered))
    assert covered[0] <= date(2025, 1, 2) and covered[-1] >= date(2026, 12, 30)
    assert len(covered) == (covered[-1] - covered[0]).days + 1


def test_the_report_id_is_one_per_bureau_kind_and_day() -> None:
    assert report_id("CN-SX", date(2026, 3, 2), MONTHLY) == "monthly-CN-SX-2026-03-02"
    with pytest.raises(ValueError, match="kind"):
        report_id("CN-SX", date(2026, 3, 2), "weekly")
