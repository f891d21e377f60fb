"""The README stays true: its two commands are what CI runs, and its CLI walkthrough is the tested one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)


def test_the_two_commands_come_first_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = _code_blocks(readme)[0]
    assert first.splitlines()[0].startswith("make up") and first.splitlines()[1].startswith("make test")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.M)


def test_readme_walkthrough_is_the_tested_one() -> None:
    """tests/clients/test_cli_walkthrough.py runs every command of docs/cli.md; the README shows the same blocks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in _code_blocks((ROOT / "docs" / "cli.md").read_text(encoding="utf-8")):
        assert block in readme
