"""Replay the checked-in histories of the workflow scenarios against the current workflow code.

A change to `ComplaintCase` / `ComplaintReview` that would break running cases (non-determinism) fails here.
Histories live in `tests/histories/*.json`; regenerate them with
`COMPLAINTS_RECORD_HISTORIES=1 .venv/bin/pytest tests/test_complaint_workflow.py` (they are encrypted with
the fixed test-only codec key of `test_case_rules_fixtures`, so they replay on any machine). A deliberate
logic change must go behind `workflow.patched(...)` so the old histories still replay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from test_case_rules_fixtures import fixed_key_data_converter

from workflows import WORKFLOWS

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    doc = json.loads(path.read_text())
    return WorkflowHistory.from_json(f"recorded-{path.stem}", doc)


def test_histories_are_checked_in() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"happy_path", "rejected", "review_overturned", "sla_spring_festival", "calendar_update"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    history = _history(path)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=fixed_key_data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
