"""PostgreSQL plumbing: the connection pool and the numbered schema migrations.

Migrations are `activities/migrations/NNNN_name.sql`, applied in order inside one transaction each and
recorded in `schema_migrations` with the sha256 of the file as applied. An applied file that has been edited
since is an error naming it: the schema of a running database is never silently different from the files
(add a new migration instead). A database migrated before checksums were kept gets them recorded, from the
files as they are, on its first run under this code. A session-level advisory lock makes two workers
starting at once safe.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x1B_A0_C0_DE  # arbitrary, fixed: one lock for this schema
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationChecksumError(RuntimeError):
    """An applied migration file differs from the one recorded when it was applied."""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files in the order they are applied."""
    files = [p for p in directory.iterdir() if _NAME_RE.match(p.name)]
    return sorted(files, key=lambda p: p.name)


def migration_checksum(path: Path) -> str:
    """sha256 (hex) of a migration file; line endings are normalised so a CRLF checkout is not an edit."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


async def applied_migrations(conn: asyncpg.Connection) -> dict[str, str | None]:
    """{name: checksum} of the migrations recorded in the database ({} before the first migration)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return {}
    has_checksum = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'schema_migrations' AND column_name = 'checksum'"
        " AND table_schema = current_schema())"
    )
    column = "checksum" if has_checksum else "NULL::text AS checksum"
    rows = await conn.fetch(f"SELECT name, {column} FROM schema_migrations ORDER BY name")
    return {r["name"]: r["checksum"] for r in rows}


async def apply_migrations(
    conn_or_dsn: asyncpg.Connection | str, directory: Path = MIGRATIONS_DIR
) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied by this call.

    Raises `MigrationChecksumError` (before applying anything) when an applied file was edited."""
    own = isinstance(conn_or_dsn, str)
    conn: asyncpg.Connection = await asyncpg.connect(conn_or_dsn) if own else conn_or_dsn  # type: ignore[assignment]
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text)"
            )
            # databases migrated before checksums were kept: the column arrives empty and is filled below
            await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
            files = migration_files(directory)
            done = await applied_migrations(conn)
            _check_unchanged(files, done)
            unrecorded = [(migration_checksum(p), p.name) for p in files if p.name in done and done[p.name] is None]
            if unrecorded:
                await conn.executemany(
                    "UPDATE schema_migrations SET checksum = $1 WHERE name = $2 AND checksum IS NULL", unrecorded
                )
            for path in files:
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        path.name, migration_checksum(path),
                    )
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    finally:
        if own:
            await conn.close()
    return applied


def _check_unchanged(files: list[Path], done: dict[str, str | None]) -> None:
    edited = [p for p in files if done.get(p.name) not in (None, migration_checksum(p))]
    if edited:
        names = ", ".join(str(p) for p in edited)
        raise MigrationChecksumError(
            f"migration file(s) edited after they were applied to this database: {names} "
            "(the recorded sha256 in schema_migrations differs); restore the file as applied and put the "
            "change in a new migration"
        )


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """One pool per process; JSON/JSONB columns come back as Python objects."""

    async def _init(conn: asyncpg.Connection) -> None:
        import json

        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init)
    assert pool is not None
    return pool
