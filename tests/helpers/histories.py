"""The recorded workflow histories the replay test replays (`tests/workflows/histories/*.json`): where they live,
and how a scenario writes its own when run with `COMPLAINTS_RECORD_HISTORIES=1` (they are encrypted with the
fixed test key, so they replay anywhere)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowHistory

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"
RECORDING = os.environ.get("COMPLAINTS_RECORD_HISTORIES") == "1"


def save_history(name: str, history: WorkflowHistory) -> None:
    """Write `history` as `<name>.json` when recording; otherwise nothing."""
    if RECORDING:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Fetch and write the workflow's history as `<name>.json` when recording; otherwise nothing."""
    if RECORDING:
        save_history(name, await handle.fetch_history())
