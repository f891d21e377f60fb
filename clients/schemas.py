"""JSON Schemas of the public contract, generated from the pydantic models, and the example payloads.

`python -m clients.schemas` (re)writes `schemas/`:

* `schemas/ComplaintRegistration.json` - the input of workflow `ComplaintCase` (task queue `complaints`);
* `schemas/PriorDecisions.json` - its optional second input: a case taken over from another system with the
  decisions it already went through, each at its instant;
* `schemas/updates/<update>.json` - the input of each Workflow Update (`accept`, `reject`, ...);
* `schemas/CaseSummary.json` - the result of the `summary` query (and of the finished workflow);
* `schemas/index.json` - names of the workflow, task queue, updates and query with their schema files;
* `schemas/openapi.json` - the HTTP API (`/v1`, `python -m api`), the same document it serves at /openapi.json;
* `schemas/examples/*.json` - example payloads (valid GB 11643 ID numbers, valid phones), also used by the
  interop test and the CLI walkthrough. `--check` only compares and exits 1 when the files drift.

The schemas describe shapes; some rules cannot be said in JSON Schema (the ID check digit, "case number
starts with the province of the jurisdiction") and are enforced by the models at the client and again at
the workflow boundary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from api.app import openapi_document
from cases.models import DECISION_MODELS, CaseSummary, ComplaintRegistration, PriorDecisions
from cases.pii import id_number_check_digit
from common import contract

ROOT = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], mode: str, title: str) -> dict[str, Any]:
    body = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    return {"$schema": SCHEMA_DIALECT, "$id": f"urn:yibao-complaints:{title}", **body}


def _valid_id(first17: str) -> str:
    return first17 + id_number_check_digit(first17)


def _actor(id_: str, role: str, unit: str) -> dict[str, str]:
    return {"id": id_, "role": role, "unit_id": unit}


EXAMPLE_CASE_NO = "SX2026112000123"
DISPATCHER = _actor("disp-01", "dispatcher", "SX")
INTAKE = _actor("agent-07", "intake_agent", "SX")
CASEWORKER = _actor("cw-xd-1", "caseworker", "SX-TY-XD")
SUPERVISOR = _actor("sup-SX-TY", "supervisor", "SX-TY")
REVIEWER = _actor("rev-ty-1", "reviewer", "SX-TY")


def examples() -> dict[str, Any]:
    """Example payloads by relative path under `schemas/examples/` (deterministic)."""
    registration = {
        "case_no": EXAMPLE_CASE_NO,
        "kind": "complaint",
        "channel": "hotline_12393",
        "received_at": "2026-11-20T09:30:00+08:00",
        "jurisdiction": "CN-SX",
        "category": "reimbursement",
        "complainant": {
            "name": "王丽华",
            "id_number": _valid_id("14010519850412302"),
            "phone": "13934567821",
            "card_number": "SX1401050012345678",
            "address": "太原市小店区长治路188号",
            "real_name": True,
        },
        "matter": {
            "occurred_at": "2026-11-03T15:00:00+08:00",
            "place": "太原市小店区",
            "institution": "太原市某三甲医院",
            "locality_unit": "SX-TY-XD",
            "description": "门诊慢特病费用在医院结算时未按规定比例报销，医院称系统未备案。",
        },
        "demand": "按政策补报差额并说明原因",
        "evidence": [
            {
                "uri": "s3://evidence/SX2026112000123/receipt-2026-11-03.pdf",
                "sha256": "9f2c1e4b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
            }
        ],
        "intake_actor": INTAKE,
    }
    fraud = {
        **registration,
        "case_no": "SX2026112000124",
        "kind": "fraud_report",
        "channel": "national_app",
        "category": "fund_fraud",
        "complainant": {
            "name": "李建国",
            "id_number": _valid_id("14020219720819151"),
            "phone": "0352-2345678",
            "card_number": "",
            "real_name": True,
        },
        "matter": {
            "occurred_at": "2026-10-28T10:00:00+08:00",
            "place": "大同市平城区",
            "institution": "大同市某民营医院",
            "locality_unit": "SX-DT",
            "description": "该医院组织免费体检后虚构住院，冒用参保人医保卡结算。",
        },
        "demand": "查处骗保行为",
        "evidence": [],
    }
    consultation = {
        **registration,
        "case_no": "SX2026112000125",
        "kind": "consultation",
        "channel": "wechat",
        "category": "enrolment",
        "matter": {"description": "咨询灵活就业人员如何办理居民医保参保缴费。"},
        "demand": "",
        "evidence": [],
        "on_the_spot_answer": "可通过国家医保服务平台APP或当地医保经办窗口办理，携带身份证即可。",
    }
    updates: dict[str, dict[str, Any]] = {
        "accept": {"actor": DISPATCHER, "unit_id": "SX-TY-XD", "note": "属实性待核，转小店区医保局办理"},
        "reject": {
            "actor": DISPATCHER,
            "reason": "反映事项属于劳动争议，不属于医保部门职责",
            "redirect_to": "12345政务服务便民热线 / 劳动人事争议仲裁委员会",
        },
        "assign": {"actor": DISPATCHER, "unit_id": "SX-TY-YZ", "overrule": False, "note": "改派迎泽区"},
        "return_case": {"actor": CASEWORKER, "reason": "涉事医院位于迎泽区，不属本单位辖区"},
        "request_extension": {"actor": CASEWORKER, "reason": "需调取医院近三个月结算明细，涉及多个科室"},
        "decide_extension": {"actor": SUPERVISOR, "approve": True, "note": "同意延期至30个工作日"},
        "complete_investigation": {
            "actor": CASEWORKER,
            "findings": "医院未及时为患者办理门诊慢特病备案，导致按普通门诊结算。",
            "legal_basis": "《山西省门诊慢特病管理办法》第十二条",
            "institution_at_fault": True,
            "rectification_required": True,
        },
        "send_feedback": {
            "actor": CASEWORKER,
            "message": "经核实，医院已补办备案并退还差额，后续结算按慢特病比例执行。",
        },
        "record_return_visit": {"actor": INTAKE, "outcome": "satisfied", "request_rehandling": False, "note": ""},
        "request_review": {"actor": INTAKE, "reason": "对差额计算有异议，申请复核"},
        "decide_review": {"actor": REVIEWER, "outcome": "uphold", "reasons": "原处理认定事实清楚，依据正确"},
        "withdraw": {"actor": INTAKE, "reason": "投诉人表示问题已自行解决"},
        "merge_into": {"actor": DISPATCHER, "target_case_no": "SX2026111900042"},
    }
    out: dict[str, Any] = {
        "registration.json": registration,
        "registration_fraud_report.json": fraud,
        "registration_consultation.json": consultation,
    }
    for name, body in updates.items():
        out[f"updates/{name}.json"] = {"decision": name, **body}
    return out


def _openapi() -> dict[str, Any]:
    return openapi_document()


def generate() -> dict[str, str]:
    """Every file under `schemas/` by relative path -> exact text (sorted keys, 2-space indent, newline)."""
    files: dict[str, Any] = {
        "ComplaintRegistration.json": _schema(ComplaintRegistration, "validation", "ComplaintRegistration"),
        "CaseSummary.json": _schema(CaseSummary, "serialization", "CaseSummary"),
        "PriorDecisions.json": _schema(PriorDecisions, "validation", "PriorDecisions"),
    }
    for name, model in DECISION_MODELS.items():
        files[f"updates/{name}.json"] = _schema(model, "validation", f"updates/{name}")
    files["index.json"] = {
        "workflow_type": contract.WORKFLOW_TYPE,
        "task_queue": contract.TASK_QUEUE,
        "workflow_id": contract.workflow_id("<case_no>"),
        "workflow_input": "ComplaintRegistration.json",
        "workflow_input_take_over": "PriorDecisions.json",
        "workflow_result": "CaseSummary.json",
        "queries": {contract.SUMMARY_QUERY: {"input": None, "result": "CaseSummary.json"}},
        "updates": {
            name: {"input": f"updates/{name}.json", "result": "CaseSummary.json", "example": f"examples/updates/{name}.json"}
            for name in DECISION_MODELS
        },
        "search_attributes": contract.SEARCH_ATTRIBUTES,
    }
    for rel, body in examples().items():
        files[f"examples/{rel}"] = body
    files["openapi.json"] = _openapi()
    return {rel: json.dumps(body, ensure_ascii=False, indent=2) + "\n" for rel, body in sorted(files.items())}


def write(root: Path = ROOT) -> list[str]:
    """Write the generated files under `root`; returns the relative paths that changed."""
    changed = []
    for rel, text in generate().items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(rel)
    return changed


def drift(root: Path = ROOT) -> list[str]:
    """Relative paths whose checked-in text differs from the models (missing files included)."""
    out = []
    for rel, text in generate().items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m clients.schemas [--check] [--out DIR]`."""
    p = argparse.ArgumentParser(prog="python -m clients.schemas", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if the files drift")
    p.add_argument("--out", type=Path, default=ROOT, help="target folder (default: the repo's schemas/)")
    args = p.parse_args(argv)
    if args.check:
        bad = drift(args.out)
        for rel in bad:
            print(f"drift: {rel}", file=sys.stderr)
        return 1 if bad else 0
    for rel in write(args.out):
        print(f"wrote {args.out / rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
