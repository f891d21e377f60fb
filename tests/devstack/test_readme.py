"""The README stays true: its two commands are what CI runs, its layout table is the tree, its links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)


def test_the_two_commands_come_first_and_ci_runs_the_test_one() -> None:
    first = _code_blocks(README)[0]
    assert first.splitlines()[0].startswith("make up") and first.splitlines()[1].startswith("make test")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.M)


def test_the_readme_is_a_map_not_a_manual() -> None:
    assert len(README.splitlines()) <= 160


def test_the_layout_table_is_the_tree() -> None:
    """Every top-level folder of the project appears in the layout table, and the table names no folder that
    does not exist."""
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)/` \|", section, flags=re.M))
    folders = {
        p.name for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(".egg-info")
        and p.name not in {"scripts", "test-artifacts", "backups"}
    }
    assert listed == folders


def test_every_link_and_path_in_the_readme_exists() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    for path in re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.(?:py|md|json|toml|yml))`", README):
        assert (ROOT / path).exists(), path


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    for name in re.findall(r"`make ([a-z-]+)", README):
        assert name in targets, name
