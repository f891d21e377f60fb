"""The restore drill (`complaints db backup` / `complaints db restore`) on real processes.

Cases are driven through a real worker against a dev server on its own SQLite file and a database of their
own; the backup is taken while the dev server runs (online SQLite backup, pg_dump's snapshot). Restoring the
SQLite file under the running server is refused. Then both are destroyed - the database dropped, the file
deleted - and restored: every table row, sequence, history event, visibility entry, case summary and
dashboard number is what it was, and the restored pair takes the next decision. A backup whose files do not
match its manifest is refused before anything changes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import Result
from helpers.client import decision, registration, running_worker, task_queue
from helpers.reliability import DevServer, fresh_database
from temporalio.client import Client
from typer.testing import CliRunner

from activities.db import create_pool, migration_checksum, migration_files
from clients.backup import MANIFEST, READ_MODEL_FILE, TEMPORAL_DB_FILE
from clients.case_client import CaseClient
from clients.cli import app
from common.codec import KeyRing
from common.converter import make_data_converter
from dashboard import queries as q
from devstack.pgserver import EmbeddedPostgres

pytestmark = pytest.mark.timeout(300)


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _rows(dsn: str) -> dict[str, Any]:
    """Every row of every table (as JSON text, sorted) and every sequence's position."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        state: dict[str, Any] = {
            t: [r[0] for r in await conn.fetch(f'SELECT row_to_json(t)::text AS r FROM "{t}" t ORDER BY r')]
            for t in tables
        }
        state["_sequences"] = [tuple(r) for r in await conn.fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1")]
        return state
    finally:
        await conn.close()


def _frame(df: Any) -> Any:
    return df.to_dict(orient="records")


def _detail(d: q.CaseDetail | None) -> Any:
    assert d is not None
    return d.case, _frame(d.clocks), _frame(d.events)


async def _dashboard(dsn: str, case_nos: list[str], now: datetime) -> dict[str, Any]:
    """What the dashboard shows, computed by its own queries at a fixed instant."""
    today = now.astimezone(q.shanghai_tz()).date()
    period = q.Period(today - timedelta(days=29), today)
    conn = await asyncpg.connect(dsn)
    try:
        ov = await q.overview(conn, period, None, now)
        return {
            "overview": (ov.open_by_level, ov.due_today, ov.due_tomorrow, ov.current, ov.previous),
            "board": _frame(await q.sla_board(conn, None, q.BoardFilters(levels=tuple(q.LEVELS)), now)),
            "units": _frame(await q.unit_league(conn, period, None)),
            "stages": _frame(await q.stage_durations(conn, period, None)),
            "breaches": _frame(await q.breach_trend(conn, None, now)),
            "extensions": _frame(await q.pending_extensions(conn, None)),
            "details": [_detail(await q.case_detail(conn, no, None)) for no in case_nos],
        }
    finally:
        await conn.close()


async def _histories(client: Client, case_nos: list[str]) -> dict[str, list[str]]:
    out = {}
    for no in case_nos:
        handle = client.get_workflow_handle(f"complaint-{no}")
        out[no] = [f"{e.event_id}:{e.event_type}" async for e in handle.fetch_history_events()]
    return out


async def _visible(cc: CaseClient, queue: str, expected: dict[str, str]) -> list[Any]:
    """This test's cases as visibility lists them, once it shows every case at its expected stage."""
    items: list[Any] = []
    for _ in range(150):  # visibility is eventually consistent
        items = await cc.list_cases({"task_queue": queue})
        if {i.case_no: i.stage for i in items} == expected:
            break
        await asyncio.sleep(0.2)
    return sorted((i.model_dump() for i in items), key=lambda i: i["case_no"])


async def _drive(cc: CaseClient, pool: asyncpg.Pool) -> dict[str, str]:
    """Cases in several states; returns {case_no: stage}."""
    now = datetime.now(UTC).astimezone().isoformat()
    late = await cc.register(registration())  # received 2026-11-20: its acceptance clock runs late
    accepted = await cc.register(registration(received_at=now))
    await cc.decide(accepted, "accept", decision("accept"))
    rejected = await cc.register(registration(received_at=now, channel="wechat"))
    await cc.decide(rejected, "reject", decision("reject"))
    extended = await cc.register(registration(received_at=now))
    await cc.decide(extended, "accept", decision("accept"))
    await cc.decide(extended, "request_extension", decision("request_extension"))
    finished = await cc.register(registration(received_at=now))
    for name in ("accept", "request_extension", "decide_extension", "complete_investigation",
                 "send_feedback", "record_return_visit", "request_review", "decide_review"):
        await cc.decide(finished, name, decision(name))
    stages = {}
    for no in (late, accepted, rejected, extended, finished):
        for _ in range(100):  # the late case records its passed thresholds on its first workflow tasks
            s = await cc.summary(no)
            if await pool.fetchval("SELECT version FROM cases WHERE case_no = $1", no) == len(s.events):
                break
            await asyncio.sleep(0.1)
        stages[no] = s.stage.value
    return stages


async def test_restore_drill_gives_back_every_case_clock_event_and_dashboard_number(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    db_file = tmp_path / "temporal" / TEMPORAL_DB_FILE
    db_file.parent.mkdir()
    queue = task_queue()
    server = DevServer(db_file)
    server.start()
    try:
        client = await Client.connect(server.address, data_converter=make_data_converter())
        cc = CaseClient(client, task_queue=queue)
        pool = await create_pool(dsn)
        try:
            async with running_worker(client, pool, queue):
                stages = await _drive(cc, pool)
                summaries = {no: (await cc.summary(no)).model_dump() for no in stages}
        finally:
            await pool.close()
        case_nos = sorted(stages)
        assert set(stages.values()) == {"acceptance", "investigation", "archived"}  # rejected and finished: archived
        now = datetime.now(UTC)
        rows, board = await _rows(dsn), await _dashboard(dsn, case_nos, now)
        assert len(rows["case_events"]) > 20 and len(rows["sla_clocks"]) >= 6 and len(rows["case_pii"]) == 5
        assert board["overview"][0]["red"] >= 1 and len(board["extensions"]) == 1  # numbers worth comparing
        histories = await _histories(client, case_nos)
        visible = await _visible(cc, queue, stages)
        assert [v["case_no"] for v in visible] == case_nos

        backup = tmp_path / "backup"
        done = await cli("--database-url", dsn, "db", "backup", "--output", str(backup), "--temporal-db", str(db_file))
        assert done.exit_code == 0, done.output
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
        assert set(manifest["files"]) == {READ_MODEL_FILE, TEMPORAL_DB_FILE}
        assert manifest["migrations"] == [{"name": p.name, "checksum": migration_checksum(p)} for p in migration_files()]
        assert manifest["codec_key_ids"] == [KeyRing.from_settings().active_key_id]
        assert "codec" not in " ".join(p.name for p in backup.iterdir())  # never the keys themselves

        # the dev server still has its file open: restoring it now is refused, and nothing is touched
        refused = await cli("--database-url", dsn, "db", "restore", str(backup), "--replace",
                            "--temporal-db", str(db_file))
        assert refused.exit_code == 1
        assert f"{db_file} is open in temporal" in refused.output and "stop the dev server" in refused.output
        assert await _rows(dsn) == rows
    finally:
        server.stop()

    # disaster: both stores gone
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    finally:
        await admin.close()
    for leftover in db_file.parent.iterdir():
        leftover.unlink()

    restored = await cli("--database-url", dsn, "db", "restore", str(backup), "--temporal-db", str(db_file))
    assert restored.exit_code == 0, restored.output
    assert f"dev server database restored at {db_file}" in restored.output
    assert await _rows(dsn) == rows
    assert await _dashboard(dsn, case_nos, now) == board

    server = DevServer(db_file)
    server.start()
    try:
        client = await Client.connect(server.address, data_converter=make_data_converter())
        cc = CaseClient(client, task_queue=queue)
        assert await _histories(client, case_nos) == histories
        assert await _visible(cc, queue, stages) == visible
        pool = await create_pool(dsn)
        try:
            async with running_worker(client, pool, queue):
                assert {no: (await cc.summary(no)).model_dump() for no in case_nos} == summaries
                # the restored pair goes on: the next decision lands in the restored read model
                extended = next(no for no in case_nos if summaries[no]["extension_status"] == "requested")
                after = await cc.decide(extended, "decide_extension", decision("decide_extension"))
            row = await pool.fetchrow("SELECT version, extension_status FROM cases WHERE case_no = $1", extended)
            assert (row["version"], row["extension_status"]) == (len(after.events), after.extension_status)
        finally:
            await pool.close()
    finally:
        server.stop()


async def test_restore_refuses_a_backup_that_does_not_match_its_manifest(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    backup = tmp_path / "backup"
    done = await cli("--database-url", dsn, "db", "backup", "--output", str(backup), "--no-temporal-db")
    assert done.exit_code == 0, done.output
    assert set(json.loads((backup / MANIFEST).read_text(encoding="utf-8"))["files"]) == {READ_MODEL_FILE}
    before = await _rows(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO bureau_service_hours (jurisdiction, close_time, note, recorded_by)"
                           " VALUES ('CN-SX', '16:30', 'after the backup', 'adm')")
    finally:
        await conn.close()
    changed = await _rows(dsn)
    assert changed != before

    dump = backup / READ_MODEL_FILE
    good = dump.read_bytes()
    dump.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, one bit pattern changed
    tampered = await cli("--database-url", dsn, "db", "restore", str(backup), "--replace")
    assert tampered.exit_code == 1
    assert f"{dump}: sha256 does not match the manifest" in tampered.output
    dump.write_bytes(good[:-10])
    truncated = await cli("--database-url", dsn, "db", "restore", str(backup), "--replace")
    assert truncated.exit_code == 1 and "the manifest says" in truncated.output
    dump.write_bytes(good)
    # a database holding tables is only swapped out on request
    occupied = await cli("--database-url", dsn, "db", "restore", str(backup))
    assert occupied.exit_code == 1 and "pass --replace" in occupied.output
    assert await _rows(dsn) == changed  # none of the refusals touched the database
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        leftovers = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_restore\\_%'")
    finally:
        await admin.close()
    assert leftovers == 0

    replaced = await cli("--database-url", dsn, "db", "restore", str(backup), "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert "the previous database was replaced" in replaced.output
    assert await _rows(dsn) == before

    (backup / MANIFEST).unlink()
    unfinished = await cli("--database-url", dsn, "db", "restore", str(backup), "--replace")
    assert unfinished.exit_code == 1 and "no manifest.json" in unfinished.output
    again = await cli("--database-url", dsn, "db", "backup", "--output", str(backup), "--no-temporal-db")
    assert again.exit_code == 1 and "is not an empty folder" in again.output
    assert {p.name for p in backup.iterdir()} == {READ_MODEL_FILE}  # the refused backup wrote nothing
