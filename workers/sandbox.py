"""The workflow sandbox configuration every worker (and test worker) of this project uses.

Modules listed here are shared with the sandbox instead of being re-imported per workflow run: the pure
domain packages (deterministic, no I/O at import) and C-extension libraries that crash when imported twice
(asyncpg's Cython protocol segfaults if a second copy is initialised inside the sandbox).

The workflow modules themselves are re-imported for every run (that is what isolates one run's module state
from another's); `workflow_runner` makes those imports reuse the modules' compiled code objects, which are
immutable, instead of unmarshalling a fresh copy from the .pyc for every cached case.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import CodeType, ModuleType

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


# The packages whose modules the sandbox re-imports per run and whose code objects are shared between runs.
SHARED_CODE_PACKAGES = ("workflows",)


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's code once per process; every later import (one per workflow run) executes the same
    code object in a fresh module. Module globals, classes and functions stay per run."""

    _code: dict[str, CodeType] = {}
    _lock = threading.Lock()  # workflow runs of different cases import on different threads

    def get_code(self, fullname: str) -> CodeType:
        with self._lock:
            cached = self._code.get(self.path)
            if cached is None:
                code = super().get_code(fullname)
                if code is None:
                    raise ImportError(f"no code for {fullname}", name=fullname)
                cached = self._code[self.path] = code
            return cached


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in SHARED_CODE_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = _SharedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def share_workflow_code() -> None:
    """Put the shared-code finder first on `sys.meta_path` (once per process)."""
    if not any(isinstance(f, _SharedCodeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SharedCodeFinder())


def workflow_runner() -> SandboxedWorkflowRunner:
    """A sandboxed runner with the project's pass-through modules (and the workflow modules' code shared)."""
    share_workflow_code()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
