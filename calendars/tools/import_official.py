"""Generate / cross-check the national calendar YAML files (``calendars/data/CN``).

Usage::

    python -m calendars.tools.import_official --write   # (re)generate CN/2020..2027.yaml
    python -m calendars.tools.import_official --check   # compare the YAML with the PyPI packages

Official years (2020-2026) are built from ``chinese_calendar`` (which transcribes
the State Council notices) and every day is cross-checked against ``holidays``;
2027 (no notice published yet) is generated as ``status: provisional`` from the
statutory rules of 《全国年节及纪念日放假办法》 (国务院令第795号) as estimated by
``holidays``: statutory days plus weekday 补休 when one falls on a weekend, and no
makeup working days. Only this tool imports those packages; the runtime reads the
YAML files alone.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
OFFICIAL_YEARS = range(2020, 2027)
PROVISIONAL_YEARS = (2027,)

NOTICES: dict[int, dict[str, Any]] = {
    2020: {
        "title": "国务院办公厅关于2020年部分节假日安排的通知",
        "document_number": "国办发明电〔2019〕16号",
        "date": date(2019, 11, 21),
        "issuer": "国务院办公厅",
    },
    2021: {
        "title": "国务院办公厅关于2021年部分节假日安排的通知",
        "document_number": "国办发明电〔2020〕27号",
        "date": date(2020, 11, 25),
        "issuer": "国务院办公厅",
    },
    2022: {
        "title": "国务院办公厅关于2022年部分节假日安排的通知",
        "document_number": "国办发明电〔2021〕11号",
        "date": date(2021, 10, 25),
        "issuer": "国务院办公厅",
    },
    2023: {
        "title": "国务院办公厅关于2023年部分节假日安排的通知",
        "document_number": "国办发明电〔2022〕16号",
        "date": date(2022, 12, 8),
        "issuer": "国务院办公厅",
    },
    2024: {
        "title": "国务院办公厅关于2024年部分节假日安排的通知",
        "document_number": "国办发明电〔2023〕7号",
        "date": date(2023, 10, 25),
        "issuer": "国务院办公厅",
    },
    2025: {
        "title": "国务院办公厅关于2025年部分节假日安排的通知",
        "document_number": "国办发明电〔2024〕12号",
        "date": date(2024, 11, 12),
        "issuer": "国务院办公厅",
    },
    2026: {
        "title": "国务院办公厅关于2026年部分节假日安排的通知",
        "document_number": "国办发明电〔2025〕7号",
        "date": date(2025, 11, 4),
        "issuer": "国务院办公厅",
    },
}

COVID_EXTENSION = {
    "title": "国务院办公厅关于延长2020年春节假期的通知",
    "document_number": "国办发明电〔2020〕1号",
    "date": date(2020, 1, 26),
    "issuer": "国务院办公厅",
}

# canonical key -> (zh, en); matched against names used by chinese_calendar / holidays
FESTIVALS: dict[str, tuple[str, str]] = {
    "newyear": ("元旦", "New Year's Day"),
    "spring": ("春节", "Spring Festival"),
    "qingming": ("清明节", "Qingming Festival (Tomb-sweeping Day)"),
    "labour": ("劳动节", "Labour Day"),
    "dragon": ("端午节", "Dragon Boat Festival"),
    "midautumn": ("中秋节", "Mid-Autumn Festival"),
    "national": ("国庆节", "National Day"),
}


def _key(name: str) -> str | None:
    n = name.lower()
    for key, needles in (
        ("newyear", ("new year's day",)),
        ("spring", ("spring festival", "new year's eve", "chinese new year")),
        ("qingming", ("tomb",)),
        ("labour", ("labour", "labor")),
        ("dragon", ("dragon boat",)),
        ("midautumn", ("mid-autumn",)),
        ("national", ("national day",)),
    ):
        if any(s in n for s in needles):
            return key
    return None


def _runs(days: list[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _block(run: list[date], keys: list[str], **extra: Any) -> dict[str, Any]:
    zh = "、".join(FESTIVALS[k][0] for k in keys)
    en = " and ".join(FESTIVALS[k][1] for k in keys)
    return {"name_zh": zh, "name_en": en, "start": run[0], "end": run[-1], **extra}


def build_official(year: int) -> dict[str, Any]:
    """YAML document for an official year from chinese_calendar, labelled with holidays' names."""
    from chinese_calendar import constants as cc
    from holidays import country_holidays

    hol = country_holidays("CN", years=year)
    off = [d for d in cc.holidays if d.year == year]
    blocks = []
    for run in _runs(off):
        keys: list[str] = []
        for d in run:
            for name in (cc.holidays[d], hol.get(d) or ""):
                k = _key(str(name))
                if k and k not in keys:
                    keys.append(k)
        keys.sort(key=lambda k: (k != "national", list(FESTIVALS).index(k)))  # 国庆节、中秋节
        if year == 2020 and run[0] == date(2020, 1, 24):
            split = run.index(date(2020, 1, 31))
            blocks.append(_block(run[:split], keys))
            blocks.append(
                {
                    "name_zh": "春节假期延长（新冠肺炎疫情防控）",
                    "name_en": "Spring Festival extension (COVID-19)",
                    "start": run[split],
                    "end": run[-1],
                    "notice": COVID_EXTENSION,
                }
            )
            continue
        blocks.append(_block(run, keys))
    makeups = []
    for d in sorted(x for x in cc.workdays if x.year == year):
        k = _key(str(cc.workdays[d]))
        zh, en = FESTIVALS[k] if k else ("", "")
        makeups.append({"date": d, "for_zh": zh, "for_en": en})
    return {
        "jurisdiction": "CN",
        "year": year,
        "status": "official",
        "notice": NOTICES[year],
        "holidays": blocks,
        "makeup_workdays": makeups,
    }


def build_provisional(year: int) -> dict[str, Any]:
    """Statutory-rule estimate for a year without a State Council notice."""
    from holidays import country_holidays

    hol = country_holidays("CN", years=year)
    blocks = []
    for run in _runs(list(hol)):
        keys: list[str] = []
        for d in run:
            k = _key(str(hol[d]))
            if k and k not in keys:
                keys.append(k)
        blocks.append(_block(run, keys))
    return {
        "jurisdiction": "CN",
        "year": year,
        "status": "provisional",
        "note": (
            f"No State Council notice for {year} yet. Generated from the statutory days of "
            "《全国年节及纪念日放假办法》(国务院令第795号) with weekday 补休 for statutory days on "
            "weekends; the real notice will add 调休 blocks and makeup working days."
        ),
        "notice": {
            "title": "《全国年节及纪念日放假办法》（2024年11月10日国务院令第795号修订）",
            "document_number": "国务院令第795号",
            "date": date(2024, 11, 10),
            "issuer": "国务院",
        },
        "holidays": blocks,
        "makeup_workdays": [],
    }


def _dump(doc: dict[str, Any], path: Path) -> None:
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    header = (
        f"# {doc['jurisdiction']} {doc['year']} — generated by calendars/tools/import_official.py, then reviewed.\n"
        "# holidays: every date from start to end (inclusive) is a day off; makeup_workdays are\n"
        "# weekend days that are working days (调休上班).\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        header + yaml.dump(doc, Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=120),
        encoding="utf-8",
    )


def write() -> None:
    """Regenerate the national YAML files."""
    for y in OFFICIAL_YEARS:
        _dump(build_official(y), DATA / "CN" / f"{y}.yaml")
    for y in PROVISIONAL_YEARS:
        _dump(build_provisional(y), DATA / "CN" / f"{y}.yaml")
    print(f"wrote {len(OFFICIAL_YEARS) + len(PROVISIONAL_YEARS)} files under {DATA / 'CN'}")


def check() -> int:
    """Compare every day of the national YAML data with chinese_calendar and holidays."""
    import chinese_calendar
    from holidays import country_holidays

    from calendars import get_calendar, reload

    reload()
    cal = get_calendar("CN")
    problems = 0
    for year in range(cal.start.year, cal.end.year + 1):
        hol = country_holidays("CN", years=year)
        diff_cc, diff_h = [], []
        d = date(year, 1, 1)
        while d.year == year:
            ours = cal.is_working_day(d)
            if year in OFFICIAL_YEARS and chinese_calendar.is_workday(d) != ours:
                diff_cc.append(d)
            if hol.is_working_day(d) != ours:
                diff_h.append(d)
            d += timedelta(days=1)
        status = "provisional" if cal.is_provisional(date(year, 1, 1)) else "official"
        print(
            f"{year} ({status}): differs from chinese_calendar on {len(diff_cc)} days, from holidays on {len(diff_h)} days"
        )
        for x in diff_cc:
            print(f"  chinese_calendar: {x} ours={'work' if cal.is_working_day(x) else 'off'}")
        for x in diff_h:
            print(f"  holidays: {x} ours={'work' if cal.is_working_day(x) else 'off'}")
        if year in OFFICIAL_YEARS:
            problems += len(diff_cc)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="regenerate calendars/data/CN/*.yaml")
    p.add_argument(
        "--check", action="store_true", help="cross-check the YAML with chinese_calendar and holidays"
    )
    args = p.parse_args(argv)
    if args.write:
        write()
    if args.check or not args.write:
        return check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
