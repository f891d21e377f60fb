"""What the workflow sandbox re-imports for every run stays small: payload models live in pass-through modules.

The sandbox imports each workflow's module afresh per run, so a pydantic model defined there builds its
validator and serializer once per cached case (worker memory, docs/performance.md). This checks the source
of every `workflows` module against the project's sandbox configuration and, in real sandboxed runs, that the
payload models a workflow sees are the worker's own classes and that the re-imported workflow module executes
one shared code object while its classes are still new for every run.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import uuid
from types import CodeType

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
    async def run(self, host_case_class_id: int) -> list[int]:
        import workflows.complaint_case as case_module
        import workflows.payloads as payloads

        return [
            int(id(case_module.ComplaintCase) != host_case_class_id),
            id(payloads.CalendarUpdate),
            id(case_module.CalendarUpdate),
            id(payloads.ReviewResult),
            id(case_module.ComplaintCase.run.__code__),
        ]


async def test_sandboxed_runs_share_payload_classes_and_code_but_import_the_workflow_afresh(
    ts_env: WorkflowEnvironment,
) -> None:
    from workflows.complaint_case import ComplaintCase
    from workflows.payloads import CalendarUpdate, ReviewResult

    tq = f"sandbox-sharing-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[PayloadIdentityProbe], workflow_runner=workflow_runner()):
        seen = [
            await ts_env.client.execute_workflow(
                PayloadIdentityProbe.run, id(ComplaintCase), id=f"probe-{uuid.uuid4()}", task_queue=tq
            )
            for _ in range(2)
        ]
    host = [id(CalendarUpdate), id(CalendarUpdate), id(ReviewResult)]
    assert [s[1:4] for s in seen] == [host, host]
    assert seen[0][0] == seen[1][0] == 1  # the workflow module was imported afresh for each run
    # one code object for both runs' (re-imported) workflow class: the one the workflow module's loader holds
    assert seen[0][4] == seen[1][4] == id(_code_of("workflows.complaint_case", "ComplaintCase.run"))


@workflow.defn(sandboxed=True)
class WorkflowModulesProbe:
    """Reports which `workflows` modules a run's sandbox holds after importing the case workflow's module."""

    @workflow.run
    async def run(self) -> list[str]:
        import workflows.complaint_case  # noqa: F401

        return sorted(name for name in sys.modules if name.startswith("workflows."))


async def test_a_case_run_imports_no_other_workflow_module_afresh(ts_env: WorkflowEnvironment) -> None:
    """The sandbox executes the `workflows` package afresh for every run: it must not import every workflow module
    (each cached case would hold its own `reports`). `review` and `payloads` come passed through."""
    tq = f"sandbox-modules-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[WorkflowModulesProbe], workflow_runner=workflow_runner()):
        seen = await ts_env.client.execute_workflow(
            WorkflowModulesProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=tq
        )
    assert "workflows.complaint_case" in seen
    assert [m for m in seen if m in ("workflows.reports", "workflows.schedules", "workflows.client")] == []


def _code_of(module: str, qualname: str) -> CodeType:
    """The code a fresh import of `module` (in a sandbox: the next run) would execute for `qualname`."""
    spec = next(s for f in sys.meta_path if (s := f.find_spec(module, workflows.__path__)) is not None)
    assert spec.loader is not None
    pending = [spec.loader.get_code(module)]  # type: ignore[attr-defined]
    while pending:
        code = pending.pop()
        if code.co_qualname == qualname:
            return code
        pending.extend(c for c in code.co_consts if isinstance(c, CodeType))
    raise LookupError(qualname)
