"""Schema migrations: applied in order, recorded with checksums, idempotent, safe when two workers start at once,
and an applied file edited afterwards is refused."""

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
    MigrationChecksumError,
    applied_migrations,
    apply_migrations,
    migration_files,
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
