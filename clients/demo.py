"""A believable demo: a bureau's past months simulated on a clock the demo controls, its open cases live.

`generate(n, start=..., seed=..., now=...)` is pure: Shanxi complaints over the channels, kinds and categories
seen at the bureaus, each with a planned life (`CasePlan.steps`: every caseworker decision at the instant it is
taken, in working days on the province's calendar), including late acceptances, extensions, late
investigations, re-handling, reviews upheld and overturned. What a case looks like at `now` follows from its
age, not from a target stage. The newest few cases (one in twenty, at least one) arrived in the last quarter of
an hour, so the demo always has intake waiting for acceptance, whatever the hour it is run.

`split(plans, now)` cuts the plans at `now`:

* history: cases whose life ended before `now` (rejected, withdrawn, transferred, answered on the spot,
  review decided, review window lapsed). `devstack.demo` runs them on a clock-shifted time-skipping server with
  the project's worker and activities, writing the same read model, so every decision and every SLA timer
  (levels, 督办/通报 escalations, the review window) happens at its own past instant.
* live: cases still open at `now`. `run_live` registers them on the real server as cases taken over with
  their prior decisions (`PriorDecisions`: applied by the same rules at their own past instants, no notices
  sent again); a decision the take-over cannot carry (a review request and its decision) is sent as an
  ordinary decision now, so the plan keeps such a request only while its window is still open at `now`.
  Their later steps are left to the people using the monitor and the workbench.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calendars import get_calendar
from cases.models import (
    PRIOR_DECISION_NAMES,
    CaseKind,
    ComplaintRegistration,
    PriorDecision,
    PriorDecisions,
)
from cases.org import OrgDirectory, higher_bureau, load_bundled_directory
from cases.pii import id_number_check_digit
from cases.policy import policy_for
from cases.transitions import review_window_end
from clients.case_client import CaseClient, CaseClientError, DecisionRefused

CST = ZoneInfo("Asia/Shanghai")
JURISDICTION = "CN-SX"
TAKE_OVER_SOURCE = "demo"

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
class Step:
    """One planned decision: at `at`, update `name` with `payload`."""

    at: datetime
    name: str
    payload: dict[str, Any]


@dataclass
class CasePlan:
    """One demo case: its registration and its whole planned life; `closes_at` is when the plan ends the case
    (None: it would still be open after its last step, e.g. a pending extension)."""

    registration: ComplaintRegistration
    steps: list[Step] = field(default_factory=list)
    profile: str = ""
    closes_at: datetime | None = None

    @property
    def case_no(self) -> str:
        return self.registration.case_no

    def past(self, now: datetime) -> list[Step]:
        """The steps taken by `now`."""
        return [s for s in self.steps if s.at <= now]


@dataclass
class DemoReport:
    """What the live part did (the history part reports through `devstack.demo`)."""

    registered: int = 0
    taken_over_decisions: int = 0
    decisions_now: int = 0
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stages: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def describe(self) -> str:
        """A short human report."""
        stages = ", ".join(f"{k} {v}" for k, v in sorted(self.stages.items()))
        lines = [
            f"live: registered {self.registered} open cases with {self.taken_over_decisions} prior decisions, "
            f"sent {self.decisions_now} decisions now, in {self.seconds:.1f}s",
            f"open stages: {stages}",
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


# A case whose life ends this close to `now` is still open when the demo reaches the live server.
_HISTORY_MARGIN = timedelta(minutes=10)


class _Clock:
    """Moments of a case's life in working days of the province's calendar (a decision taken `wd` working
    days after `t` happens during that day's service hours; `wd` 0 means later the same day)."""

    def __init__(self, rng: random.Random, cal: Any) -> None:
        self.rng = rng
        self.cal = cal
        policy = policy_for(CaseKind.complaint, JURISDICTION)
        self.review_window_days = policy.review_window_days
        self.postal_allowance_days = policy.postal_allowance_days

    def after(self, t: datetime, wd: int) -> datetime:
        if wd <= 0:
            return t + timedelta(minutes=self.rng.randint(20, 180))
        day = self.cal.add_working_days(t.astimezone(CST).date(), wd)
        hour = self.rng.choice([9, 9, 10, 10, 11, 14, 14, 15, 15, 16])
        return datetime.combine(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)), CST)

    def review_window_end(self, feedback_at: datetime, by_letter: bool) -> datetime:
        """When the workflow closes the review window with no receipt reported (`cases.transitions`): counted
        from the presumed day of receipt, the sending day (plus the postal allowance for a letter)."""
        sent = feedback_at.astimezone(CST).date()
        received = sent + timedelta(days=self.postal_allowance_days) if by_letter else sent
        return review_window_end(received, self.review_window_days, self.cal)


def _actors(rng: random.Random, directory: OrgDirectory, unit: str) -> dict[str, dict[str, str]]:
    parent = directory.unit(unit).parent_id or unit
    higher = higher_bureau(directory, unit)
    reviewer_unit = higher.unit_id if higher is not None else parent
    return {
        "cw": {"id": f"cw-{unit.lower()}-{rng.randint(1, 3)}", "role": "caseworker", "unit_id": unit},
        "sup": {"id": f"sup-{parent.lower()}", "role": "supervisor", "unit_id": parent},
        "rev": {"id": f"rev-{reviewer_unit.lower()}-1", "role": "reviewer", "unit_id": reviewer_unit},
    }


def _investigation(rng: random.Random, clock: _Clock, t: datetime, cw: dict[str, str], sup: dict[str, str],
                   steps: list[Step], tags: list[str], *, first: bool) -> datetime:
    """The investigation from `t` (its start) to its completion; returns the completion instant."""
    earliest = t  # the completion comes after every step of the investigation
    if first and rng.random() < 0.15:
        asked = clock.after(t, rng.randint(9, 13))
        steps.append(Step(asked, "request_extension", {"actor": cw, "reason": "需调取多家机构结算数据，情况复杂"}))
        decided = clock.after(asked, rng.randint(0, 1))
        approve = rng.random() < 0.85
        steps.append(Step(decided, "decide_extension", {"actor": sup, "approve": approve, "note": ""}))
        earliest = decided
        tags.append("extended" if approve else "extension_refused")
        late = rng.random() < 0.1
        wd = (rng.randint(31, 34) if late else rng.randint(16, 29)) if approve else (
            rng.randint(16, 21) if late else rng.randint(14, 15))
    else:
        late = rng.random() < 0.08
        wd = rng.randint(16, 23) if late else rng.randint(3, 14)
    if late:
        tags.append("late_investigation")
    done = max(clock.after(t, wd), clock.after(earliest, 0))
    fault = rng.random() < 0.45
    steps.append(Step(done, "complete_investigation", {
        "actor": cw,
        "findings": "经调取结算明细核实，" + ("机构存在违规收费，已责令整改。" if fault else "机构结算符合政策规定。"),
        "legal_basis": "《医疗保障基金使用监督管理条例》",
        "institution_at_fault": fault,
        # a tracked rectification needs its own decision later (and holds the case open): the demo does not plan it
        "rectification_required": False,
    }))
    return done


def _feedback_and_visit(rng: random.Random, clock: _Clock, t: datetime, cw: dict[str, str], steps: list[Step],
                        *, rehandling: bool) -> tuple[datetime, datetime]:
    """Feedback after the investigation and the hotline's return visit; returns (feedback, visit) instants."""
    sent = clock.after(t, rng.choice([0, 1, 1, 2, 3, 4]))
    steps.append(Step(sent, "send_feedback", {"actor": cw, "message": "已将核查结果及依据告知投诉人。", **FEEDBACK_GROUNDS}))
    visited = clock.after(sent, rng.choice([0, 1, 1, 2]))
    outcome = "unsatisfied" if rehandling else _pick(
        rng, {"satisfied": 62, "basically_satisfied": 22, "unsatisfied": 9, "unreachable": 7})
    steps.append(Step(visited, "record_return_visit",
                      {"actor": INTAKE, "outcome": outcome, "request_rehandling": rehandling}))
    return sent, visited


def _life(rng: random.Random, clock: _Clock, directory: OrgDirectory, kind: str, received: datetime,
          unit: str, now: datetime, by_letter: bool) -> tuple[list[Step], str, datetime | None]:
    """The planned decisions of one case, its profile and when the plan closes it."""
    if kind == "consultation":
        return [], "answered_on_spot", received
    steps: list[Step] = []
    tags: list[str] = []
    if kind != "misconduct" and rng.random() < 0.04:
        at = clock.after(received, rng.randint(0, 2))
        steps.append(Step(at, "reject", {"actor": DISPATCHER, "reason": "不属于医保部门职责范围",
                                         "redirect_to": rng.choice(REDIRECTS)}))
        return steps, "rejected", at
    r = rng.random()
    accept_wd = rng.randint(0, 2) if r < 0.88 else (rng.randint(3, 5) if r < 0.97 else rng.randint(8, 9))
    if accept_wd > 2:
        tags.append("late_acceptance")
    accepted = clock.after(received, accept_wd)
    if kind == "misconduct":
        steps.append(Step(accepted, "accept", {"actor": DISPATCHER, "note": "转纪检监察 12388"}))
        return steps, "transferred", accepted
    steps.append(Step(accepted, "accept", {"actor": DISPATCHER, "unit_id": unit, "note": "转办"}))
    t = accepted
    if rng.random() < 0.06:  # misrouted: the unit returns it, the dispatcher assigns a sibling unit
        parent = directory.unit(unit).parent_id
        siblings = [u.unit_id for u in directory.units if u.parent_id == parent and u.unit_id != unit]
        if parent and siblings:
            cw = _actors(rng, directory, unit)["cw"]
            t = clock.after(t, rng.randint(1, 3))
            steps.append(Step(t, "return_case", {"actor": cw, "reason": "涉事机构不在本辖区"}))
            unit = rng.choice(siblings)
            t = clock.after(t, rng.randint(0, 1))
            steps.append(Step(t, "assign", {"actor": DISPATCHER, "unit_id": unit, "note": "改派"}))
            tags.append("returned")
    actors = _actors(rng, directory, unit)
    cw, sup, rev = actors["cw"], actors["sup"], actors["rev"]
    if rng.random() < 0.03:
        at = clock.after(t, rng.randint(2, 8))
        steps.append(Step(at, "withdraw", {"actor": INTAKE, "reason": "投诉人撤回"}))
        return steps, "withdrawn", at
    done = _investigation(rng, clock, t, cw, sup, steps, tags, first=True)
    rehandle = rng.random() < 0.05
    sent, visited = _feedback_and_visit(rng, clock, done, cw, steps, rehandling=rehandle)
    if rehandle:
        tags.append("rehandled")
        done = _investigation(rng, clock, visited, cw, sup, steps, tags, first=False)
        sent, visited = _feedback_and_visit(rng, clock, done, cw, steps, rehandling=False)
    if rng.random() < 0.08:
        asked = max(visited, sent + timedelta(days=rng.randint(3, 20))) + timedelta(hours=1)
        decided = clock.after(asked, rng.randint(4, 12))
        uphold = rng.random() < 0.75
        window_end = clock.review_window_end(sent, by_letter)
        if asked <= now and window_end < now and not (uphold and decided < now - _HISTORY_MARGIN):
            # still open at now, so the request would be sent now, after its window: this complainant let it go
            return steps, "+".join(tags) or "on_time", window_end
        steps.append(Step(asked, "request_review", {"actor": INTAKE, "reason": "对处理结果不服，申请复核"}))
        steps.append(Step(decided, "decide_review", {
            "actor": rev, "outcome": "uphold" if uphold else "overturn",
            "reasons": "原处理事实清楚" if uphold else "原处理认定事实不清，发回重办"}))
        if uphold:
            return steps, "+".join([*tags, "review_upheld"]), decided
        tags.append("review_overturned")
        done = _investigation(rng, clock, decided, cw, sup, steps, tags, first=False)
        sent, visited = _feedback_and_visit(rng, clock, done, cw, steps, rehandling=False)
    return steps, "+".join(tags) or "on_time", clock.review_window_end(sent, by_letter)


def generate(
    n: int,
    *,
    start: date | None = None,
    seed: int | None = None,
    now: datetime | None = None,
    directory: OrgDirectory | None = None,
    province: str = "SX",
) -> list[CasePlan]:
    """`n` demo cases received between `start` (default 90 days before now) and now, each with its life."""
    now = now or datetime.now(UTC)
    start = start or (now.astimezone(CST).date() - timedelta(days=90))
    if start > now.astimezone(CST).date():
        raise ValueError(f"{start} is in the future")
    rng = random.Random(seed if seed is not None else now.timestamp())
    directory = directory or load_bundled_directory()
    clock = _Clock(rng, get_calendar(JURISDICTION))
    areas = [u.unit_id for u in directory.units if u.level in ("city", "county") and u.unit_id in AREA_CODES]
    base = rng.randrange(1, 60_000)
    serials: Counter[str] = Counter()
    plans: list[CasePlan] = []
    fresh = max(1, n // 20)
    first_instant = datetime.combine(start, time(0), CST)
    for i in range(n):
        received = _received_at(rng, start, now)
        if i >= n - fresh:
            received = max(first_instant, now.astimezone(CST) - timedelta(minutes=rng.randint(2, 15)))
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
        steps, profile, closes_at = _life(rng, clock, directory, kind, received, area, now, channel == "mail")
        plans.append(CasePlan(registration, steps, profile, closes_at))
    return plans


def split(plans: list[CasePlan], now: datetime) -> tuple[list[CasePlan], list[CasePlan]]:
    """(history, live): the cases closed before `now` (run on the simulated clock) and those open at `now`."""
    history, live = [], []
    for p in plans:
        if p.closes_at is not None and p.closes_at < now - _HISTORY_MARGIN:
            history.append(p)
        else:
            live.append(p)
    return history, live


def take_over(plan: CasePlan, now: datetime) -> tuple[PriorDecisions | None, list[Step]]:
    """A live case's prior decisions (its past up to the first one a take-over cannot carry) and the past
    steps that must be sent as decisions now."""
    past = plan.past(now)
    cut = next((i for i, s in enumerate(past) if s.name not in PRIOR_DECISION_NAMES), len(past))
    prior = None
    if cut:
        prior = PriorDecisions(source=TAKE_OVER_SOURCE, decisions=[
            PriorDecision.model_validate({"at": s.at, "decision": {**s.payload, "decision": s.name}})
            for s in past[:cut]
        ])
    return prior, past[cut:]


async def run_live(
    cc: CaseClient, plans: list[CasePlan], *, now: datetime | None = None, concurrency: int = 20
) -> DemoReport:
    """Register the cases open at `now` as take-overs of their past, then send the past steps a take-over
    cannot carry (cases in parallel, bounded)."""
    now = now or datetime.now(UTC)
    rep = DemoReport()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sem = asyncio.Semaphore(concurrency)

    async def one(p: CasePlan) -> None:
        async with sem:
            prior, now_steps = take_over(p, now)
            try:
                await cc.register(p.registration, prior=prior)
            except CaseClientError as e:
                rep.failed.append(f"{p.case_no}: register: {e}")
                return
            rep.registered += 1
            rep.taken_over_decisions += len(prior.decisions) if prior else 0
            for step in now_steps:
                try:
                    await cc.decide(p.case_no, step.name, step.payload)
                    rep.decisions_now += 1
                except DecisionRefused as e:
                    rep.refused.append(f"{p.case_no}: {e}")
                    break
                except CaseClientError as e:
                    rep.failed.append(f"{p.case_no}: {step.name}: {e}")
                    return
            try:
                summary = await cc.summary(p.case_no)
            except CaseClientError as e:
                rep.failed.append(f"{p.case_no}: summary: {e}")
                return
            rep.stages[summary.stage.value] += 1

    await asyncio.gather(*(one(p) for p in plans))
    rep.seconds = loop.time() - t0
    return rep
