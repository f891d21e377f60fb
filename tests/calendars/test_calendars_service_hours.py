"""Service hours as calendar data: Xinjiang's summer and winter hours (from the regional notice) set where its
deadlines end, a bureau's close time is range-checked, and a regional year awaiting verification is provisional."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import asyncpg
import pytest

from activities import bureau_calendar as bc
from calendars import (
    CalendarSnapshot,
    ServiceHoursError,
    ServiceSeason,
    WorkingCalendar,
    get_calendar,
    snapshot,
)

CST = timezone(timedelta(hours=8))


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def test_xinjiang_deadlines_end_at_the_season_close() -> None:
    xj = get_calendar("CN-XJ")
    assert xj.end_of_day(date(2026, 4, 30)) == at(2026, 4, 30, 19, 30)  # winter, last day
    assert xj.end_of_day(date(2026, 5, 6)) == at(2026, 5, 6, 20)  # summer, first working day after Labour Day
    assert xj.end_of_day(date(2026, 9, 30)) == at(2026, 9, 30, 20)
    assert xj.end_of_day(date(2026, 10, 8)) == at(2026, 10, 8, 19, 30)
    # received Fri 9/25: WD1 Mon 9/28, WD2 9/29, WD3 9/30 (summer), WD4 Thu 10/8 after National Day (winter)
    received = at(2026, 9, 25, 11)
    assert xj.deadline_at(received, 3) == at(2026, 9, 30, 20)
    assert xj.deadline_at(received, 4) == at(2026, 10, 8, 19, 30)
    # the rest of the country keeps 17:00
    assert get_calendar("CN-SX").deadline_at(received, 4) == at(2026, 10, 8, 17)


def test_xinjiang_staffed_windows_follow_the_season() -> None:
    xj = get_calendar("CN-XJ")
    summer, winter = date(2026, 7, 1), date(2026, 12, 1)  # a Wednesday and a Tuesday
    assert xj.service_hours_on(summer) == ((time(10), time(14)), (time(16), time(20)))
    assert xj.service_hours_on(winter) == ((time(10), time(14)), (time(15, 30), time(19, 30)))
    assert [xj.is_service_time(at(2026, 7, 1, h, m)) for h, m in ((9, 59), (10, 0), (14, 0), (15, 59), (19, 59), (20, 0))] == [
        False, True, False, False, True, False,
    ]
    assert [xj.is_service_time(at(2026, 12, 1, h, m)) for h, m in ((15, 29), (15, 30), (19, 29), (19, 30))] == [
        False, True, True, False,
    ]
    # outside the years with data (no notice transcribed for 2024): the default hours
    assert xj.end_of_day(date(2024, 7, 1)) == at(2024, 7, 1, 17)


def test_a_bureau_close_replaces_the_seasons() -> None:
    own = get_calendar("CN-XJ", close_time=time(18, 0))
    assert own.end_of_day(date(2026, 7, 1)) == at(2026, 7, 1, 18)
    assert own.end_of_day(date(2026, 12, 1)) == at(2026, 12, 1, 18)
    assert get_calendar("CN-XJ").with_close_time(time(18, 30)).end_of_day(date(2026, 7, 1)) == at(2026, 7, 1, 18, 30)


def test_snapshots_carry_the_seasons() -> None:
    full = get_calendar("CN-XJ")
    snap = snapshot("CN-XJ", date(2026, 4, 1), date(2026, 10, 31))
    back = CalendarSnapshot.model_validate_json(snap.model_dump_json())
    assert back == snap and back.version == full.restricted(date(2026, 4, 1), date(2026, 10, 31)).version
    cal = back.calendar()
    for d in (date(2026, 4, 30), date(2026, 5, 6), date(2026, 9, 30), date(2026, 10, 8)):
        assert cal.end_of_day(d) == full.end_of_day(d)
    # a snapshot without seasons keeps the version it had before seasons existed (recorded histories hold it)
    assert snapshot("CN-SX", date(2026, 4, 1), date(2026, 10, 31)).service_seasons == []
    legacy = snapshot("CN-SX", date(2026, 4, 1), date(2026, 10, 31)).model_dump(mode="json")
    del legacy["service_seasons"]
    assert CalendarSnapshot.model_validate(legacy).version == legacy["version"]


def test_a_close_time_out_of_range_is_refused() -> None:
    with pytest.raises(ServiceHoursError, match=r"close_time: 03:00 is not between 12:00 and 22:00"):
        get_calendar("CN-SX", close_time=time(3, 0))
    with pytest.raises(ServiceHoursError, match="03:00"):
        ServiceSeason(date(2026, 1, 1), date(2026, 1, 31), ((time(1, 0), time(3, 0)),), "夜班")
    with pytest.raises(ServiceHoursError, match="overlap"):
        ServiceSeason(date(2026, 1, 1), date(2026, 1, 31), ((time(10), time(14)), (time(13), time(18))))
    with pytest.raises(ServiceHoursError, match="overlap"):
        WorkingCalendar(
            "CN-XX",
            date(2026, 1, 1),
            date(2026, 12, 31),
            service_seasons=[
                ServiceSeason(date(2026, 1, 1), date(2026, 5, 31), ((time(10), time(19)),)),
                ServiceSeason(date(2026, 5, 1), date(2026, 9, 30), ((time(10), time(20)),)),
            ],
        )
    with pytest.raises(bc.BureauCalendarError, match=r"^close_time: 03:00 is not between 12:00 and 22:00"):
        bc.parse_close_time("03:00")
    assert bc.parse_close_time("19:30") == time(19, 30)


async def test_a_bureau_close_out_of_range_is_not_recorded(pg_pool: asyncpg.Pool) -> None:
    code = "CN-XJ-0199"
    with pytest.raises(bc.BureauCalendarError, match="close_time: 03:00"):
        await bc.set_close_time(pg_pool, code, time(3, 0), note="夜班", recorded_by="adm-xj")
    assert await pg_pool.fetchval("SELECT count(*) FROM bureau_service_hours WHERE jurisdiction = $1", code) == 0


def test_a_regional_year_to_reverify_is_provisional() -> None:
    xj = get_calendar("CN-XJ")
    assert xj.is_provisional(date(2026, 5, 27))
    assert "until verified against the published notice" in xj.provisional_notes[2026]
    assert not xj.is_provisional(date(2025, 6, 6))  # 2025 was transcribed from the notice itself
    assert not get_calendar("CN-SX").is_provisional(date(2026, 5, 27))
    # a deadline there is marked provisional like one in a year without a notice
    assert snapshot("CN-XJ", date(2026, 1, 1), date(2026, 12, 31)).provisional_years == [2026]
