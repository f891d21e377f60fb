"""Create or update the Schedules of the daily and monthly reports, one per bureau of the org directory.

Used by `complaints reports schedule` and by `make up` (devstack), which ensures them once the worker polls.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from common.connect import connect
from common.settings import Settings, get_settings
from workflows.schedules import ensure_report_schedule


class UnknownBureauError(ValueError):
    """A jurisdiction that has no org directory in the read model: no bureau to report on."""


async def bureaus(database_url: str) -> list[str]:
    """The jurisdictions with an org directory (the bureaus that publish reports)."""
    conn = await asyncpg.connect(database_url)
    try:
        return [r["jurisdiction"] for r in await conn.fetch("SELECT jurisdiction FROM org_directories ORDER BY 1")]
    finally:
        await conn.close()


async def ensure_report_schedules(
    settings: Settings | None = None, jurisdictions: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """(jurisdiction, "created" | "updated") for the given bureaus, or every bureau when none is given. An unknown
    jurisdiction fails before any Schedule is touched."""
    s = settings or get_settings()
    known = await bureaus(s.database_url)
    unknown = [j for j in jurisdictions if j not in known]
    if unknown:
        raise UnknownBureauError(
            f"--jurisdiction: {', '.join(unknown)} has no org directory (known: {', '.join(known) or 'none'})"
        )
    client = await connect(s)
    return [(j, await ensure_report_schedule(client, j, s.task_queue)) for j in (list(jurisdictions) or known)]
