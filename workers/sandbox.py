"""The workflow sandbox configuration every worker (and test worker) of this project uses.

Modules listed here are shared with the sandbox instead of being re-imported per workflow run: the pure
domain packages (deterministic, no I/O at import) and C-extension libraries that crash when imported twice
(asyncpg's Cython protocol segfaults if a second copy is initialised inside the sandbox).
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH_MODULES = (
    "asyncpg",
    "pydantic",
    "pydantic_core",
    "yaml",
    "cryptography",
    "aiohttp",
    "calendars",
    "cases",
    "activities",
    "common",
    "workflows.payloads",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """A sandboxed runner with the project's pass-through modules."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
