"""Tests for the ``calendars.cli`` Typer sub-app."""

from __future__ import annotations

from typer.testing import CliRunner

from calendars.cli import app

runner = CliRunner()


def test_add_working_days() -> None:
    res = runner.invoke(app, ["add-working-days", "2026-09-28", "15"])
    assert res.exit_code == 0 and res.output.strip() == "2026-10-23"
    res = runner.invoke(app, ["add-working-days", "2027-09-28", "15"])
    assert res.exit_code == 0 and res.output.strip().endswith("(provisional)")


def test_is_working_day_and_between() -> None:
    res = runner.invoke(app, ["is-working-day", "2025-10-11"])
    assert res.exit_code == 0 and "makeup" in res.output
    res = runner.invoke(app, ["is-working-day", "2025-03-31", "--region", "CN-XJ"])
    assert res.exit_code == 1 and "肉孜节" in res.output
    res = runner.invoke(app, ["between", "2025-09-30", "2025-10-10"])
    assert res.exit_code == 0 and res.output.strip() == "2"


def test_errors_are_clear() -> None:
    res = runner.invoke(app, ["is-working-day", "2019-06-01"])
    assert res.exit_code == 2 and "outside the calendar data range" in res.output
    res = runner.invoke(app, ["is-working-day", "2025-13-01"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["between", "2025-01-01", "2025-02-01", "--region", "CN-ZZ"])
    assert res.exit_code != 0


def test_show_grid() -> None:
    res = runner.invoke(app, ["show", "2025", "--region", "CN-XJ"])
    assert res.exit_code == 0
    out = res.output
    assert "Legend" in out and "PROVISIONAL" not in out
    assert "31*" in out and "11+" in out and "古尔邦节" in out and "国办发明电〔2024〕12号" in out
    assert "service hours 2025-05-01..2025-09-30 夏季作息: 10:00-14:00, 16:00-20:00" in out
    assert "service hours 2025-10-01..2025-12-31 冬季作息: 10:00-14:00, 15:30-19:30" in out
    res = runner.invoke(app, ["show", "2027"])
    assert res.exit_code == 0 and "PROVISIONAL" in res.output
    assert "service hours: 09:00-12:00, 13:00-17:00; deadlines end at 17:00" in res.output
    res = runner.invoke(app, ["show", "2026", "--region", "CN-XJ"])
    assert "PROVISIONAL" in res.output and "re-verify" in res.output
