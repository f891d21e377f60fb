"""A time-skipping Temporal test server with the project's search attributes, for the fixtures that need one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from common.search_attributes import register_search_attributes
from devstack.binaries import temporal_test_server


@asynccontextmanager
async def time_skipping_server(data_converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of its own (timers of weeks fire in milliseconds), shut down after the block."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter, test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()
