"""Tests for calendars: data vs. reference packages, overlays, counting rules, datetimes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from calendars import (
    CalendarRangeError,
    CalendarSnapshot,
    UnknownJurisdictionError,
    get_calendar,
    snapshot,
)

CST = timezone(timedelta(hours=8))


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# --------------------------------------------------------------------- national data
def test_2025_2026_agree_with_chinese_calendar_and_holidays() -> None:
    import chinese_calendar
    import holidays

    cal = get_calendar("CN")
    ref = holidays.China(years=[2025, 2026])
    bad = [
        d
        for d in days(date(2025, 1, 1), date(2026, 12, 31))
        if not (cal.is_working_day(d) == chinese_calendar.is_workday(d) == ref.is_working_day(d))
    ]
    assert bad == []


def test_2020_2024_agree_with_chinese_calendar() -> None:
    import chinese_calendar

    cal = get_calendar("CN")
    assert [
        d
        for d in days(date(2020, 1, 1), date(2024, 12, 31))
        if cal.is_working_day(d) != chinese_calendar.is_workday(d)
    ] == []


def test_named_national_facts() -> None:
    cal = get_calendar("CN")
    assert [cal.is_working_day(d) for d in days(date(2025, 1, 28), date(2025, 2, 4))] == [False] * 8
    assert cal.is_working_day(date(2025, 1, 26)) and cal.is_working_day(date(2025, 2, 8))
    assert [cal.is_working_day(d) for d in days(date(2025, 10, 1), date(2025, 10, 8))] == [False] * 8
    assert cal.is_working_day(date(2025, 9, 28)) and cal.is_working_day(date(2025, 10, 11))
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.day_kind(date(2026, 2, 14)) == "makeup"
    assert "春节" in (cal.holiday_name(date(2025, 1, 29)) or "")
    assert not cal.is_provisional(date(2026, 12, 31))


def test_yaml_files_carry_notice_and_status() -> None:
    from calendars.loader import year_data

    y25 = year_data("CN", 2025)
    assert y25 is not None and y25.status == "official"
    assert y25.notice["document_number"] == "国办发明电〔2024〕12号"
    y26 = year_data("CN", 2026)
    assert y26 is not None and y26.notice["document_number"] == "国办发明电〔2025〕7号"
    assert y26.notice["date"] == date(2025, 11, 4)
    y27 = year_data("CN", 2027)
    assert y27 is not None and y27.status == "provisional"
    for y in range(2020, 2027):
        yd = year_data("CN", y)
        assert yd is not None and yd.status == "official" and yd.notice["title"]
        assert all(b.name_zh and b.name_en for b in yd.holidays)


def test_runtime_does_not_import_reference_packages() -> None:
    code = (
        "import sys; from datetime import date; import calendars; "
        "c = calendars.get_calendar('CN-XJ'); c.add_working_days(date(2026,9,28),15); "
        "print(sorted(m for m in ('chinese_calendar','holidays','numpy','typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------- overlays
@pytest.mark.parametrize(
    ("code", "off", "working"),
    [
        (
            "CN-XJ",
            [
                "2025-03-31",
                "2025-06-06",
                "2025-06-09",
                "2025-06-10",
                "2026-03-20",
                "2026-05-27",
                "2026-05-29",
            ],
            [
                "2025-03-28",
                "2025-04-01",
                "2025-06-05",
                "2025-06-11",
                "2026-03-23",
                "2026-05-26",
                "2026-06-01",
            ],
        ),
        (
            "CN-XZ",
            [
                "2025-02-27",
                "2025-02-28",
                "2025-03-03",
                "2025-03-04",
                "2026-02-24",
                "2026-02-25",
                "2026-02-26",
            ],
            ["2025-02-26", "2025-03-05", "2026-02-14", "2026-02-27", "2026-02-28"],
        ),
        (
            "CN-GX",
            ["2025-03-31", "2025-04-01", "2026-04-20", "2026-04-21"],
            ["2025-03-28", "2025-04-02", "2026-04-22"],
        ),
        ("CN-NX", ["2025-03-31", "2025-06-06", "2026-05-27"], ["2025-04-02", "2026-05-29"]),
    ],
)
def test_regional_overlays(code: str, off: list[str], working: list[str]) -> None:
    cal = get_calendar(code)
    national = get_calendar("CN")
    for s in off:
        d = date.fromisoformat(s)
        assert not cal.is_working_day(d), (code, d)
        assert national.is_working_day(d), f"{d} should be a national working day"
        assert cal.holiday_name(d)
    for s in working:
        assert cal.is_working_day(date.fromisoformat(s)), (code, s)


def test_tibet_2025_has_no_makeup_days_and_inherits_national() -> None:
    cal = get_calendar("CN-XZ")
    assert not cal.is_working_day(date(2025, 3, 1))  # weekend inside the block stays off
    assert cal.is_working_day(date(2025, 1, 26))  # national makeup day still applies
    assert not cal.is_working_day(date(2025, 10, 3))


def test_overlay_provisional_flags() -> None:
    assert not get_calendar("CN-XJ").is_provisional(date(2025, 6, 6))
    assert get_calendar("CN-GX").is_provisional(date(2026, 4, 20))  # estimated, not transcribed
    assert get_calendar("CN-NX").is_provisional(date(2025, 3, 31))
    assert get_calendar("CN-XJ").is_provisional(date(2024, 5, 1))  # no regional data for 2024
    assert not get_calendar("CN-SX").is_provisional(date(2024, 5, 1))  # no regional holidays there


def test_code_fallback_and_unknown_codes() -> None:
    cn = get_calendar("CN")
    sx = get_calendar("CN-SX")
    assert sx.code == "CN-SX" and sx.version == cn.version
    city = get_calendar("cn-sx-0100")
    assert city.code == "CN-SX-0100" and city.jurisdiction == "CN-SX"
    assert get_calendar("CN-XJ-65").jurisdiction == "CN-XJ"
    assert not get_calendar("CN-XJ-65").is_working_day(date(2025, 3, 31))
    with pytest.raises(UnknownJurisdictionError, match="CN-ZZ"):
        get_calendar("CN-ZZ")
    with pytest.raises(UnknownJurisdictionError):
        get_calendar("US-CA")
    with pytest.raises(UnknownJurisdictionError, match="own holiday"):
        get_calendar("CN-HK")


def test_bureau_closures() -> None:
    base = get_calendar("CN-SX")
    closed = get_calendar("CN-SX", extra_closures=[date(2025, 7, 7), date(2025, 10, 11)])
    assert base.is_working_day(date(2025, 7, 7)) and not closed.is_working_day(date(2025, 7, 7))
    assert not closed.is_working_day(date(2025, 10, 11))  # closure on a makeup Saturday
    assert closed.day_kind(date(2025, 7, 7)) == "closure"
    assert closed.version != base.version
    again = base.with_closures([date(2025, 7, 7), date(2025, 10, 11)], name="搬迁闭馆")
    assert again.version == closed.version
    assert again.holiday_name(date(2025, 7, 7)) == "搬迁闭馆"
    assert base.is_working_day(date(2025, 7, 7))  # the original is unchanged
    with pytest.raises(CalendarRangeError):
        base.with_closures([date(2030, 1, 1)])


# --------------------------------------------------------------------- counting rules
def test_counting_golden_week_2025() -> None:
    cal = get_calendar("CN")
    # received on a holiday: the first counted day is the first working day after it
    assert cal.add_working_days(date(2025, 10, 3), 1) == date(2025, 10, 9)
    assert cal.next_working_day(date(2025, 10, 3)) == date(2025, 10, 9)
    # received on the makeup Saturday 10/11 (a working day) — it still does not count itself
    assert cal.is_working_day(date(2025, 10, 11))
    assert cal.add_working_days(date(2025, 10, 11), 1) == date(2025, 10, 13)
    # received Friday 10/10: the makeup Saturday is the first counted day
    assert cal.add_working_days(date(2025, 10, 10), 1) == date(2025, 10, 11)
    # received Friday 9/26: the makeup Sunday 9/28 counts, then the holiday
    assert cal.add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)
    assert cal.add_working_days(date(2025, 9, 26), 3) == date(2025, 9, 30)
    assert cal.add_working_days(date(2025, 9, 26), 4) == date(2025, 10, 9)
    assert cal.working_days_between(date(2025, 9, 30), date(2025, 10, 9)) == 1
    assert cal.working_days_between(date(2025, 10, 9), date(2025, 9, 30)) == -1
    assert cal.working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0
    assert cal.previous_working_day(date(2025, 10, 9)) == date(2025, 9, 30)
    assert cal.add_working_days(date(2025, 10, 3), 0) == date(2025, 10, 3)


def test_deadline_at_exact_datetimes() -> None:
    cal = get_calendar("CN")
    # received on a holiday, 5 WD: 10/9, 10/10, 10/11 (makeup Sat), 10/13, 10/14
    due = cal.deadline_at(datetime(2025, 10, 3, 10, 0, tzinfo=CST), 5)
    assert due == datetime(2025, 10, 14, 17, 0, tzinfo=CST)
    assert due.utcoffset() == timedelta(hours=8) and str(due.tzinfo) == "Asia/Shanghai"
    # Friday after 17:00: still counted from the next working day (the makeup Sunday 9/28)
    assert cal.deadline_at(datetime(2025, 9, 26, 18, 30, tzinfo=CST), 1) == datetime(
        2025, 9, 28, 17, 0, tzinfo=CST
    )
    assert cal.deadline_at(datetime(2025, 9, 26, 8, 0, tzinfo=CST), 1) == datetime(
        2025, 9, 28, 17, 0, tzinfo=CST
    )
    # Spring Festival 2026: Fri 2/13 evening -> 2/14 (makeup Sat) = WD1; 2/24..2/27 = WD2..5; 2/28 (Sat) = WD6; 3/2 = WD7
    fri = datetime(2026, 2, 13, 19, 0, tzinfo=CST)
    assert cal.deadline_at(fri, 1) == datetime(2026, 2, 14, 17, 0, tzinfo=CST)
    assert cal.deadline_at(fri, 2) == datetime(2026, 2, 24, 17, 0, tzinfo=CST)
    assert cal.deadline_at(fri, 6) == datetime(2026, 2, 28, 17, 0, tzinfo=CST)
    assert cal.deadline_at(fri, 7) == datetime(2026, 3, 2, 17, 0, tzinfo=CST)
    # the local (Shanghai) date of receipt decides: 16:30 UTC on 2/13 is 00:30 on 2/14 in Beijing
    assert cal.deadline_at(datetime(2026, 2, 13, 16, 30, tzinfo=UTC), 1) == datetime(
        2026, 2, 24, 17, 0, tzinfo=CST
    )
    # configurable end of day
    late = get_calendar("CN", close_time=time(17, 30))
    assert late.deadline_at(fri, 1) == datetime(2026, 2, 14, 17, 30, tzinfo=CST)
    assert late.end_of_day(date(2026, 3, 2)).time() == time(17, 30)


def test_naive_datetimes_rejected() -> None:
    cal = get_calendar("CN")
    with pytest.raises(ValueError, match="received"):
        cal.deadline_at(datetime(2025, 10, 3, 10, 0), 5)
    with pytest.raises(ValueError, match="now"):
        cal.working_days_left(datetime(2025, 10, 3), datetime(2025, 10, 9, tzinfo=CST))
    with pytest.raises(ValueError, match="dt"):
        cal.is_service_time(datetime(2025, 10, 9, 10, 0))


def test_national_day_2026_fifteen_working_days() -> None:
    # 9/29, 9/30, [10/1-10/7 off], 10/8, 10/9, 10/10 (makeup Sat), 10/12-10/16, 10/19-10/23
    cal = get_calendar("CN")
    assert cal.add_working_days(date(2026, 9, 28), 15) == date(2026, 10, 23)
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 10, 23)) == 15
    assert not cal.is_provisional_span(date(2026, 9, 28), date(2026, 10, 23))


def test_natural_deadline() -> None:
    cal = get_calendar("CN")
    assert cal.natural_deadline(date(2025, 9, 1), 30) == date(2025, 10, 9)  # 10/1 is a holiday
    assert cal.natural_deadline(date(2025, 9, 12), 16) == date(2025, 9, 28)  # makeup Sunday is a working day
    assert cal.natural_deadline(date(2025, 11, 3), 30) == date(2025, 12, 3)


def test_2027_is_provisional() -> None:
    cal = get_calendar("CN")
    assert cal.is_provisional(date(2027, 3, 1))
    assert 2027 in cal.provisional_notes
    d = cal.add_working_days(date(2026, 12, 20), 15)
    assert d.year == 2027 and cal.is_provisional(d)
    assert not cal.is_working_day(date(2027, 10, 1))
    assert not cal.is_working_day(date(2027, 2, 8))  # 初三 (statutory Spring Festival day)


def test_range_errors() -> None:
    cal = get_calendar("CN")
    with pytest.raises(CalendarRangeError, match=r"2019-12-31.*2020-01-01\.\.2027-12-31"):
        cal.is_working_day(date(2019, 12, 31))
    with pytest.raises(CalendarRangeError, match="2028-01-03"):
        cal.working_days_between(date(2027, 1, 1), date(2028, 1, 3))
    with pytest.raises(CalendarRangeError, match="beyond the loaded data"):
        cal.add_working_days(date(2027, 12, 20), 30)
    with pytest.raises(CalendarRangeError):
        cal.add_working_days(date(2020, 1, 3), -5)
    assert issubclass(CalendarRangeError, ValueError)


# --------------------------------------------------------------------- SLA helpers
def test_working_days_left_and_overdue() -> None:
    cal = get_calendar("CN")
    due = datetime(2025, 10, 14, 17, 0, tzinfo=CST)  # Tuesday
    at = lambda y, m, d, h=10: datetime(y, m, d, h, 0, tzinfo=CST)  # noqa: E731
    assert cal.working_days_left(at(2025, 10, 3), due) == 5
    assert cal.working_days_left(at(2025, 10, 9), due) == 4
    assert cal.working_days_left(at(2025, 10, 13), due) == 1
    assert cal.working_days_left(at(2025, 10, 14, 16), due) == 0  # last working day
    assert cal.working_days_overdue(at(2025, 10, 14, 16), due) == 0
    assert cal.working_days_left(at(2025, 10, 14, 18), due) == -1  # past the close
    assert cal.working_days_left(at(2025, 10, 15), due) == -1  # first working day after
    assert cal.working_days_left(at(2025, 10, 16), due) == -2
    assert cal.working_days_overdue(at(2025, 10, 16), due) == 2
    fri_due = datetime(2025, 10, 17, 17, 0, tzinfo=CST)
    assert cal.working_days_left(at(2025, 10, 18), fri_due) == -1  # weekend after a Friday deadline
    assert cal.working_days_left(at(2025, 10, 20), fri_due) == -1
    assert cal.working_days_left(at(2025, 10, 21), fri_due) == -2
    assert cal.working_days_left(at(2025, 10, 11), datetime(2025, 10, 13, 17, tzinfo=CST)) == 1


def test_service_time() -> None:
    cal = get_calendar("CN")
    assert cal.is_service_time(datetime(2025, 10, 11, 9, 0, tzinfo=CST))  # makeup Saturday
    assert not cal.is_service_time(datetime(2025, 10, 11, 12, 30, tzinfo=CST))  # lunch
    assert not cal.is_service_time(datetime(2025, 10, 11, 17, 0, tzinfo=CST))
    assert cal.is_service_time(datetime(2025, 10, 11, 16, 59, tzinfo=CST))
    assert not cal.is_service_time(datetime(2025, 10, 3, 10, 0, tzinfo=CST))  # holiday
    assert cal.is_service_time(datetime(2025, 10, 13, 1, 30, tzinfo=UTC))  # 9:30 Beijing
    assert cal.end_of_day(date(2025, 10, 13)) == datetime(2025, 10, 13, 17, 0, tzinfo=CST)


# --------------------------------------------------------------------- snapshots
def test_snapshot_round_trip_and_agreement() -> None:
    full = get_calendar("CN-XJ")
    snap = snapshot("CN-XJ", date(2025, 9, 1), date(2026, 6, 30))
    payload = snap.model_dump_json()
    back = CalendarSnapshot.model_validate_json(payload)
    assert back == snap and back.version == snap.version
    assert json.loads(payload)["jurisdiction"] == "CN-XJ"
    sub = back.calendar()
    for d in days(date(2025, 9, 1), date(2026, 6, 30)):
        assert sub.is_working_day(d) == full.is_working_day(d)
    assert sub.add_working_days(date(2025, 9, 26), 10) == full.add_working_days(date(2025, 9, 26), 10)
    with pytest.raises(CalendarRangeError):
        sub.is_working_day(date(2026, 7, 1))
    assert snapshot("CN", date(2025, 1, 1), date(2025, 12, 31)).provisional_years == []
    assert snapshot("CN", date(2026, 6, 1), date(2027, 6, 30)).provisional_years == [2027]


def test_snapshot_version_detects_changes() -> None:
    a = snapshot("CN-SX", date(2025, 1, 1), date(2025, 12, 31))
    b = snapshot("CN-SX", date(2025, 1, 1), date(2025, 12, 31), extra_closures=[date(2025, 7, 7)])
    assert a.version != b.version
    assert b.calendar().day_kind(date(2025, 7, 7)) == "closure"
    assert CalendarSnapshot.model_validate_json(b.model_dump_json()).calendar().version == b.version
    tampered = json.loads(a.model_dump_json())
    tampered["off_weekdays"] = tampered["off_weekdays"][1:]
    with pytest.raises(ValueError, match="version"):
        CalendarSnapshot.model_validate(tampered)


def test_import_and_snapshot_calendar_do_no_io() -> None:
    """Importing calendars opens no data file; snapshot.calendar() opens nothing at all."""
    script = r"""
import sys
from datetime import date
opened = []
armed = [False]
def hook(event, args):
    if event == "open" and armed[0]:
        opened.append(str(args[0]))
armed[0] = True
sys.addaudithook(hook)
import calendars
assert not any("calendars/data" in p for p in opened), opened
armed[0] = False
snap = calendars.snapshot("CN-XJ", date(2025, 1, 1), date(2026, 12, 31))
js = snap.model_dump_json()
calendars.shanghai_tz()
armed[0] = True
opened.clear()
s2 = calendars.CalendarSnapshot.model_validate_json(js)
cal = s2.calendar()
cal.add_working_days(date(2025, 9, 26), 10)
assert opened == [], opened
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_equal_snapshots_share_one_calendar_while_in_use() -> None:
    """Cases that load equal snapshots (each decoded from its own payload) hold one calendar between them; a
    snapshot that differs in anything (here only its code, which the version does not cover) gets its own."""
    import gc
    import weakref

    from calendars import shared_calendar

    snap = snapshot("CN-SX", date(2025, 1, 1), date(2026, 12, 31))
    first = shared_calendar(CalendarSnapshot.model_validate_json(snap.model_dump_json()))
    again = shared_calendar(CalendarSnapshot.model_validate_json(snap.model_dump_json()))
    assert again is first
    assert first.add_working_days(date(2025, 9, 26), 10) == snap.calendar().add_working_days(date(2025, 9, 26), 10)
    county = snapshot("CN-SX-0100", date(2025, 1, 1), date(2026, 12, 31))
    assert county.version == snap.version
    other = shared_calendar(county)
    assert other is not first and other.code == "CN-SX-0100"
    closed = snapshot("CN-SX", date(2025, 1, 1), date(2026, 12, 31), extra_closures=[date(2025, 7, 7)])
    assert shared_calendar(closed).day_kind(date(2025, 7, 7)) == "closure"
    # held weakly: once no case uses it, the calendar is freed and an equal snapshot builds a fresh one
    gone = weakref.ref(first)
    del first, again
    gc.collect()
    assert gone() is None
    assert shared_calendar(snap) is not None
