"""A table as a file: `.xlsx` for Excel and CSV that a Chinese Excel opens correctly. Pure: a DataFrame and a
column -> header mapping in, bytes out; no database, no Streamlit. Shared by the monitor's downloads,
`complaints report` and the worker's daily and monthly reports (`activities.report_book`), hence in `common`.

Instants are written in Asia/Shanghai as real Excel dates (Excel has no time zone: an aware instant becomes the
local wall-clock time the bureau reads); the CSV writes them as `YYYY-MM-DD HH:MM:SS` local time. The CSV is
UTF-8 with a byte-order mark: without it Excel on a Chinese Windows reads the file as GBK and shows mojibake.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from calendars import shanghai_tz

FORMATS: tuple[str, ...] = ("xlsx", "csv")
MIME: dict[str, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
MAX_WIDTH = 60  # characters; a long note wraps in Excel rather than pushing every other column off screen
_SHEET_NAME_MAX = 31  # Excel's limit
_SHEET_NAME_FORBIDDEN = set("[]:*?/\\")


class ExportError(ValueError):
    """The table cannot be written as asked (a column without a header, an unknown format)."""


def _cell(value: Any) -> Any:
    """One value as Excel / CSV should see it: local naive datetimes, plain ints and floats, None for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.astimezone(shanghai_tz()).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, bool):
        return value
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return value.item()
    return value


def _rows(df: pd.DataFrame, headers: Mapping[str, str]) -> tuple[list[str], list[list[Any]]]:
    missing = [c for c in df.columns if c not in headers]
    if missing:
        raise ExportError(f"headers: no header for column(s) {', '.join(map(str, missing))}")
    cols = list(df.columns)
    return [headers[c] for c in cols], [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def display_width(text: str) -> int:
    """Columns `text` takes in Excel's default font: CJK (wide / full-width) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def to_xlsx(df: pd.DataFrame, headers: Mapping[str, str], sheet: str = "Sheet1") -> bytes:
    """One sheet: bold header row frozen, instants as Excel datetimes, dates as dates, columns wide enough.

    Streams the sheet (openpyxl's write-only mode): a whole board of a province is tens of thousands of rows."""
    return to_xlsx_sheets([(sheet, df, headers)])


def to_xlsx_sheets(sheets: Sequence[tuple[str, pd.DataFrame, Mapping[str, str]]]) -> bytes:
    """Several sheets (name, table, headers) in one workbook, each written as `to_xlsx` writes its one."""
    wb = Workbook(write_only=True)
    for sheet, df, headers in sheets:
        _write_sheet(wb, sheet, df, headers)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _write_sheet(wb: Workbook, sheet: str, df: pd.DataFrame, headers: Mapping[str, str]) -> None:
    head, rows = _rows(df, headers)
    widths = [display_width(h) for h in head]
    for row in rows:
        for i, value in enumerate(row):
            shown = "0000-00-00 00:00" if isinstance(value, datetime) else _text(value)
            widths[i] = max(widths[i], display_width(shown))
    ws = wb.create_sheet("".join("_" if ch in _SHEET_NAME_FORBIDDEN else ch for ch in sheet)[:_SHEET_NAME_MAX]
                         or "Sheet1")
    ws.freeze_panes = "A2"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(width, MAX_WIDTH) + 2
    if head:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(head))}{len(rows) + 1}"
    bold = Font(bold=True)

    def styled(value: Any, **style: Any) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        for k, v in style.items():
            setattr(cell, k, v)
        return cell

    ws.append([styled(h, font=bold) for h in head])
    for row in rows:
        ws.append([
            styled(v, number_format=DATETIME_FORMAT) if isinstance(v, datetime)
            else styled(v, number_format=DATE_FORMAT) if isinstance(v, date)
            else v
            for v in row
        ])


def to_csv(df: pd.DataFrame, headers: Mapping[str, str]) -> bytes:
    """CSV, UTF-8 with BOM, CRLF line ends (what Excel writes and reads)."""
    head, rows = _rows(df, headers)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(head)
    w.writerows([_text(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def render(df: pd.DataFrame, headers: Mapping[str, str], fmt: str, sheet: str = "Sheet1") -> bytes:
    """The table in `fmt` (one of `FORMATS`)."""
    if fmt == "xlsx":
        return to_xlsx(df, headers, sheet)
    if fmt == "csv":
        return to_csv(df, headers)
    raise ExportError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
