"""Property-based tests (hypothesis) for working-day arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from calendars import get_calendar, snapshot

CAL = get_calendar("CN-XJ")
NAT = get_calendar("CN")
# keep results inside the data (2020-01-01 .. 2027-12-31)
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 6, 30))
counts = st.integers(min_value=0, max_value=60)


@given(d=dates, n=counts)
def test_between_inverts_add(d: date, n: int) -> None:
    assert CAL.working_days_between(d, CAL.add_working_days(d, n)) == n
    assert NAT.working_days_between(d, NAT.add_working_days(d, n)) == n


@given(d=dates, n=st.integers(min_value=1, max_value=60))
def test_add_lands_on_working_day_after_d(d: date, n: int) -> None:
    r = CAL.add_working_days(d, n)
    assert r > d and CAL.is_working_day(r)
    assert CAL.working_days_between(d, r - timedelta(days=1)) == n - 1


@given(d=dates.filter(lambda x: x >= date(2020, 6, 1)), n=st.integers(min_value=1, max_value=60))
def test_negative_add_on_working_days(d: date, n: int) -> None:
    if NAT.is_working_day(d):
        assert NAT.working_days_between(d, NAT.add_working_days(d, -n)) == -n
    back = NAT.add_working_days(d, -n)
    assert back < d and NAT.is_working_day(back)
    # going forward n working days from there lands on d (working) or the next working day after d
    assert NAT.add_working_days(back, n) == (d if NAT.is_working_day(d) else NAT.next_working_day(d))


@given(a=dates, b=dates, n=counts)
def test_monotone_in_date(a: date, b: date, n: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert CAL.add_working_days(lo, n) <= CAL.add_working_days(hi, n)


@given(d=dates, n=counts, m=counts)
def test_monotone_in_n(d: date, n: int, m: int) -> None:
    lo, hi = min(n, m), max(n, m)
    assert CAL.add_working_days(d, lo) <= CAL.add_working_days(d, hi)
    if lo < hi:
        assert CAL.add_working_days(d, lo) < CAL.add_working_days(d, hi)


@given(a=dates, b=dates)
def test_between_antisymmetric(a: date, b: date) -> None:
    assert CAL.working_days_between(a, b) == -CAL.working_days_between(b, a)


@given(d=dates, days=st.integers(min_value=0, max_value=90))
def test_natural_deadline_is_working_and_not_early(d: date, days: int) -> None:
    r = NAT.natural_deadline(d, days)
    assert NAT.is_working_day(r) and r >= d + timedelta(days=days)
    # no working day is skipped between d+days and the result
    assert NAT.working_days_between(d + timedelta(days=days), r) <= 1


@settings(max_examples=40, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 1, 1)),
    span=st.integers(0, 400),
    data=st.data(),
)
def test_snapshot_calendar_agrees_inside_range(start: date, span: int, data: st.DataObject) -> None:
    end = min(start + timedelta(days=span), date(2027, 12, 31))
    code = data.draw(st.sampled_from(["CN", "CN-XJ", "CN-XZ", "CN-GX", "CN-SX-0100"]))
    full = get_calendar(code)
    sub = snapshot(code, start, end).calendar()
    d = data.draw(st.dates(min_value=start, max_value=end))
    assert sub.is_working_day(d) == full.is_working_day(d)
    assert sub.is_provisional(d) == full.is_provisional(d)
    e = data.draw(st.dates(min_value=start, max_value=end))
    assert sub.working_days_between(d, e) == full.working_days_between(d, e)
    n = data.draw(st.integers(0, 30))
    r = full.add_working_days(d, n)
    if r <= end:
        assert sub.add_working_days(d, n) == r
