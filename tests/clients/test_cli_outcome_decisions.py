"""The `complaints` commands of the decisions after the main line, against the dev server with a real worker:
feedback's basis and reasons, `complete-rectification`, `record-administrative-remedy`, `decide-reward`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import invoke, runner, write_json
from helpers.client import registration, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from clients.cli import app

pytestmark = pytest.mark.devserver
CST = timezone(timedelta(hours=8))
CW = ("--as", "cw-xd-1", "--role", "caseworker", "--unit", "SX-TY-XD")
DISP = ("--as", "disp-01", "--role", "dispatcher", "--unit", "SX")
SUP = ("--as", "sup-SX-TY", "--role", "supervisor", "--unit", "SX-TY")


def test_feedback_without_basis_names_the_field_before_any_call() -> None:
    # the address is unreachable: the error is about the field, not the server
    res = runner.invoke(app, ["--address", "127.0.0.1:1", "send-feedback", "SX2026112000123", *CW,
                              "--message", "已处理", "--reasons", "医院未及时备案"])
    assert res.exit_code == 1 and "basis: required" in res.stderr
    res = runner.invoke(app, ["--address", "127.0.0.1:1", "decide-reward", "SX2026112000123", *SUP,
                              "--grant", "--reasons", "查实"])
    assert res.exit_code == 1 and "amount_band: required when the reward is granted" in res.stderr
    res = runner.invoke(app, ["--address", "127.0.0.1:1", "record-administrative-remedy", "SX2026112000123", *DISP,
                              "--remedy", "reconsideration", "--authority", "太原市人民政府", "--reference-no", "1",
                              "--filed-on", "2026-02-30"])
    assert res.exit_code == 1 and "filed_on" in res.stderr
    assert runner.invoke(app, ["record-administrative-remedy", "SX2026112000123", "--remedy", "appeal"]).exit_code == 2


async def _run(env: WorkflowEnvironment, q: str, *args: str) -> Any:
    res = await invoke(env, q, *args)
    assert res.exit_code == 0, res.output
    return res


async def test_rectification_referral_and_reward_from_the_command_line(
    dev_env: WorkflowEnvironment, pg_pool: Any, tmp_path: Path
) -> None:
    q = task_queue()
    complaint = registration()
    fraud = registration(kind="fraud_report", category="fund_fraud")
    async with running_worker(dev_env.client, pg_pool, q):
        for reg in (complaint, fraud):
            no = reg["case_no"]
            await _run(dev_env, q, "register", "--file", write_json(tmp_path, f"{no}.json", reg))
            await _run(dev_env, q, "accept", no, *DISP, "--assign-to", "SX-TY-XD")
            await _run(dev_env, q, "complete-investigation", no, *CW, "--findings", "医院超标准收费属实",
                       "--legal-basis", "《医疗保障基金使用监督管理条例》", "--at-fault",
                       "--rectify" if reg is complaint else "--no-rectify")
        no = complaint["case_no"]
        res = await _run(dev_env, q, "send-feedback", no, *CW, "--message", "已责令退费", "--basis", "条例第十五条",
                         "--reasons", "超标准收费属实", "--json")
        summary = json.loads(res.stdout)
        sent = next(e for e in summary["events"] if e["kind"] == "feedback_sent")
        assert sent["details"]["basis"] == "条例第十五条"
        rect = next(c for c in summary["clocks"] if c["clock"] == "rectification")
        assert rect["stopped_at"] is None and rect["working_days"] == 15
        res = await _run(dev_env, q, "complete-rectification", no, *CW, "--result", "医院已退费并整改")
        assert "stage=return_visit" in res.stdout
        today = datetime.now(CST).date().isoformat()
        res = await _run(dev_env, q, "record-administrative-remedy", no, *DISP, "--remedy", "litigation",
                         "--authority", "太原市小店区人民法院", "--reference-no", "（2026）晋0105行初12号",
                         "--filed-on", today)
        assert "stage=archived" in res.stdout
        res = await _run(dev_env, q, "show", no)
        assert "administrative_remedy" in res.stdout and "（2026）晋0105行初12号" in res.stdout
        assert "rectification done" in res.stdout

        fno = fraud["case_no"]
        res = await invoke(dev_env, q, "decide-reward", fno, *CW, "--no-grant", "--reasons", "不属实")
        assert res.exit_code == 1 and "role caseworker may not decide_reward" in res.stderr
        res = await _run(dev_env, q, "decide-reward", fno, *SUP, "--grant", "--amount-band", "50000-200000",
                         "--reasons", "举报属实，追回基金300万元", "--json")
        reward = json.loads(res.stdout)["reward"]
        assert reward["granted"] and reward["amount_band"] == "50000-200000" and reward["unit"] == "SX-TY"
        res = await _run(dev_env, q, "show", fno)
        assert "granted 50000-200000 yuan" in res.stdout
