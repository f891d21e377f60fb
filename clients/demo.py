"""A realistic demo generator: Shanxi complaints over the channels, kinds and categories seen at the bureaus,
each with a plan of caseworker decisions that leaves it in a believable stage.

`generate(n, start=..., seed=...)` is pure (a random generator seeded by `seed`, "now" passed in or read
once from the real clock): it returns `CasePlan`s (a registration + the decisions to send). `run(case_client,
plans)` registers the cases and sends the decisions through the normal `CaseClient`, with bounded
concurrency.

Time: registrations get `received_at` spread over working hours between `start` and now, so old cases are
late at acceptance (red, escalated) while recent ones are on track. Decisions happen at the system's real
clock (the workflow uses `workflow.now()`); the generator never fakes it. So the spread over months is in
the receipt dates and the stage mix (older cases got further: extended, reviewed, archived), not in the
decision timestamps.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cases.models import CaseSummary, ComplaintRegistration
from cases.org import OrgDirectory, load_bundled_directory
from cases.pii import id_number_check_digit
from clients.case_client import CaseClient, CaseClientError, DecisionRefused

CST = ZoneInfo("Asia/Shanghai")

CHANNELS = {  # share of intake per channel (the 12393 hotline dominates)
    "hotline_12393": 44,
    "national_app": 18,
    "service_hall": 12,
    "wechat": 11,
    "provincial_web": 8,
    "national_web": 4,
    "mail": 3,
}
KINDS = {"complaint": 78, "fraud_report": 10, "consultation": 8, "misconduct": 4}
COMPLAINT_CATEGORIES = {"reimbursement": 40, "designated_institution": 22, "pharmacy": 14, "enrolment": 14, "other": 10}
AREA_CODES = {  # GB/T 2260 codes for the ID numbers of people living in each unit's area
    "SX-TY": "140100", "SX-TY-XD": "140105", "SX-TY-YZ": "140106", "SX-TY-QX": "140121",
    "SX-DT": "140200", "SX-DT-PC": "140213", "SX-DT-YG": "140214", "SX-YQ": "140302",
    "SX-CZ": "140400", "SX-CZ-LZ": "140403", "SX-CZ-SD": "140404", "SX-JC": "140502",
    "SX-SZ": "140602", "SX-JZ": "140702", "SX-YC": "140800", "SX-YC-YH": "140802",
    "SX-YC-YJ": "140881", "SX-XZ": "140902", "SX-LF": "141002", "SX-LL": "141102",
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华文玉兰红梅志国淑珍海燕春生永红凤英"
INSTITUTIONS = ["市第一人民医院", "市中心医院", "中医医院", "妇幼保健院", "康宁大药房", "仁和医院", "社区卫生服务中心", "骨科医院"]
DESCRIPTIONS = {
    "reimbursement": [
        "住院费用结算时报销比例明显低于政策规定，医院解释不清。",
        "异地就医备案后回参保地报销被告知材料不全，多次补交仍未办结。",
        "门诊慢特病待遇认定通过后，结算时仍按普通门诊报销。",
    ],
    "designated_institution": [
        "医院要求自费购买院外药品，否则不予办理住院。",
        "出院结算清单中有未实施的检查项目收费。",
        "医生分解住院，要求办理出院后再重新入院。",
    ],
    "pharmacy": ["定点药店刷医保卡购药时被要求搭配购买保健品。", "药店医保结算价格明显高于挂网价格。"],
    "enrolment": ["灵活就业人员缴费后系统显示未参保，影响就医报销。", "新生儿参保登记办理超时，窗口推诿。"],
    "other": ["医保电子凭证无法激活，客服电话长期占线。", "医保经办窗口办理时间与公示不符。"],
    "fund_fraud": [
        "某医院组织老年人免费体检后虚构住院并刷卡结算。",
        "某药店用医保卡兑换生活用品和现金。",
        "某诊所冒用他人医保卡开药后转卖。",
    ],
    "staff_conduct": ["经办人员要求送礼后才给办理报销。", "窗口工作人员推诿扯皮，让来回跑了五次。"],
}
# the basis and reasons every feedback states (seed 000: 说明依据及理由)
FEEDBACK_GROUNDS = {"basis": "《医疗保障基金使用监督管理条例》及定点医药机构服务协议", "reasons": "依据核查的结算明细作出"}
DEMANDS = ["按政策报销并说明理由", "退还多收费用", "查处违规行为并反馈结果", "尽快办结", "给出书面答复"]
REDIRECTS = ["12345政务服务便民热线", "当地劳动人事争议仲裁委员会", "卫生健康委员会医政医管部门", "人民法院"]

DISPATCHER = {"id": "disp-01", "role": "dispatcher", "unit_id": "SX"}
INTAKE = {"id": "agent-12393-07", "role": "intake_agent", "unit_id": "SX"}


@dataclass
class CasePlan:
    """One demo case: its registration and the decisions (update name, payload) to send in order."""

    registration: ComplaintRegistration
    decisions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    target: str = "acceptance"


@dataclass
class DemoReport:
    """What `run` did."""

    registered: int = 0
    decisions: int = 0
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stages: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def describe(self) -> str:
        """A short human report."""
        stages = ", ".join(f"{k} {v}" for k, v in sorted(self.stages.items()))
        lines = [
            f"registered {self.registered} cases, sent {self.decisions} decisions in {self.seconds:.1f}s",
            f"stages: {stages}",
        ]
        if self.refused:
            lines.append(f"{len(self.refused)} decision(s) refused, e.g. {self.refused[0]}")
        if self.failed:
            lines.append(f"{len(self.failed)} case(s) failed, e.g. {self.failed[0]}")
        return "\n".join(lines)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _id_number(rng: random.Random, area: str) -> str:
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 65))
    first17 = f"{area}{birth:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return first17 + id_number_check_digit(first17)


def _phone(rng: random.Random) -> str:
    return rng.choice(["13", "15", "18", "17", "19"]) + f"{rng.randrange(0, 10)}" + f"{rng.randrange(0, 10**8):08d}"


def _received_at(rng: random.Random, start: date, now: datetime) -> datetime:
    span = max(0, (now.astimezone(CST).date() - start).days)
    for _ in range(20):
        d = start + timedelta(days=rng.randint(0, span))
        if d.weekday() < 5 or rng.random() < 0.15:  # the hotline also answers on weekends, less
            break
    hour = rng.choice([8, 9, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17, 19])
    at = datetime.combine(d, time(hour, rng.randrange(60), rng.randrange(60)), CST)
    return min(at, now.astimezone(CST) - timedelta(minutes=1))


def _target(rng: random.Random, kind: str, age_days: float) -> str:
    """The stage a case should reach: older cases got further."""
    if kind == "consultation":
        return "answered"
    if kind == "misconduct":
        return rng.choice(["acceptance", "transferred", "transferred"]) if age_days > 2 else "acceptance"
    if age_days < 2:
        return _pick(rng, {"acceptance": 60, "investigation": 25, "dispatch": 10, "rejected": 5})
    if age_days < 25:
        return _pick(
            rng,
            {"acceptance": 6, "rejected": 4, "merged": 2, "dispatch": 6, "returned": 5, "investigation": 40,
             "extension_requested": 8, "extended": 8, "extension_refused": 3, "feedback": 10, "withdrawn": 3,
             "return_visit": 5},
        )
    return _pick(
        rng,
        {"acceptance": 2, "rejected": 4, "merged": 2, "dispatch": 2, "returned": 3, "investigation": 10,
         "extended": 10, "feedback": 6, "return_visit": 8, "review_window": 22, "rehandling": 5,
         "under_review": 8, "upheld": 10, "overturned": 4, "withdrawn": 4},
    )


def _plan_decisions(
    rng: random.Random, directory: OrgDirectory, target: str, unit: str, kind: str, open_cases: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    u = directory.unit(unit)
    parent = u.parent_id or unit
    cw = {"id": f"cw-{unit.lower()}-{rng.randint(1, 3)}", "role": "caseworker", "unit_id": unit}
    sup = {"id": f"sup-{parent}", "role": "supervisor", "unit_id": parent}
    rev = {"id": f"rev-{parent.lower()}-1", "role": "reviewer", "unit_id": parent}
    out: list[tuple[str, dict[str, Any]]] = []
    if target in ("acceptance", "answered"):
        return out
    if target == "rejected":
        return [("reject", {"actor": DISPATCHER, "reason": "不属于医保部门职责范围", "redirect_to": rng.choice(REDIRECTS)})]
    if target == "merged":
        if open_cases:
            return [("merge_into", {"actor": DISPATCHER, "target_case_no": rng.choice(open_cases)})]
        target = "investigation"
    if target == "transferred":
        return [("accept", {"actor": DISPATCHER, "note": "转纪检监察 12388"})]
    if target == "dispatch":
        return [("accept", {"actor": DISPATCHER, "note": "待分派"})]
    if target == "returned":
        siblings = [x.unit_id for x in directory.units if x.parent_id == parent and x.unit_id != unit] or [parent]
        other = rng.choice(siblings) if parent != unit else unit
        if other == unit:
            return [("accept", {"actor": DISPATCHER, "unit_id": unit})]
        return [
            ("accept", {"actor": DISPATCHER, "unit_id": unit}),
            ("return_case", {"actor": cw, "reason": "涉事机构不在本辖区"}),
            ("assign", {"actor": DISPATCHER, "unit_id": other, "note": "改派"}),
        ]
    out.append(("accept", {"actor": DISPATCHER, "unit_id": unit, "note": "转办"}))
    if target == "withdrawn":
        out.append(("withdraw", {"actor": INTAKE, "reason": "投诉人撤回"}))
        return out
    if target in ("extension_requested", "extended", "extension_refused") or (target not in ("investigation",) and rng.random() < 0.25):
        out.append(("request_extension", {"actor": cw, "reason": "需调取多家机构结算数据，情况复杂"}))
        if target != "extension_requested":
            out.append(("decide_extension", {"actor": sup, "approve": target != "extension_refused", "note": ""}))
    if target in ("investigation", "extension_requested", "extended", "extension_refused"):
        return out
    fault = rng.random() < 0.45
    out.append(
        ("complete_investigation", {
            "actor": cw,
            "findings": "经调取结算明细核实，" + ("机构存在违规收费，已责令整改。" if fault else "机构结算符合政策规定。"),
            "legal_basis": "《医疗保障基金使用监督管理条例》",
            "institution_at_fault": fault,
            "rectification_required": fault and rng.random() < 0.7,
        })
    )
    if target == "feedback":
        return out
    out.append(("send_feedback", {"actor": cw, "message": "已将核查结果告知投诉人。", **FEEDBACK_GROUNDS}))
    if target == "return_visit":
        return out
    if target == "rehandling":
        out.append(("record_return_visit", {"actor": INTAKE, "outcome": "unsatisfied", "request_rehandling": True}))
        return out
    outcome = _pick(rng, {"satisfied": 62, "basically_satisfied": 22, "unsatisfied": 9, "unreachable": 7})
    out.append(("record_return_visit", {"actor": INTAKE, "outcome": outcome, "request_rehandling": False}))
    if target == "review_window":
        return out
    out.append(("request_review", {"actor": INTAKE, "reason": "对处理结果不服，申请复核"}))
    if target == "under_review":
        return out
    up = target == "upheld"
    out.append(
        ("decide_review", {"actor": rev, "outcome": "uphold" if up else "overturn",
                           "reasons": "原处理事实清楚" if up else "原处理认定事实不清，发回重办"})
    )
    return out


def generate(
    n: int,
    *,
    start: date | None = None,
    seed: int | None = None,
    now: datetime | None = None,
    directory: OrgDirectory | None = None,
    province: str = "SX",
) -> list[CasePlan]:
    """`n` demo cases received between `start` (default 90 days before now) and now, with decision plans."""
    now = now or datetime.now(UTC)
    start = start or (now.astimezone(CST).date() - timedelta(days=90))
    if start > now.astimezone(CST).date():
        raise ValueError(f"{start} is in the future")
    rng = random.Random(seed if seed is not None else now.timestamp())
    directory = directory or load_bundled_directory()
    areas = [u.unit_id for u in directory.units if u.level in ("city", "county") and u.unit_id in AREA_CODES]
    base = rng.randrange(1, 60_000)
    serials: Counter[str] = Counter()
    plans: list[CasePlan] = []
    open_cases: list[str] = []
    for _ in range(n):
        received = _received_at(rng, start, now)
        day = f"{received:%Y%m%d}"
        serials[day] += 1
        case_no = f"{province}{day}{base + serials[day]:05d}"
        kind = _pick(rng, KINDS)
        channel = _pick(rng, CHANNELS)
        if kind == "fraud_report":
            category = "fund_fraud"
        elif kind == "misconduct":
            category = "staff_conduct"
        else:
            category = _pick(rng, COMPLAINT_CATEGORIES)
        area = rng.choice(areas)
        city = area if directory.unit(area).level == "city" else (directory.unit(area).parent_id or area)
        city_name = directory.unit(city).name.removesuffix("医疗保障局").removesuffix("市")
        real_name = kind != "fraud_report" or rng.random() < 0.6
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
        reg: dict[str, Any] = {
            "case_no": case_no,
            "kind": kind,
            "channel": channel,
            "received_at": received.isoformat(),
            "jurisdiction": "CN-SX",
            "category": category,
            "complainant": {
                "name": name if real_name else "匿名",
                "id_number": _id_number(rng, AREA_CODES[area] if rng.random() < 0.9 else "130102"),
                "phone": _phone(rng) if rng.random() < 0.92 else f"0351-{rng.randrange(10**6, 10**7)}",
                "card_number": f"SX{AREA_CODES[area]}{rng.randrange(10**9, 10**10)}",
                "address": f"{directory.unit(area).name.removesuffix('医疗保障局')}某街道{rng.randint(1, 300)}号" if channel == "mail" else None,
                "real_name": real_name,
            },
            "matter": {
                "occurred_at": (received - timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 8))).isoformat(),
                "place": directory.unit(area).name.removesuffix("医疗保障局"),
                "institution": f"{city_name}{rng.choice(INSTITUTIONS)}",
                "locality_unit": area,
                "description": rng.choice(DESCRIPTIONS[category]),
            },
            "demand": rng.choice(DEMANDS),
            "evidence": [
                {"uri": f"s3://evidence/{case_no}/{i}.jpg", "sha256": f"{rng.getrandbits(256):064x}"}
                for i in range(rng.choice([0, 0, 1, 2]))
            ],
            "intake_actor": INTAKE,
        }
        if kind == "consultation":
            reg["on_the_spot_answer"] = "已当场告知办理流程及所需材料。"
            reg["demand"] = ""
        registration = ComplaintRegistration.model_validate(reg)
        age = (now - received).total_seconds() / 86400
        target = _target(rng, kind, age)
        unit = area
        decisions = _plan_decisions(rng, directory, target, unit, kind, open_cases[-20:])
        plans.append(CasePlan(registration, decisions, target))
        if target in ("acceptance", "dispatch", "investigation", "extended"):
            open_cases.append(case_no)
    return plans


async def run(cc: CaseClient, plans: list[CasePlan], *, concurrency: int = 20) -> DemoReport:
    """Register each plan's case and send its decisions in order (cases in parallel, bounded)."""
    rep = DemoReport()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sem = asyncio.Semaphore(concurrency)

    async def one(p: CasePlan) -> None:
        async with sem:
            case_no = p.registration.case_no
            try:
                await cc.register(p.registration)
            except CaseClientError as e:
                rep.failed.append(f"{case_no}: register: {e}")
                return
            rep.registered += 1
            last: CaseSummary | None = None
            for name, payload in p.decisions:
                try:
                    last = await cc.decide(case_no, name, payload)
                    rep.decisions += 1
                except DecisionRefused as e:
                    rep.refused.append(f"{case_no}: {e}")
                    break
                except CaseClientError as e:
                    rep.failed.append(f"{case_no}: {name}: {e}")
                    return
            if last is not None:
                rep.stages[last.stage.value] += 1
            else:
                rep.stages["archived" if p.registration.kind.value == "consultation" else "acceptance"] += 1

    await asyncio.gather(*(one(p) for p in plans))
    rep.seconds = loop.time() - t0
    return rep
