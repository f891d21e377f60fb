"""Temporal workflows of the complaint system: `ComplaintCase` (one per case), its `ComplaintReview` child and
`BureauReports` (a bureau's daily and monthly reports, started by its Schedule, `workflows.schedules`).

A worker registers all three through the one recipe, `workers.main.build_worker` (task queue `complaints`, the
project's sandbox runner, every activity). May import the core, `common` and `activities`; never `clients`,
`dashboard` or `workers`.

The names below are loaded on first use, not when the package is imported: the sandbox executes this file
afresh for every workflow run (it is the parent of the run's workflow module), and importing every workflow
module here would re-import `reports` and `review` into each cached case as well (worker memory,
docs/performance.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.contract import TASK_QUEUE, review_workflow_id, workflow_id
    from workflows.complaint_case import ComplaintCase
    from workflows.payloads import CalendarUpdate, ReportsInput, ReportsResult, ReviewInput, ReviewResult
    from workflows.reports import BureauReports
    from workflows.review import ComplaintReview

    WORKFLOWS: list[type]

_EXPORTS = {
    "TASK_QUEUE": "common.contract",
    "review_workflow_id": "common.contract",
    "workflow_id": "common.contract",
    "ComplaintCase": "workflows.complaint_case",
    "CalendarUpdate": "workflows.payloads",
    "ReportsInput": "workflows.payloads",
    "ReportsResult": "workflows.payloads",
    "ReviewInput": "workflows.payloads",
    "ReviewResult": "workflows.payloads",
    "BureauReports": "workflows.reports",
    "ComplaintReview": "workflows.review",
}


def __getattr__(name: str) -> Any:
    if name == "WORKFLOWS":
        return [__getattr__("ComplaintCase"), __getattr__("ComplaintReview"), __getattr__("BureauReports")]
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASK_QUEUE",
    "BureauReports",
    "WORKFLOWS",
    "CalendarUpdate",
    "ComplaintCase",
    "ComplaintReview",
    "ReportsInput",
    "ReportsResult",
    "ReviewInput",
    "ReviewResult",
    "review_workflow_id",
    "workflow_id",
]
