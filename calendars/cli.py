"""``complaints calendar ...``: a Typer sub-app for working-day look-ups.

Commands: ``is-working-day DATE``, ``add-working-days DATE N``, ``between A B`` and
``show YEAR`` (a month grid), each with ``--region CODE`` (default ``CN``). Results
that depend on provisional data are marked ``(provisional)``.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Callable
from datetime import date
from typing import TypeVar

import typer

from calendars.core import WorkingCalendar
from calendars.loader import get_calendar, jurisdiction_chain, year_data

app = typer.Typer(
    help="Working-day calendar (docs/spec.md §3): statutory holidays, 调休 makeup days, regional overlays."
)

T = TypeVar("T")

RegionOpt = typer.Option("CN", "--region", "-r", help="ISO 3166-2:CN code, e.g. CN, CN-XJ, CN-SX")

MARKS = {"holiday": "*", "makeup": "+", "closure": "#", "weekend": ".", "workday": " "}


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from exc


def _cal(region: str) -> WorkingCalendar:
    try:
        return get_calendar(region)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--region") from exc


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ValueError as exc:  # CalendarRangeError and friends
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _prov(flag: bool) -> str:
    return " (provisional)" if flag else ""


@app.command("is-working-day")
def is_working_day(day: str = typer.Argument(..., help="YYYY-MM-DD"), region: str = RegionOpt) -> None:
    """Say whether DATE is a working day (exit code 0 if it is, 1 if not)."""
    d = _date(day, "DATE")
    cal = _cal(region)
    working = _run(lambda: cal.is_working_day(d))
    name = cal.holiday_name(d)
    kind = {"makeup": "working day (makeup 调休)", "workday": "working day"}.get(
        cal.day_kind(d), "not a working day"
    )
    extra = f" — {name}" if name else ""
    typer.echo(
        f"{d.isoformat()} {_stdcal.day_abbr[d.weekday()]}: {kind}{extra} [{cal.code}]{_prov(cal.is_provisional(d))}"
    )
    raise typer.Exit(0 if working else 1)


@app.command("add-working-days")
def add_working_days(
    day: str = typer.Argument(..., help="YYYY-MM-DD (the day of receipt; never counted itself)"),
    n: int = typer.Argument(..., help="number of working days (negative: before DATE)"),
    region: str = RegionOpt,
) -> None:
    """Print the N-th working day after DATE."""
    d = _date(day, "DATE")
    cal = _cal(region)
    result = _run(lambda: cal.add_working_days(d, n))
    typer.echo(f"{result.isoformat()}{_prov(cal.is_provisional_span(d, result))}")


@app.command("between")
def between(
    a: str = typer.Argument(..., help="YYYY-MM-DD"),
    b: str = typer.Argument(..., help="YYYY-MM-DD"),
    region: str = RegionOpt,
) -> None:
    """Print the number of working days in (A, B]."""
    da, db = _date(a, "A"), _date(b, "B")
    cal = _cal(region)
    count = _run(lambda: cal.working_days_between(da, db))
    typer.echo(f"{count}{_prov(cal.is_provisional_span(da, db))}")


def _month_lines(cal: WorkingCalendar, year: int, month: int) -> list[str]:
    title = f"{year}-{month:02d} {_stdcal.month_name[month]}"
    lines = [f"{title:^28}", "Mo  Tu  We  Th  Fr  Sa  Su  "]
    for week in _stdcal.Calendar(firstweekday=0).monthdayscalendar(year, month):
        cells = []
        for dom in week:
            if dom == 0:
                cells.append("    ")
                continue
            kind = cal.day_kind(date(year, month, dom))
            cells.append(f"{dom:>2}{MARKS[kind]} ")
        lines.append("".join(cells))
    while len(lines) < 8:
        lines.append(" " * 28)
    return lines


@app.command("show")
def show(year: int = typer.Argument(..., help="e.g. 2026"), region: str = RegionOpt) -> None:
    """Print YEAR as a month grid with holidays and makeup working days marked."""
    cal = _cal(region)
    _run(lambda: cal.is_working_day(date(year, 1, 1)))
    typer.echo(f"{cal.code} working-day calendar {year} (data: {' > '.join(jurisdiction_chain(cal.code))})")
    if year in cal.provisional_years:
        typer.echo(f"NOTICE: {year} is PROVISIONAL for {cal.code}: {cal.provisional_notes.get(year, '')}")
    for code in jurisdiction_chain(cal.code):
        yd = year_data(code, year)
        if yd is not None and yd.notice.get("title"):
            num = f" {yd.notice['document_number']}" if yd.notice.get("document_number") else ""
            typer.echo(f"  source ({code}, {yd.status}): {yd.notice['title']}{num}")
    seasons = [x for x in cal.service_seasons if x.start.year <= year <= x.end.year]
    for season in seasons:
        windows = ", ".join(f"{a.isoformat('minutes')}-{b.isoformat('minutes')}" for a, b in season.windows)
        typer.echo(f"  service hours {season.start.isoformat()}..{season.end.isoformat()} {season.name}: {windows}")
    if not seasons:
        windows = ", ".join(f"{a.isoformat('minutes')}-{b.isoformat('minutes')}" for a, b in cal.service_hours)
        typer.echo(f"  service hours: {windows}; deadlines end at {cal.close_time.isoformat('minutes')}")
    typer.echo("")
    for row in range(4):
        blocks = [_month_lines(cal, year, 3 * row + k + 1) for k in range(3)]
        for parts in zip(*blocks, strict=True):
            typer.echo("   ".join(parts).rstrip())
        typer.echo("")
    typer.echo("Legend: N* day off (holiday/调休)   N+ makeup working day on a weekend (调休上班)")
    typer.echo("        N. weekend   N# bureau closure   N  working day")
    typer.echo("")
    seen: list[str] = []
    d = date(year, 1, 1)
    while d.year == year:
        name = cal.holiday_name(d)
        if name and cal.day_kind(d) in ("holiday", "closure") and name not in seen:
            seen.append(name)
            days = [
                x for x in _year_days(year) if cal.holiday_name(x) == name and cal.day_kind(x) != "makeup"
            ]
            typer.echo(f"  * {days[0].isoformat()}..{days[-1].isoformat()} {name}")
        d = date.fromordinal(d.toordinal() + 1)
    for x in _year_days(year):
        if cal.day_kind(x) == "makeup":
            typer.echo(f"  + {x.isoformat()} {_stdcal.day_abbr[x.weekday()]} {cal.holiday_name(x) or ''}")


def _year_days(year: int) -> list[date]:
    start = date(year, 1, 1).toordinal()
    return [date.fromordinal(o) for o in range(start, date(year, 12, 31).toordinal() + 1)]
