"""Backup and restore of what the system keeps on disk: the read-model database and, in the embedded mode, the
dev server's SQLite file (`complaints db backup` / `complaints db restore`).

A backup is a folder:

* `readmodel.dump` - `pg_dump --format=custom` of the read-model database (one consistent snapshot, taken
  while the workers keep writing), taken first: Temporal's copy is then never older than the read model's,
  and a projection older than its workflow is replaced at the case's next change;
* `temporal.db` - embedded mode: a copy of the dev server's SQLite file made with SQLite's online backup API,
  consistent while the server runs;
* `manifest.json` - what was copied, when, from where, the size and sha256 of every file, the migrations
  applied to the database (with their checksums) and the codec key ids its encrypted columns need.
  Written last: a folder without it is not a backup.

The codec keys are never in a backup (docs/operations.md): a backup holds ciphertext only.

Restore checks every file against the manifest before touching anything. The database is restored into a
staging database first and only then takes the target's name, so a failed restore leaves the target as it
was. The SQLite file is only replaced while no process has it open (the dev server must be stopped: it
would keep writing its own copy over the restored one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import psutil

from activities.db import applied_migrations, migration_checksum, migration_files
from common.pgtools import pg_program
from common.settings import Settings

MANIFEST = "manifest.json"
READ_MODEL_FILE = "readmodel.dump"
TEMPORAL_DB_FILE = "temporal.db"
FORMAT = "yibao-complaints-backup/1"
_CHUNK = 1 << 20


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass
class RestoreReport:
    """What a restore did, for the operator."""

    database: str | None = None
    replaced_database: bool = False
    temporal_db: Path | None = None
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ helpers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(path: Path, kind: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "bytes": path.stat().st_size, "sha256": sha256_file(path), **extra}


@dataclass(frozen=True)
class _Dsn:
    """A PostgreSQL URL split into what libpq programs take: the URL without password, and the password."""

    url: str
    password: str | None
    database: str
    where: str  # host:port/database, for messages (never the password)

    @classmethod
    def parse(cls, dsn: str) -> _Dsn:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise BackupError("database_url: expected postgresql://user@host:port/database")
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        database = unquote(parts.path.strip("/"))
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        where = f"{parts.hostname}:{parts.port or 5432}/{database}"
        return cls(url, unquote(parts.password) if parts.password else None, database, where)

    def with_database(self, name: str) -> _Dsn:
        parts = urlsplit(self.url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
        return _Dsn(url, self.password, name, self.where.rsplit("/", 1)[0] + "/" + name)

    def connect_url(self) -> str:
        """The URL asyncpg connects with (password included)."""
        if self.password is None:
            return self.url
        parts = urlsplit(self.url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user}:{self.password}@{host}" if user else parts.netloc
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    def env(self) -> dict[str, str]:
        # the password goes through the environment, not the command line others can read in /proc
        return {**os.environ, **({"PGPASSWORD": self.password} if self.password else {})}


def _run(program: str, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run([program, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{Path(program).name} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------------ SQLite


def sqlite_holders(path: Path) -> list[str]:
    """Processes that have the SQLite database `path` (or its journal) open, as 'name (pid N)'."""
    names = {str(path.resolve()) + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    holders = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if any(f.path in names for f in proc.open_files()):
                holders.append(f"{proc.info['name']} (pid {proc.info['pid']})")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return holders


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API copies one snapshot)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            result = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if result != "ok":
        raise BackupError(f"the copy of {source} fails SQLite's quick_check: {result}")


# ------------------------------------------------------------------------------------------ backup


def backup(settings: Settings, output: Path, *, temporal_db: Path | None = None) -> dict[str, Any]:
    """Write a backup folder `output` (created; must not exist or be empty); returns the manifest.

    `temporal_db` is the dev server's SQLite file to include (embedded mode); None leaves Temporal out.
    On any failure the folder is removed: a half-written backup is never left looking like one."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise BackupError(f"--output: {output} exists and is not an empty folder")
    if temporal_db is not None and not temporal_db.is_file():
        raise BackupError(
            f"--temporal-db: no dev server database at {temporal_db} "
            "(give its path, or --no-temporal-db to back up the read model alone)"
        )
    dsn = _Dsn.parse(settings.database_url)
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    try:
        manifest = _backup_into(settings, dsn, output, temporal_db)
    except BaseException:
        if created:
            shutil.rmtree(output, ignore_errors=True)
        else:
            for child in output.iterdir():
                child.unlink()
        raise
    return manifest


def _backup_into(settings: Settings, dsn: _Dsn, output: Path, temporal_db: Path | None) -> dict[str, Any]:
    started = datetime.now(UTC)
    pg_dump = pg_program("pg_dump", settings.pg_bin_dir)
    dump = output / READ_MODEL_FILE
    _run(pg_dump, "--format=custom", "--file", str(dump), "--dbname", dsn.url, env=dsn.env())
    # read after the dump: a key first used meanwhile is listed (one too many), never one missing
    server_version, migrations, key_ids = asyncio.run(_database_facts(dsn))
    files = {
        READ_MODEL_FILE: _describe(dump, "postgresql-custom", database=dsn.where, server_version=server_version,
                                   tool=_run(pg_dump, "--version", env=dsn.env()).strip()),
    }
    if temporal_db is not None:
        copy = output / TEMPORAL_DB_FILE
        copy_sqlite(temporal_db, copy)
        files[TEMPORAL_DB_FILE] = _describe(copy, "temporal-dev-sqlite", source=str(temporal_db.resolve()))
    manifest = {
        "format": FORMAT,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "mode": settings.mode,
        "files": files,
        "migrations": [{"name": name, "checksum": checksum} for name, checksum in migrations.items()],
        "codec_key_ids": key_ids,
        "codec_keys": "not included: without these keys case_pii and the histories cannot be read "
                      "(docs/operations.md, key custody)",
    }
    tmp = output / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.rename(output / MANIFEST)
    return manifest


async def _database_facts(dsn: _Dsn) -> tuple[str, dict[str, str | None], list[str]]:
    """The server version, the applied migrations and the codec key ids in use, for the manifest."""
    try:
        conn = await asyncpg.connect(dsn.connect_url())
    except (OSError, asyncpg.PostgresError) as e:
        raise BackupError(f"database {dsn.where}: {e}") from None
    try:
        return (str(await conn.fetchval("SHOW server_version")), await applied_migrations(conn),
                await _codec_key_ids(conn))
    finally:
        await conn.close()


async def _codec_key_ids(conn: asyncpg.Connection) -> list[str]:
    """The key ids the database's encrypted columns were written with (empty before the first migration)."""
    if await conn.fetchval("SELECT to_regclass('case_pii')") is None:
        return []
    rows = await conn.fetch(
        "SELECT key_id FROM case_pii UNION SELECT contact_key_id FROM notifications WHERE contact_key_id IS NOT NULL"
    )
    return sorted(r[0] for r in rows)


# ------------------------------------------------------------------------------------------ restore


def verify(source: Path) -> dict[str, Any]:
    """Read the manifest of backup folder `source` and check every file it lists (size and sha256)."""
    path = Path(source) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source}: no {MANIFEST}; not a backup (or an unfinished one)") from None
    except (OSError, ValueError) as e:
        raise BackupError(f"{path}: unreadable manifest: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{path}: not a {FORMAT} manifest")
    for name, entry in manifest["files"].items():
        if name not in (READ_MODEL_FILE, TEMPORAL_DB_FILE):
            raise BackupError(f"{path}: unknown file {name!r} in the manifest")
        file = Path(source) / name
        if not file.is_file():
            raise BackupError(f"{file}: listed in the manifest but missing")
        if file.stat().st_size != entry.get("bytes"):
            raise BackupError(
                f"{file}: {file.stat().st_size} bytes, the manifest says {entry.get('bytes')}; refusing to restore"
            )
        if sha256_file(file) != entry.get("sha256"):
            raise BackupError(f"{file}: sha256 does not match the manifest; refusing to restore")
    if READ_MODEL_FILE not in manifest["files"]:
        raise BackupError(f"{path}: the manifest lists no {READ_MODEL_FILE}")
    return manifest


def restore(
    settings: Settings,
    source: Path,
    *,
    replace: bool = False,
    temporal_db: Path | None = None,
) -> RestoreReport:
    """Restore backup folder `source` into `settings.database_url` and (if the backup has one and
    `temporal_db` is given) the dev server's SQLite file at `temporal_db`.

    Refuses, before changing anything, when a file does not match the manifest, when the target database
    holds tables and `replace` is False, or when a process has `temporal_db` open."""
    source = Path(source)
    manifest = verify(source)
    report = RestoreReport()
    sqlite_copy = None
    if TEMPORAL_DB_FILE in manifest["files"] and temporal_db is not None:
        sqlite_copy = source / TEMPORAL_DB_FILE
        holders = sqlite_holders(temporal_db) if temporal_db.exists() else []
        if holders:
            raise BackupError(
                f"--temporal-db: {temporal_db} is open in {', '.join(holders)}; stop the dev server "
                "(`make down`) before restoring it (nothing was restored)"
            )
    report.notes += _migration_notes(manifest)
    dsn = _Dsn.parse(settings.database_url)
    report.replaced_database = asyncio.run(_restore_database(settings, dsn, source / READ_MODEL_FILE, replace))
    report.database = dsn.where
    if sqlite_copy is not None and temporal_db is not None:
        _replace_sqlite(sqlite_copy, temporal_db)
        report.temporal_db = temporal_db
    elif TEMPORAL_DB_FILE in manifest["files"]:
        report.notes.append("the backup's dev server database was not restored (no --temporal-db)")
    return report


def _migration_notes(manifest: dict[str, Any]) -> list[str]:
    ours = {p.name: migration_checksum(p) for p in migration_files()}
    theirs = {m["name"]: m.get("checksum") for m in manifest.get("migrations", [])}
    notes = []
    if newer := sorted(set(theirs) - set(ours)):
        notes.append(f"the backup has migrations this version does not know: {', '.join(newer)} (newer code?)")
    if pending := sorted(set(ours) - set(theirs)):
        notes.append(f"migrations the worker will apply at its next start: {', '.join(pending)}")
    if edited := sorted(n for n in set(ours) & set(theirs) if theirs[n] not in (None, ours[n])):
        notes.append(f"migrations whose files differ from the ones the backup applied: {', '.join(edited)}")
    return notes


async def _restore_database(settings: Settings, dsn: _Dsn, dump: Path, replace: bool) -> bool:
    """pg_restore into a staging database, then swap it in under the target's name; True if a database
    was replaced."""
    admin_dsn = dsn.with_database("postgres")
    try:
        admin = await asyncpg.connect(admin_dsn.connect_url())
    except (OSError, asyncpg.PostgresError) as e:
        raise BackupError(f"database server {admin_dsn.where}: {e}") from None
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    base = re.sub(r"[^a-z0-9_]", "_", dsn.database.lower())[:40]
    staging, retired = f"{base}_restore_{stamp}", f"{base}_replaced_{stamp}"
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dsn.database) is not None
        if exists:
            tables = await _table_count(dsn)
            if tables and not replace:
                raise BackupError(
                    f"database {dsn.where} already holds {tables} table(s); pass --replace to swap it for the "
                    "backup (it is dropped only after the backup restored completely)"
                )
        await admin.execute(f"CREATE DATABASE {_quote_ident(staging)}")
        try:
            staged = dsn.with_database(staging)
            await asyncio.to_thread(
                _run, pg_program("pg_restore", settings.pg_bin_dir), "--exit-on-error", "--single-transaction",
                "--no-owner", "--dbname", staged.url, str(dump), env=staged.env(),
            )
        except BaseException:
            await admin.execute(f"DROP DATABASE IF EXISTS {_quote_ident(staging)} WITH (FORCE)")
            raise
        if exists:
            # nobody may connect while the names change; the workers' pools reconnect to the restored one
            await admin.execute(f"ALTER DATABASE {_quote_ident(dsn.database)} ALLOW_CONNECTIONS false")
            try:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    dsn.database,
                )
                await _rename_when_idle(admin, dsn.database, retired)
            except BaseException:
                await admin.execute(f"ALTER DATABASE {_quote_ident(dsn.database)} ALLOW_CONNECTIONS true")
                await admin.execute(f"DROP DATABASE IF EXISTS {_quote_ident(staging)} WITH (FORCE)")
                raise
        await admin.execute(f"ALTER DATABASE {_quote_ident(staging)} RENAME TO {_quote_ident(dsn.database)}")
        if exists:
            await admin.execute(f"DROP DATABASE {_quote_ident(retired)} WITH (FORCE)")
        return exists
    finally:
        await admin.close()


async def _table_count(dsn: _Dsn) -> int:
    conn = await asyncpg.connect(dsn.connect_url())
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ))
    finally:
        await conn.close()


async def _rename_when_idle(admin: asyncpg.Connection, name: str, new_name: str) -> None:
    # terminated sessions take a moment to leave pg_stat_activity; the rename refuses until they have
    for _ in range(100):
        try:
            await admin.execute(f"ALTER DATABASE {_quote_ident(name)} RENAME TO {_quote_ident(new_name)}")
            return
        except asyncpg.ObjectInUseError:
            await asyncio.sleep(0.1)
    raise BackupError(f"database {name} is still in use; stop the workers and the dashboard, then retry")


def _replace_sqlite(copy: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".temporal-restore-", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(copy, tmp)
        # a journal left beside the old file would be replayed into the restored one
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
