"""PostgreSQL plumbing: the connection pool and the numbered schema migrations.

Migrations are `activities/migrations/NNNN_name.sql`, applied in order inside one transaction each and
recorded in `schema_migrations`. A session-level advisory lock makes two workers starting at once safe.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x1B_A0_C0_DE  # arbitrary, fixed: one lock for this schema
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[Path]:
    """The migration files in the order they are applied."""
    files = [p for p in MIGRATIONS_DIR.iterdir() if _NAME_RE.match(p.name)]
    return sorted(files, key=lambda p: p.name)


async def apply_migrations(conn_or_dsn: asyncpg.Connection | str) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied by this call."""
    own = isinstance(conn_or_dsn, str)
    conn: asyncpg.Connection = await asyncpg.connect(conn_or_dsn) if own else conn_or_dsn  # type: ignore[assignment]
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for path in migration_files():
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    finally:
        if own:
            await conn.close()
    return applied


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """One pool per process; JSON/JSONB columns come back as Python objects."""

    async def _init(conn: asyncpg.Connection) -> None:
        import json

        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init)
    assert pool is not None
    return pool
