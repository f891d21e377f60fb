"""Running the dashboard's async queries from Streamlit's synchronous script thread.

Pattern: each page render calls `run_queries(dsn, fn)` once; it opens one asyncpg connection with
`asyncio.run` (the script thread has no running loop), awaits `fn(conn)` (all the page's queries) and closes
the connection. Simple and correct under Streamlit's threads and reruns; no pool outlives a loop.
Connection failures become `DataSourceUnavailable` so a page can say "数据源不可用" instead of a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0
QUERY_TIMEOUT_S = 60.0

# Errors that mean "the database is not there or went away", not "a bug in a query".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
    asyncpg.CannotConnectNowError,
    asyncpg.UndefinedTableError,
)


class DataSourceUnavailable(RuntimeError):
    """The read-model database cannot be reached (or is not migrated)."""


async def _with_connection(dsn: str, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, command_timeout=QUERY_TIMEOUT_S)
    except Exception as exc:  # refused, timed out, bad DSN, unknown database: "the data source is unavailable"
        raise DataSourceUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        return await fn(conn)
    except _UNAVAILABLE as exc:
        raise DataSourceUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing a broken connection must not hide the answer
                conn.terminate()


def run_queries(dsn: str, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `fn(conn)` on a fresh connection and return its result (raises `DataSourceUnavailable`)."""
    return asyncio.run(_with_connection(dsn, fn))
