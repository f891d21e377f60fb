"""Schema migrations: applied in order, recorded with checksums, idempotent, safe when two workers start at once,
an applied file edited afterwards is refused, and a `-- migrate: no-transaction` migration builds an index
concurrently while the table keeps taking writes."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from activities.db import (
    MIGRATIONS_DIR,
    NO_TRANSACTION_MARKER,
    MigrationChecksumError,
    MigrationError,
    applied_migrations,
    apply_migrations,
    migration_files,
    runs_outside_transaction,
)
from activities.seed import prepare_database, seed_directory
from devstack.pgserver import EmbeddedPostgres

TABLES = {
    "case_events", "cases", "sla_clocks", "notifications", "case_pii", "org_units", "org_directories",
    "dispatch_catalogue", "schema_migrations", "bureau_calendar_days", "bureau_service_hours",
    "api_keys", "api_idempotency", "api_registrations",
}


async def _fresh_db(pg_server: EmbeddedPostgres) -> str:
    name = f"m_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return pg_server.dsn(name)


async def test_migrations_apply_once_and_are_recorded(pg_server: EmbeddedPostgres) -> None:
    dsn = await _fresh_db(pg_server)
    names = [p.name for p in migration_files()]
    assert names and names == sorted(names)
    assert await apply_migrations(dsn) == names
    assert await apply_migrations(dsn) == []  # second run: nothing to do, no error
    conn = await asyncpg.connect(dsn)
    try:
        recorded = [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")]
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await conn.close()
    assert recorded == names
    assert TABLES <= tables


async def test_two_workers_migrating_at_once(pg_server: EmbeddedPostgres) -> None:
    dsn = await _fresh_db(pg_server)
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        applied_a, applied_b = await asyncio.gather(apply_migrations(a), apply_migrations(b))
        # exactly one of them applied everything; the other found nothing left to do
        assert sorted([applied_a, applied_b], key=len) == [[], [p.name for p in migration_files()]]
        assert await a.fetchval("SELECT count(*) FROM schema_migrations") == len(migration_files())
        # the advisory lock was released: a third run on the same sessions works
        assert await apply_migrations(a) == []
    finally:
        await a.close()
        await b.close()


async def test_prepare_database_concurrently_migrates_and_seeds_once(pg_server: EmbeddedPostgres) -> None:
    dsn = await _fresh_db(pg_server)
    r1, r2, r3 = await asyncio.gather(prepare_database(dsn), prepare_database(dsn), prepare_database(dsn))
    assert r1 == r2 == r3 and r1["units"] >= 14
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM org_units") == r1["units"]
        assert await conn.fetchval("SELECT count(*) FROM dispatch_catalogue") == r1["dispatch"]
        await seed_directory(conn)  # idempotent on an existing connection too
        assert await conn.fetchval("SELECT count(*) FROM dispatch_catalogue") == r1["dispatch"]
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused_naming_the_file(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await _fresh_db(pg_server)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    assert await apply_migrations(dsn, migrations) == [p.name for p in migration_files()]
    edited = migrations / "0100_dashboard_indexes.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nCREATE INDEX x_idx ON cases (kind);\n", encoding="utf-8")
    extra = migrations / "9999_later.sql"
    extra.write_text("CREATE TABLE later_table (id int);\n", encoding="utf-8")
    with pytest.raises(MigrationChecksumError, match="0100_dashboard_indexes.sql") as e:
        await apply_migrations(dsn, migrations)
    assert "0001_read_model.sql" not in str(e.value)
    conn = await asyncpg.connect(dsn)
    try:
        # refused before anything ran: neither the edit nor the pending migration reached the database
        assert await conn.fetchval("SELECT to_regclass('x_idx')") is None
        assert await conn.fetchval("SELECT to_regclass('later_table')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE name = '9999_later.sql'") == 0
    finally:
        await conn.close()
    # a line-ending change is not an edit; undoing the edit lets the pending migration through
    shutil.copy(MIGRATIONS_DIR / edited.name, edited)
    crlf = migrations / "0001_read_model.sql"
    crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
    assert await apply_migrations(dsn, migrations) == ["9999_later.sql"]


async def test_a_database_migrated_before_checksums_gets_them_on_first_run(pg_server: EmbeddedPostgres) -> None:
    dsn = await _fresh_db(pg_server)
    await apply_migrations(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        # the table as the code before checksums created it
        await conn.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
        assert set((await applied_migrations(conn)).values()) == {None}
        assert await apply_migrations(conn) == []
        recorded = dict(await conn.fetch("SELECT name, checksum FROM schema_migrations"))
        assert recorded == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in migration_files()}
        assert await applied_migrations(conn) == recorded
    finally:
        await conn.close()


# ------------------------------------------------------------------------------ no-transaction migrations

_INSERT_NOTIFICATION = (
    "INSERT INTO notifications (key, case_no, audience, channel, recipient_ref, template, requested_at) "
    "VALUES ($1, 'SX2026100100001', 'internal', 'internal', 'sup', 'reminder', now())"
)


async def test_the_given_up_index_is_built_outside_a_transaction_and_valid(pg_server: EmbeddedPostgres) -> None:
    dsn = await _fresh_db(pg_server)
    marked = [p.name for p in migration_files() if runs_outside_transaction(p)]
    assert "0550_notifications_given_up_index.sql" in marked
    assert set(marked) <= set(await apply_migrations(dsn))
    conn = await asyncpg.connect(dsn)
    try:
        valid = await conn.fetchval(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 'notifications_given_up_idx'::regclass"
        )
        recorded = await conn.fetchval(
            "SELECT checksum FROM schema_migrations WHERE name = '0550_notifications_given_up_index.sql'"
        )
    finally:
        await conn.close()
    assert valid is True and recorded


SCALE_INDEXES = {  # 0610's covering indexes -> the index each replaces (same key and predicate)
    "sla_clocks_stopped_period_idx": "sla_clocks_stopped_cover_idx",
    "cases_feedback_period_idx": "cases_feedback_sent_idx",
    "case_events_review_requested_idx": None,
    "cases_registered_scope_idx": "cases_registered_idx",
    "cases_open_level_scope_idx": "cases_open_level_idx",
}


CHART_INDEXES = {  # 0620's covering indexes -> the index each replaces (its cases_open_span_idx: see 0640)
    "cases_closed_span_idx": "cases_closed_idx",
    "case_events_level_changes_idx": None,
}

OPEN_BY_NUMBER_INDEXES = {"cases_open_by_number_idx": "cases_open_span_idx"}  # 0640


@pytest.mark.parametrize(
    ("name", "indexes"),
    [
        ("0610_dashboard_scale_indexes.sql", SCALE_INDEXES),
        ("0620_dashboard_chart_indexes.sql", CHART_INDEXES),
        ("0640_open_cases_by_number_index.sql", OPEN_BY_NUMBER_INDEXES),
    ],
)
async def test_the_dashboard_scale_indexes_replace_their_narrower_twins_and_survive_a_rerun(
    pg_server: EmbeddedPostgres, name: str, indexes: dict[str, str | None]
) -> None:
    """0610, 0620 and 0640 run outside a transaction; run again after a crash before it was recorded, each ends in
    the same state: every new index valid, every index it replaces gone."""
    dsn = await _fresh_db(pg_server)
    assert runs_outside_transaction(MIGRATIONS_DIR / name)
    await apply_migrations(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        states = []
        for rerun in (False, True):
            if rerun:
                await conn.execute("DELETE FROM schema_migrations WHERE name = $1", name)
                assert name in await apply_migrations(dsn)
            rows = await conn.fetch(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = ANY($1::text[])",
                [*indexes, *(old for old in indexes.values() if old)],
            )
            states.append({r["relname"]: r["indisvalid"] for r in rows})
    finally:
        await conn.close()
    assert states[0] == states[1] == dict.fromkeys(indexes, True)


async def _writes_while_index_builds(dsn: str, migrations: Path) -> None:
    """Apply `migrations` while a transaction that wrote to `notifications` stays open (an index build must
    wait for it), and meanwhile insert another notification with a 3 s statement timeout."""
    holder, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    tx = holder.transaction()
    await tx.start()
    try:
        await holder.execute(_INSERT_NOTIFICATION, f"held-{uuid.uuid4().hex}")
        migrating = asyncio.create_task(apply_migrations(dsn, migrations))
        for _ in range(200):  # until the build waits for the open transaction
            waiting = await writer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%' AND wait_event_type = 'Lock'"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the index build never waited for the open transaction")
        try:
            await writer.execute("SET statement_timeout = '3s'")
            await writer.execute(_INSERT_NOTIFICATION, f"during-{uuid.uuid4().hex}")
        finally:
            await tx.rollback()
            await migrating
    finally:
        await holder.close()
        await writer.close()


async def test_a_concurrent_index_build_lets_writes_through(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    dsn = await _fresh_db(pg_server)
    await apply_migrations(dsn)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "9000_concurrent.sql").write_text(
        f"{NO_TRANSACTION_MARKER}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS n_key_idx ON notifications (key, case_no);\n",
        encoding="utf-8",
    )
    await _writes_while_index_builds(dsn, migrations)  # the insert went through within its timeout


async def test_control_a_plain_index_build_blocks_writes(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    """Without CONCURRENTLY the same insert waits behind the build and hits its timeout: the check above can fail."""
    dsn = await _fresh_db(pg_server)
    await apply_migrations(dsn)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "9000_plain.sql").write_text(
        "CREATE INDEX IF NOT EXISTS n_key_idx ON notifications (key, case_no);\n", encoding="utf-8"
    )
    with pytest.raises(asyncpg.QueryCanceledError):
        await _writes_while_index_builds(dsn, migrations)


async def test_concurrently_without_the_marker_is_refused_naming_the_file(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await _fresh_db(pg_server)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "9000_unmarked.sql").write_text(
        "-- CONCURRENTLY in a comment alone is fine\nCREATE INDEX CONCURRENTLY n_key_idx ON notifications (key);\n",
        encoding="utf-8",
    )
    with pytest.raises(MigrationError, match="9000_unmarked.sql") as e:
        await apply_migrations(dsn, migrations)
    assert NO_TRANSACTION_MARKER in str(e.value)
    conn = await asyncpg.connect(dsn)
    try:  # refused before anything ran
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    finally:
        await conn.close()


async def test_a_failed_no_transaction_migration_is_not_recorded_and_runs_again(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await _fresh_db(pg_server)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    applied = await apply_migrations(dsn, migrations)
    later = migrations / "9000_later.sql"
    later.write_text(
        f"{NO_TRANSACTION_MARKER}\n-- two statements, run one by one\n"
        "CREATE TABLE IF NOT EXISTS later_table (id int);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS later_idx ON no_such_table (id);\n",
        encoding="utf-8",
    )
    with pytest.raises(asyncpg.UndefinedTableError):
        await apply_migrations(dsn, migrations)
    conn = await asyncpg.connect(dsn)
    try:
        # the first statement stayed (no transaction to undo it), the migration is not recorded
        assert await conn.fetchval("SELECT to_regclass('later_table')") is not None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE name = '9000_later.sql'") == 0
        later.write_text(later.read_text(encoding="utf-8").replace("no_such_table", "later_table"), encoding="utf-8")
        assert await apply_migrations(dsn, migrations) == ["9000_later.sql"]
        assert await conn.fetchval("SELECT to_regclass('later_idx')") is not None
        assert applied == [p.name for p in migration_files()]
    finally:
        await conn.close()
