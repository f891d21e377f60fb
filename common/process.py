"""Ending short-lived client processes safely.

The Temporal SDK's Rust bridge keeps threads that may call back into Python while the interpreter is
finalizing, which aborts the process ("PyGILState_Release: thread state ... must be current",
temporalio/sdk-python#300). A command that used a Temporal client therefore ends with `exit_now`: flush
the standard streams, then leave without interpreter teardown. Nothing durable is lost: every write the
command made has completed (Temporal calls are acknowledged, files are closed) before it is called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def exit_now(code: int = 0) -> NoReturn:
    """Flush stdout/stderr and terminate the process with `code`, skipping interpreter finalization."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_command(command: Callable[[], object]) -> NoReturn:
    """Run a command-line entry point and end with `exit_now`, keeping SystemExit's code and message."""
    try:
        command()
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
            exit_now(1)
        exit_now(stop.code or 0)
    exit_now(0)
