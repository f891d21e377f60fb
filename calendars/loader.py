"""Lazy loading of the YAML calendar data shipped in ``calendars/data``.

Layout: ``data/jurisdictions.yaml`` (codes, names, parents) and one file per
jurisdiction per year, ``data/<CODE>/<YEAR>.yaml``. Nothing is read at import time:
the first call to :func:`get_calendar` loads and caches everything. The YAML files
are the source of truth at runtime; ``calendars/tools/import_official.py`` generated
(and cross-checks) the national ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import lru_cache
from typing import Any

from calendars.core import DEFAULT_CLOSE_TIME, ServiceHoursError, ServiceSeason, WorkingCalendar

__all__ = [
    "UnknownJurisdictionError",
    "CalendarDataError",
    "HolidayBlock",
    "MakeupDay",
    "YearData",
    "get_calendar",
    "resolve_code",
    "known_jurisdictions",
    "year_data",
    "jurisdiction_chain",
    "reload",
]

DATA_START_YEAR = 2020


class UnknownJurisdictionError(ValueError):
    """The code is not a known (mainland) ISO 3166-2:CN jurisdiction."""


class CalendarDataError(RuntimeError):
    """A calendar data file is malformed or inconsistent."""


@dataclass(frozen=True)
class HolidayBlock:
    """A run of consecutive days off (放假调休) named after its festival."""

    name_zh: str
    name_en: str
    start: date
    end: date

    def days(self) -> list[date]:
        """Every date of the block, weekends included."""
        n = (self.end - self.start).days
        return [self.start + timedelta(days=i) for i in range(n + 1)]


@dataclass(frozen=True)
class MakeupDay:
    """A weekend day that is a working day (调休上班)."""

    day: date
    for_zh: str
    for_en: str


@dataclass(frozen=True)
class YearData:
    """One ``data/<CODE>/<YEAR>.yaml`` file, parsed."""

    code: str
    year: int
    status: str
    notice: dict[str, Any]
    holidays: tuple[HolidayBlock, ...]
    makeup_workdays: tuple[MakeupDay, ...]
    note: str | None = None
    service_seasons: tuple[ServiceSeason, ...] = ()

    @property
    def awaits_verification(self) -> bool:
        """The file says its transcription must be re-verified against the published notice: until someone
        does (and edits the note), the year is provisional like a year without a notice."""
        return "re-verify" in (self.note or "").lower()


@dataclass
class _Dataset:
    jurisdictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    years: dict[str, dict[int, YearData]] = field(default_factory=dict)


_lock = threading.Lock()


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarDataError(f"{where}: not a date: {value!r}") from exc


def _as_window(value: Any, where: str) -> tuple[time, time]:
    try:
        a, b = str(value).split("-")
        return time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
    except ValueError as exc:
        raise CalendarDataError(f"{where}: not a service window like 10:00-14:00: {value!r}") from exc


def _parse_seasons(raw: list[dict[str, Any]], year: int, where: str) -> tuple[ServiceSeason, ...]:
    seasons = []
    for item in raw:
        start = _as_date(item.get("start"), where)
        end = _as_date(item.get("end"), where)
        if start.year != year or end.year != year:
            raise CalendarDataError(f"{where}: service season {start}..{end} must lie in {year}")
        windows = tuple(_as_window(w, where) for w in item.get("windows") or [])
        try:
            seasons.append(ServiceSeason(start, end, windows, str(item.get("name_zh", ""))))
        except ServiceHoursError as exc:
            raise CalendarDataError(f"{where}: {exc}") from exc
    return tuple(seasons)


def _parse_year(code: str, raw: dict[str, Any], where: str) -> YearData:
    try:
        year = int(raw["year"])
        status = str(raw["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalendarDataError(f"{where}: missing year/status") from exc
    if raw.get("jurisdiction") != code:
        raise CalendarDataError(
            f"{where}: jurisdiction {raw.get('jurisdiction')!r} does not match folder {code!r}"
        )
    if status not in ("official", "provisional"):
        raise CalendarDataError(f"{where}: status must be official|provisional, got {status!r}")
    blocks = []
    for h in raw.get("holidays") or []:
        start = _as_date(h["start"], where)
        end = _as_date(h.get("end", h["start"]), where)
        if end < start or start.year != year or end.year not in (year, year + 1):
            raise CalendarDataError(f"{where}: bad holiday range {start}..{end}")
        blocks.append(HolidayBlock(str(h["name_zh"]), str(h["name_en"]), start, end))
    makeups = []
    for m in raw.get("makeup_workdays") or []:
        d = _as_date(m["date"], where)
        if d.weekday() < 5:
            raise CalendarDataError(f"{where}: makeup working day {d} is not a weekend day")
        makeups.append(MakeupDay(d, str(m.get("for_zh", "")), str(m.get("for_en", ""))))
    off = {d for b in blocks for d in b.days()}
    clash = off & {m.day for m in makeups}
    if clash:
        raise CalendarDataError(f"{where}: dates both off and makeup: {sorted(clash)}")
    return YearData(
        code,
        year,
        status,
        dict(raw.get("notice") or {}),
        tuple(blocks),
        tuple(makeups),
        raw.get("note"),
        _parse_seasons(raw.get("service_hours") or [], year, where),
    )


@lru_cache(maxsize=1)
def _dataset() -> _Dataset:
    import importlib.resources as resources

    import yaml

    with _lock:
        root = resources.files("calendars").joinpath("data")
        ds = _Dataset()
        jur = yaml.safe_load(root.joinpath("jurisdictions.yaml").read_text(encoding="utf-8"))
        ds.jurisdictions = {str(k).upper(): dict(v or {}) for k, v in jur["jurisdictions"].items()}
        for folder in root.iterdir():
            if not folder.is_dir() or folder.name.startswith(("_", ".")):
                continue
            code = folder.name.upper()
            if code not in ds.jurisdictions:
                raise CalendarDataError(f"data folder {folder.name} is not declared in jurisdictions.yaml")
            for f in folder.iterdir():
                if not f.name.endswith(".yaml"):
                    continue
                where = f"data/{folder.name}/{f.name}"
                yd = _parse_year(code, yaml.safe_load(f.read_text(encoding="utf-8")), where)
                if f.name != f"{yd.year}.yaml":
                    raise CalendarDataError(f"{where}: file name does not match year {yd.year}")
                ds.years.setdefault(code, {})[yd.year] = yd
        national = ds.years.get("CN", {})
        years = sorted(national)
        if not years or years[0] != DATA_START_YEAR or years != list(range(years[0], years[-1] + 1)):
            raise CalendarDataError(
                f"national data must cover consecutive years from {DATA_START_YEAR}: {years}"
            )
        return ds


def reload() -> None:
    """Forget cached data and calendars (call after new YAML files are installed)."""
    _dataset.cache_clear()
    _base_calendar.cache_clear()
    _derived_calendar.cache_clear()


def known_jurisdictions() -> dict[str, str]:
    """Registered codes mapped to their Chinese names."""
    return {k: str(v.get("name_zh", k)) for k, v in _dataset().jurisdictions.items()}


def resolve_code(code: str) -> str:
    """The registered jurisdiction whose data applies to ``code``.

    ``CN-SX`` resolves to itself (no regional data: national calendar); a sub-code
    such as ``CN-SX-0100`` falls back to its province. Unknown province codes raise
    :class:`UnknownJurisdictionError` (a typo must not silently drop regional holidays).
    """
    norm = code.strip().upper().replace("_", "-")
    reg = _dataset().jurisdictions
    parts = norm.split("-")
    if parts[0] != "CN":
        raise UnknownJurisdictionError(
            f"unknown jurisdiction {code!r}: only mainland China (CN, CN-xx) is supported"
        )
    if len(parts) >= 2:
        prov = "-".join(parts[:2])
        if prov not in reg:
            raise UnknownJurisdictionError(
                f"unknown province code {prov!r} in {code!r}; known: {', '.join(sorted(reg))}"
            )
        if reg[prov].get("unsupported"):
            raise UnknownJurisdictionError(
                f"{prov} ({reg[prov].get('name_zh')}) has its own holiday system: {reg[prov]['unsupported']}"
            )
    for i in range(len(parts), 0, -1):
        cand = "-".join(parts[:i])
        if cand in reg:
            return cand
    raise UnknownJurisdictionError(f"unknown jurisdiction {code!r}")  # pragma: no cover


def jurisdiction_chain(code: str) -> list[str]:
    """``["CN", ..., resolved]`` — the overlays applied, parent first."""
    reg = _dataset().jurisdictions
    cur: str | None = resolve_code(code)
    chain: list[str] = []
    while cur:
        chain.append(cur)
        cur = reg[cur].get("parent")
        if cur is not None and cur not in reg:
            raise CalendarDataError(f"parent {cur!r} is not registered")
        if len(chain) > 10:
            raise CalendarDataError("jurisdiction parent cycle")
    return list(reversed(chain))


def year_data(code: str, year: int) -> YearData | None:
    """Parsed data file of exactly ``code`` for ``year`` (no inheritance), or None."""
    return _dataset().years.get(code.upper(), {}).get(year)


def _label(block: HolidayBlock) -> str:
    return f"{block.name_zh} {block.name_en}"


@lru_cache(maxsize=64)
def _base_calendar(resolved: str) -> WorkingCalendar:
    ds = _dataset()
    chain = jurisdiction_chain(resolved)
    national_years = sorted(ds.years["CN"])
    start = date(national_years[0], 1, 1)
    end = date(national_years[-1], 12, 31)
    off: set[date] = set()
    work: set[date] = set()
    names: dict[date, str] = {}
    provisional: dict[int, str] = {}
    seasons: dict[int, tuple[ServiceSeason, ...]] = {}
    for level in chain:
        years = ds.years.get(level, {})
        expects_data = level == "CN" or bool(ds.jurisdictions[level].get("regional_holidays"))
        for y in national_years:
            yd = years.get(y)
            if yd is None:
                if expects_data:
                    provisional.setdefault(y, f"no {level} data for {y}: regional holidays unknown")
                continue
            if yd.status == "provisional":
                provisional.setdefault(
                    y, f"{level} {y} is provisional: {yd.note or 'no official notice yet'}"
                )
            elif yd.awaits_verification:
                provisional.setdefault(
                    y, f"{level} {y} is provisional until verified against the published notice: {yd.note}"
                )
            if yd.service_seasons:
                seasons[y] = yd.service_seasons  # the most specific level's hours win
            for b in yd.holidays:
                for d in b.days():
                    if d > end:
                        continue
                    off.add(d)
                    work.discard(d)
                    names[d] = _label(b)
            for m in yd.makeup_workdays:
                work.add(m.day)
                off.discard(m.day)
                names[m.day] = f"{m.for_zh}调休上班 makeup working day ({m.for_en})".strip()
    return WorkingCalendar(
        resolved,
        start,
        end,
        off_weekdays={d for d in off if d.weekday() < 5},
        working_weekends=work,
        provisional_years=provisional.keys(),
        provisional_notes=provisional,
        service_seasons=[s for y in sorted(seasons) for s in seasons[y]],
        names=names,
        jurisdiction=resolved,
    )


def get_calendar(
    code: str = "CN",
    extra_closures: Iterable[date] | None = None,
    *,
    close_time: time | None = None,
    extra_openings: Iterable[date] | None = None,
) -> WorkingCalendar:
    """The working calendar for ``code`` (ISO 3166-2:CN, e.g. ``CN``, ``CN-XJ``, ``CN-SX-0100``).

    Loads the YAML data on first use (cached). ``extra_closures`` adds a bureau's
    own closure days, ``extra_openings`` its special service days (off days it works);
    ``close_time`` overrides the end of the service day on every day (17:00, or the published season's close).
    """
    norm = code.strip().upper().replace("_", "-")
    closures = tuple(sorted(set(extra_closures or ())))
    openings = tuple(sorted(set(extra_openings or ())))
    if set(closures) & set(openings):
        both = ", ".join(d.isoformat() for d in sorted(set(closures) & set(openings)))
        raise ValueError(f"a day cannot be both a closure and an opening: {both}")
    return _derived_calendar(norm, closures, openings, close_time)


@lru_cache(maxsize=256)
def _derived_calendar(
    norm: str, closures: tuple[date, ...], openings: tuple[date, ...], close_time: time | None
) -> WorkingCalendar:
    resolved = resolve_code(norm)
    cal = _base_calendar(resolved)
    if norm != resolved or closures or close_time is not None:
        cal = WorkingCalendar(
            norm,
            cal.start,
            cal.end,
            off_weekdays=cal.off_weekdays,
            working_weekends=cal.working_weekends,
            provisional_years=cal.provisional_years,
            provisional_notes=cal.provisional_notes,
            close_time=close_time or DEFAULT_CLOSE_TIME,
            service_hours=cal.service_hours,
            # a bureau's own close applies on every day, in place of the published seasons
            service_seasons=cal.service_seasons if close_time is None else (),
            names=cal._names,  # noqa: SLF001 - same package
            closures=closures,
            jurisdiction=resolved,
        )
    if openings:
        cal = cal.with_openings(openings)
    return cal
