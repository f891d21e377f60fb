"""The walkthrough in `docs/cli.md` works as written: every `complaints ...` line of its walkthrough section is
run (with a fresh `$CASE`) against the dev server and a real worker, ending with the case archived."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from helpers.cli import invoke
from helpers.client import EXAMPLES, new_case_no, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def walkthrough_commands() -> list[str]:
    """The `complaints` lines of the fenced bash blocks in the walkthrough section, in order."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Walkthrough", 1)[1].split("\n### ", 1)[0]
    cmds: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        cmds += [ln.strip() for ln in block.splitlines() if ln.strip().startswith("complaints ")]
    return cmds


def test_walkthrough_covers_register_to_archive() -> None:
    cmds = walkthrough_commands()
    names = [shlex.split(c)[1] for c in cmds]
    assert names[0] == "register" and names[-1] == "show"
    assert {"accept", "request-extension", "decide-extension", "complete-investigation", "send-feedback",
            "record-return-visit", "request-review", "decide-review"} <= set(names)


async def test_walkthrough_runs_as_written(dev_env: WorkflowEnvironment, pg_pool, tmp_path: Path) -> None:  # noqa: ANN001
    q = task_queue()
    case = new_case_no()
    reg = (EXAMPLES / "registration.json").read_text(encoding="utf-8").replace("SX2026112000123", case)
    complaint = tmp_path / "complaint.json"
    complaint.write_text(reg, encoding="utf-8")
    async with running_worker(dev_env.client, pg_pool, q):
        for cmd in walkthrough_commands():
            argv = [a.replace("$CASE", case).replace("/tmp/complaint.json", str(complaint)) for a in shlex.split(cmd)[1:]]
            res = await invoke(dev_env, q, *argv)
            assert res.exit_code == 0, f"{cmd}\n{res.output}"
        res = await invoke(dev_env, q, "show", case, "--json")
        s = json.loads(res.stdout)
        assert s["stage"] == "archived" and s["close_reason"] == "review_upheld"
        assert s["review_outcome"] == "uphold" and s["satisfaction"] == "basically_satisfied"
        res = await invoke(dev_env, q, "withdraw", case, "--as", "agent-07", "--role", "intake_agent", "--unit", "SX")
        assert res.exit_code == 1 and "withdraw refused" in res.stderr and "closed" in res.stderr
