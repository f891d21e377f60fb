"""What the workflow sandbox re-imports for every run stays small: payload models live in pass-through modules.

The sandbox imports each workflow's module afresh per run, so a pydantic model defined there builds its
validator and serializer once per cached case (worker memory, docs/performance.md). This checks the source
of every `workflows` module against the project's sandbox configuration, and, in a real sandboxed run, that
the payload models a workflow sees are the worker's own classes rather than per-run copies.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid

from pydantic import BaseModel
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

import workflows
from workers.sandbox import PASSTHROUGH_MODULES, workflow_runner

with workflow.unsafe.imports_passed_through():
    from temporalio.worker import Worker


def _passed_through(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PASSTHROUGH_MODULES)


def test_every_model_of_the_workflows_package_is_defined_in_a_pass_through_module() -> None:
    defined_per_run = []
    for info in pkgutil.iter_modules(workflows.__path__, "workflows."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == info.name:
                if not _passed_through(info.name):
                    defined_per_run.append(f"{info.name}.{name}")
    assert defined_per_run == [], f"pydantic models rebuilt for every workflow run: {defined_per_run}"


@workflow.defn(sandboxed=True)
class PayloadIdentityProbe:
    """Reports which class objects the sandbox hands to workflow code for the payload models."""

    @workflow.run
    async def run(self) -> list[int]:
        import workflows.complaint_case as case_module
        import workflows.payloads as payloads

        return [id(payloads.CalendarUpdate), id(case_module.CalendarUpdate), id(payloads.ReviewResult)]


async def test_sandboxed_runs_see_the_workers_payload_classes(ts_env: WorkflowEnvironment) -> None:
    from workflows.payloads import CalendarUpdate, ReviewResult

    tq = f"sandbox-sharing-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[PayloadIdentityProbe], workflow_runner=workflow_runner()):
        seen = [
            await ts_env.client.execute_workflow(PayloadIdentityProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=tq)
            for _ in range(2)
        ]
    host = [id(CalendarUpdate), id(CalendarUpdate), id(ReviewResult)]
    assert seen == [host, host]
