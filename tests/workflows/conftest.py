"""Fixtures of the workflow tests that record histories for the replay test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from helpers.cases import fixed_key_data_converter
from helpers.temporal import time_skipping_server
from temporalio.testing import WorkflowEnvironment


@pytest_asyncio.fixture
async def fixed_key_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose payloads use the fixed test key, so the recorded history replays anywhere."""
    async with time_skipping_server(fixed_key_data_converter()) as env:
        yield env
