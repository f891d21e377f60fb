"""PostgreSQL plumbing: the connection pool and the numbered schema migrations.

Migrations are `activities/migrations/NNNN_name.sql`, applied in order inside one transaction each and
recorded in `schema_migrations` with the sha256 of the file as applied. An applied file that has been edited
since is an error naming it: the schema of a running database is never silently different from the files
(add a new migration instead). A database migrated before checksums were kept gets them recorded, from the
files as they are, on its first run under this code. A session-level advisory lock makes two workers
starting at once safe.

A migration whose first line is `-- migrate: no-transaction` runs outside a transaction: what PostgreSQL
refuses inside one, above all `CREATE INDEX CONCURRENTLY`, which builds an index without blocking writes to
the table. Its statements (each ending with `;` at the end of a line) run one by one and it is recorded after
the last, so a crash part-way runs the whole file again: every statement must be safe to repeat (`IF NOT
EXISTS`; a failed concurrent build leaves an invalid index behind, so drop it first with `DROP INDEX
CONCURRENTLY IF EXISTS`). `CONCURRENTLY` in a file without the marker is refused before anything runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x1B_A0_C0_DE  # arbitrary, fixed: one lock for this schema
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
NO_TRANSACTION_MARKER = "-- migrate: no-transaction"
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)
_LOCK_POLL_SECONDS = 0.1


class MigrationError(RuntimeError):
    """A migration file the runner refuses to apply."""


class MigrationChecksumError(MigrationError):
    """An applied migration file differs from the one recorded when it was applied."""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files in the order they are applied."""
    files = [p for p in directory.iterdir() if _NAME_RE.match(p.name)]
    return sorted(files, key=lambda p: p.name)


def runs_outside_transaction(path: Path) -> bool:
    """True for a migration marked `-- migrate: no-transaction` on its first line."""
    first = path.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()[:1]
    return bool(first) and first[0].strip().lower() == NO_TRANSACTION_MARKER


def migration_statements(sql: str) -> list[str]:
    """The statements of a no-transaction migration, in order (comment-only pieces dropped)."""
    pieces = [p.strip() for p in _STATEMENT_END.split(sql)]
    return [p for p in pieces if any(line.strip() and not line.strip().startswith("--") for line in p.splitlines())]


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
        await _take_migration_lock(conn)
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
            _check_transaction_markers([p for p in files if p.name not in done])
            unrecorded = [(migration_checksum(p), p.name) for p in files if p.name in done and done[p.name] is None]
            if unrecorded:
                await conn.executemany(
                    "UPDATE schema_migrations SET checksum = $1 WHERE name = $2 AND checksum IS NULL", unrecorded
                )
            for path in files:
                if path.name in done:
                    continue
                record = ("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                          path.name, migration_checksum(path))
                if runs_outside_transaction(path):
                    for statement in migration_statements(path.read_text(encoding="utf-8")):
                        await conn.execute(statement)
                    await conn.execute(*record)
                else:
                    async with conn.transaction():
                        await conn.execute(path.read_text(encoding="utf-8"))
                        await conn.execute(*record)
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    finally:
        if own:
            await conn.close()
    return applied


async def _take_migration_lock(conn: asyncpg.Connection) -> None:
    # polled, not waited for: a session blocked inside pg_advisory_lock holds a snapshot, and a
    # CREATE INDEX CONCURRENTLY in the session holding the lock would wait for that snapshot (a deadlock)
    while True:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", _MIGRATION_LOCK_ID):
            return
        await asyncio.sleep(_LOCK_POLL_SECONDS)


def _check_unchanged(files: list[Path], done: dict[str, str | None]) -> None:
    edited = [p for p in files if done.get(p.name) not in (None, migration_checksum(p))]
    if edited:
        names = ", ".join(str(p) for p in edited)
        raise MigrationChecksumError(
            f"migration file(s) edited after they were applied to this database: {names} "
            "(the recorded sha256 in schema_migrations differs); restore the file as applied and put the "
            "change in a new migration"
        )


def _check_transaction_markers(pending: list[Path]) -> None:
    unmarked = [p for p in pending if not runs_outside_transaction(p) and _CONCURRENTLY.search(_sql_only(p))]
    if unmarked:
        names = ", ".join(str(p) for p in unmarked)
        raise MigrationError(
            f"migration file(s) use CONCURRENTLY inside a transaction, which PostgreSQL refuses: {names}; "
            f"make {NO_TRANSACTION_MARKER!r} their first line"
        )


def _sql_only(path: Path) -> str:
    return "\n".join(line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """One pool per process; JSON/JSONB columns come back as Python objects."""

    async def _init(conn: asyncpg.Connection) -> None:
        import json

        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init)
    assert pool is not None
    return pool
