"""`complaints report`: the monitor's tables written as `.xlsx` / CSV from PostgreSQL (the hand-countable seed of
tests/helpers/dashboard_seed.py), the commands of docs/cli.md's reports section as written, and bad input refused
with the field named and no file written."""

from __future__ import annotations

import asyncio
import io
import re
import shlex
from datetime import datetime
from pathlib import Path

import asyncpg
import openpyxl
import pandas as pd
import pytest
import pytest_asyncio
from click.testing import Result
from helpers.dashboard_seed import PERIOD, RED_CASES, TZ, seed_dashboard
from typer.testing import CliRunner

from clients.cli import app
from dashboard import queries as q
from dashboard import reports

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BOM = b"\xef\xbb\xbf"
runner = CliRunner()


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str) -> str:
    await seed_dashboard(pg_dsn)
    return pg_dsn


async def report(dsn: str, *args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, ["--database-url", dsn, "report", *args])


def rows_of(path: Path) -> tuple[openpyxl.worksheet.worksheet.Worksheet, list[dict[str, object]]]:
    ws = openpyxl.load_workbook(path).active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    head = [str(h) for h in values[0]]
    return ws, [dict(zip(head, r, strict=True)) for r in values[1:]]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def docs_report_commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Reports", 1)[1].split("\n### ", 1)[0]
    return [ln.split("#", 1)[0].strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)
            for ln in block.splitlines() if ln.strip().startswith("complaints report ")]


async def test_docs_commands_write_the_files(seeded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cmds = docs_report_commands()
    assert {shlex.split(c)[2] for c in cmds} == set(reports.REPORTS)
    monkeypatch.chdir(tmp_path)
    for cmd in cmds:
        argv = shlex.split(cmd)
        res = await report(seeded, *argv[2:])
        assert res.exit_code == 0, f"{cmd}\n{res.output}"
        target = tmp_path / argv[argv.index("--output") + 1]
        data = target.read_bytes()
        if target.suffix == ".csv":
            assert data.startswith(BOM)
        else:
            ws, _ = rows_of(target)
            assert ws.freeze_panes == "A2"
    assert files(tmp_path) == sorted(
        shlex.split(c)[shlex.split(c).index("--output") + 1] for c in cmds
    )  # no temporary file left behind


async def test_report_files_equal_the_sql(seeded: str, tmp_path: Path) -> None:
    units = tmp_path / "units.xlsx"
    res = await report(seeded, "units", "--from", PERIOD[0].isoformat(), "--to", PERIOD[1].isoformat(),
                       "--output", str(units))
    assert res.exit_code == 0, res.output
    conn = await asyncpg.connect(seeded)
    try:
        league = await q.unit_league(conn, q.Period(*PERIOD), None)
        durations = await q.stage_durations(conn, q.Period(*PERIOD), await q.subtree_ids(conn, "SX-TY"))
        due = dict(await conn.fetch("SELECT case_no, due_at FROM cases WHERE open"))
    finally:
        await conn.close()
    _, rows = rows_of(units)
    h = reports.LEAGUE_HEADERS
    got = pd.DataFrame(rows).rename(columns={v: k for k, v in h.items()})
    pd.testing.assert_frame_equal(got, league[list(h)], check_dtype=False)

    stages = tmp_path / "stages.csv"
    res = await report(seeded, "stages", "--scope", "SX-TY", "--from", PERIOD[0].isoformat(), "--to",
                       PERIOD[1].isoformat(), "-o", str(stages))
    assert res.exit_code == 0, res.output
    back = pd.read_csv(io.BytesIO(stages.read_bytes()), encoding="utf-8-sig")
    h = reports.DURATION_HEADERS
    assert list(back.columns) == list(h.values())
    assert list(back[h["n"]]) == list(durations["n"])
    assert set(back[h["unit_id"]]) <= {"SX-TY", "SX-TY-XD", "SX-TY-YZ", "SX-TY-QX"}  # the scope's units only

    board = tmp_path / "board.xlsx"
    res = await report(seeded, "sla-board", "--scope", "SX", "--level", "red", "--output", str(board))
    assert res.exit_code == 0, res.output
    assert f"{len(RED_CASES)} row(s)" in res.stdout
    _, rows = rows_of(board)
    h = reports.BOARD_HEADERS
    assert [r[h["case_no"]] for r in rows] == RED_CASES
    for r in rows:
        assert isinstance(r[h["due_at"]], datetime)
        assert r[h["due_at"]] == due[r[h["case_no"]]].astimezone(TZ).replace(tzinfo=None)

    cases = tmp_path / "cases.csv"
    res = await report(seeded, "cases", "--status", "closed", "--from", "2026-03-01", "--to", "2026-03-18",
                       "--unit", "SX-DT-PC", "-o", str(cases))
    assert res.exit_code == 0, res.output
    back = pd.read_csv(io.BytesIO(cases.read_bytes()), encoding="utf-8-sig", dtype=str)
    assert sorted(back[reports.CASE_LIST_HEADERS["case_no"]]) == ["SX2026030100024", "SX2026030100025"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["sla-board", "--format", "pdf"], "--format"),
        (["sla-board", "--stage", "investigate"], "--stage"),
        (["sla-board", "--level", "purple"], "--level"),
        (["sla-board", "--kind", "praise"], "--kind"),
        (["sla-board", "--scope", "SX-XX"], "--scope"),
        (["cases", "--unit", "SX-TY-XX"], "--unit"),
        (["cases", "--status", "pending"], "--status"),
        (["cases", "--channel", "fax"], "--channel"),
        (["units", "--from", "2026-13-01"], "--from"),
        (["units", "--from", "2026-03-18", "--to", "2026-03-01"], "--to"),
        (["stages", "--to", "2026-03-01"], "--from"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    seeded: str, tmp_path: Path, args: list[str], field: str
) -> None:
    target = tmp_path / "out.xlsx"
    res = await report(seeded, *args, "--output", str(target))
    assert res.exit_code == 1 and f"error: {field}:" in res.stderr, res.output
    assert files(tmp_path) == []


async def test_output_that_cannot_be_written(seeded: str, tmp_path: Path) -> None:
    res = await report(seeded, "units", "--output", str(tmp_path / "missing" / "u.xlsx"))
    assert res.exit_code == 1 and "error: --output:" in res.stderr
    res = await report(seeded, "units", "--output", str(tmp_path / "units.txt"))
    assert res.exit_code == 1 and "error: --format:" in res.stderr
    assert files(tmp_path) == []
