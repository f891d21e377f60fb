"""Shared fixtures: real Temporal servers (time-skipping and dev) and a real embedded PostgreSQL.

Each test module gets a fresh database with the migrations applied; each test runs its own `Worker`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

# Tests keep their dev encryption key and files in a throwaway folder, never in the developer's .data/
os.environ.setdefault("COMPLAINTS_DATA_DIR", tempfile.mkdtemp(prefix="complaints-test-data-"))

from helpers.temporal import time_skipping_server  # noqa: E402

from activities.db import apply_migrations, create_pool  # noqa: E402
from common.contract import SEARCH_ATTRIBUTES  # noqa: E402
from common.converter import make_data_converter  # noqa: E402
from devstack.binaries import temporal_cli  # noqa: E402
from devstack.pgserver import EmbeddedPostgres  # noqa: E402


def _search_attribute_keys() -> list[SearchAttributeKey]:
    factories = {"Keyword": SearchAttributeKey.for_keyword, "Datetime": SearchAttributeKey.for_datetime}
    return [factories[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()]


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers of weeks fire in milliseconds."""
    async with time_skipping_server(make_data_converter()) as env:
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (in memory) with the project's search attributes: real visibility."""
    env = await WorkflowEnvironment.start_local(
        data_converter=make_data_converter(),
        dev_server_existing_path=temporal_cli(),
        search_attributes=_search_attribute_keys(),
        ui=False,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL server for the whole test session, in a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="complaints-pg-"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture(scope="module")
async def pg_dsn(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh database per test module, migrated (and seeded when a seeder exists)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = pg_server.dsn(name)
    await apply_migrations(dsn)
    try:
        from activities.seed import seed_directory  # the org directory, once the seeder exists
    except ImportError:
        seed_directory = None
    if seed_directory is not None:
        await seed_directory(dsn)
    yield dsn


@pytest_asyncio.fixture(scope="module")
async def pg_pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()
