"""Fixtures of the workflow tests that record histories for the replay test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from helpers.cases import fixed_key_data_converter
from temporalio.testing import WorkflowEnvironment

from common.search_attributes import register_search_attributes
from devstack.binaries import temporal_test_server


@pytest_asyncio.fixture
async def fixed_key_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose payloads use the fixed test key, so the recorded history replays anywhere."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=fixed_key_data_converter(), test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()
