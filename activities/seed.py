"""Seed the organisation directory (org_units, org_directories, dispatch_catalogue) from the canonical data.

The source is `cases/data/org_units.json` (owned by the case core): `{"version", "provincial_centre",
"units": [{unit_id, name, level, parent_id, jurisdiction, supervisor_id}], "dispatch": [{category,
area_unit_id, unit_id}]}`. Seeding is idempotent (upserts; the directory's dispatch catalogue is replaced
by the file's rules) and safe when two workers start at once (transaction-level advisory lock). Run it
after `apply_migrations`: `await seed_directory(dsn)` or `python -m activities.seed [DSN]`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncpg

from activities.db import apply_migrations
from common.settings import get_settings

DATA_FILE = Path(str(files("cases") / "data" / "org_units.json"))
_SEED_LOCK_ID = 0x1B_A0_5E_ED

_LEVEL_ORDER = {"national": 0, "province": 1, "city": 2, "county": 3}


def load_directory_file(path: Path | None = None) -> dict[str, Any]:
    """Read and check the directory file; raises ValueError naming what is wrong."""
    path = Path(path or DATA_FILE)
    doc = json.loads(path.read_text(encoding="utf-8"))
    units = doc.get("units")
    if not isinstance(units, list) or not units:
        raise ValueError(f"{path}: 'units' must be a non-empty list")
    ids = set()
    for i, u in enumerate(units):
        for field in ("unit_id", "name", "level", "jurisdiction", "supervisor_id"):
            if not u.get(field):
                raise ValueError(f"{path}: units[{i}].{field} is missing")
        if u["level"] not in _LEVEL_ORDER:
            raise ValueError(f"{path}: units[{i}].level {u['level']!r} is not one of {list(_LEVEL_ORDER)}")
        ids.add(u["unit_id"])
    for i, u in enumerate(units):
        if u.get("parent_id") and u["parent_id"] not in ids:
            raise ValueError(f"{path}: units[{i}].parent_id {u['parent_id']!r} is not a unit of the file")
    centre = doc.get("provincial_centre")
    if centre not in ids:
        raise ValueError(f"{path}: provincial_centre {centre!r} is not a unit of the file")
    for i, r in enumerate(doc.get("dispatch", [])):
        if not r.get("category") or r.get("unit_id") not in ids:
            raise ValueError(f"{path}: dispatch[{i}] needs a category and a known unit_id")
        if r.get("area_unit_id") is not None and r["area_unit_id"] not in ids:
            raise ValueError(f"{path}: dispatch[{i}].area_unit_id {r['area_unit_id']!r} is not a known unit")
    return doc


async def seed_directory(
    conn_or_dsn: asyncpg.Connection | asyncpg.Pool | str, path: Path | None = None
) -> dict[str, int]:
    """Upsert the directory file into PostgreSQL; returns counts {'units': n, 'dispatch': m}."""
    doc = load_directory_file(path)
    if isinstance(conn_or_dsn, str):
        conn = await asyncpg.connect(conn_or_dsn)
        try:
            return await _seed(conn, doc)
        finally:
            await conn.close()
    if isinstance(conn_or_dsn, asyncpg.Pool):
        async with conn_or_dsn.acquire() as conn:
            return await _seed(conn, doc)
    return await _seed(conn_or_dsn, doc)


async def _seed(conn: asyncpg.Connection, doc: dict[str, Any]) -> dict[str, int]:
    units = sorted(doc["units"], key=lambda u: _LEVEL_ORDER[u["level"]])
    by_id = {u["unit_id"]: u for u in units}
    centre = doc["provincial_centre"]
    jurisdiction = by_id[centre]["jurisdiction"]
    rules = doc.get("dispatch", [])
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK_ID)
        await conn.executemany(
            """
            INSERT INTO org_units (unit_id, name, level, parent_id, jurisdiction, supervisor_id)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (unit_id) DO UPDATE SET
                name = EXCLUDED.name, level = EXCLUDED.level, parent_id = EXCLUDED.parent_id,
                jurisdiction = EXCLUDED.jurisdiction, supervisor_id = EXCLUDED.supervisor_id,
                updated_at = now()
            WHERE (org_units.name, org_units.level, org_units.parent_id, org_units.jurisdiction,
                   org_units.supervisor_id)
                  IS DISTINCT FROM
                  (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_id, EXCLUDED.jurisdiction,
                   EXCLUDED.supervisor_id)
            """,
            [
                (
                    u["unit_id"],
                    u["name"],
                    u["level"],
                    u.get("parent_id"),
                    u["jurisdiction"],
                    u["supervisor_id"],
                )
                for u in units
            ],
        )
        await conn.execute(
            """
            INSERT INTO org_directories (jurisdiction, provincial_centre, version) VALUES ($1, $2, $3)
            ON CONFLICT (jurisdiction) DO UPDATE SET
                provincial_centre = EXCLUDED.provincial_centre, version = EXCLUDED.version, seeded_at = now()
            """,
            jurisdiction,
            centre,
            str(doc.get("version", "")),
        )
        await conn.execute("DELETE FROM dispatch_catalogue WHERE jurisdiction = $1", jurisdiction)
        await conn.executemany(
            """
            INSERT INTO dispatch_catalogue (jurisdiction, category, area_unit_id, unit_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT ON CONSTRAINT dispatch_catalogue_rule_key DO UPDATE SET unit_id = EXCLUDED.unit_id
            """,
            [(jurisdiction, r["category"], r.get("area_unit_id"), r["unit_id"]) for r in rules],
        )
    return {"units": len(units), "dispatch": len(rules)}


async def prepare_database(dsn: str) -> dict[str, int]:
    """Migrate, then seed the org directory (both idempotent and safe to run from several workers at once)."""
    await apply_migrations(dsn)
    return await seed_directory(dsn)


def main(argv: list[str] | None = None) -> int:
    """`python -m activities.seed [DSN]`: migrate and seed (DSN default: COMPLAINTS_DATABASE_URL)."""
    args = sys.argv[1:] if argv is None else argv
    dsn = args[0] if args else get_settings().database_url

    async def run() -> dict[str, int]:
        await apply_migrations(dsn)
        return await seed_directory(dsn)

    print(json.dumps(asyncio.run(run())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
