"""Client-side helpers for intake systems written in Python: start a case exactly once, send decisions.

`start_case` uses `id_conflict_policy=USE_EXISTING` (a running case with the same number is returned, not
duplicated) and `id_reuse_policy=ALLOW_DUPLICATE_FAILED_ONLY` (a closed case number is never reused; only a
start that failed because its input was invalid, so that no case was ever opened, may be sent again): starting the same
case number twice always yields the one existing case.

`start_case_with_decision` registers and decides in one call (update-with-start), for an intake desk that accepts
on the spot: the decision is taken in the case's first workflow task, right after registration, instead of
waiting for the start's workflow task to finish and a second one to carry the update.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from cases.models import CaseSummary, ComplaintRegistration, PriorDecisions
from common.contract import TASK_QUEUE, workflow_id
from workflows.complaint_case import ComplaintCase


async def start_case(
    client: Client,
    reg: ComplaintRegistration,
    *,
    task_queue: str = TASK_QUEUE,
    prior: PriorDecisions | None = None,
    **kwargs: Any,
) -> WorkflowHandle[ComplaintCase, CaseSummary]:
    """Start `ComplaintCase` for `reg`, or return the handle of the case that already has this number.

    `prior`: a case taken over from another system, with the decisions it already went through."""
    wid = workflow_id(reg.case_no)
    try:
        return await client.start_workflow(
            ComplaintCase.run,
            args=[reg] if prior is None else [reg, prior],
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            **kwargs,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(ComplaintCase.run, wid)


async def start_case_with_decision(
    client: Client,
    reg: ComplaintRegistration,
    update: Any,
    decision: BaseModel,
    *,
    task_queue: str = TASK_QUEUE,
    update_id: str | None = None,
    **kwargs: Any,
) -> CaseSummary:
    """Start `ComplaintCase` for `reg` (same policies as `start_case`) and send its first decision, `update` (a
    `ComplaintCase` update method such as `ComplaintCase.accept`) with `decision`, in one call; returns the summary
    after the decision. A case that already has this number gets the decision instead (with the same
    `update_id`, a resend answers the first outcome). A refused decision raises `WorkflowUpdateFailedError`;
    the case stays registered."""
    start = WithStartWorkflowOperation(
        ComplaintCase.run,
        reg,
        id=workflow_id(reg.case_no),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    result: CaseSummary = await client.execute_update_with_start_workflow(
        update, decision, start_workflow_operation=start, id=update_id, **kwargs
    )
    return result
