"""Schema migrations: applied in order, recorded, idempotent, and safe when two workers start at once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from activities.db import apply_migrations, migration_files, prepare_database
from activities.seed import seed_directory
from complaints.pgserver import EmbeddedPostgres

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
