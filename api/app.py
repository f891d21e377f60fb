"""The FastAPI application: cases, decisions, work list and calendar questions under `/v1`.

Every route needs credentials (`Authorization: Bearer <JWT>` for people, `X-API-Key` for intake systems).
The actor of a decision is the verified caller, never a field of the body. A case outside the caller's scope
answers 404 exactly like an unknown one. Temporal is reached through `CaseClient` (it validates, encrypts and
turns refusals into `DecisionRefused`); lists and the work list read the PostgreSQL read model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import RPCError

from activities.db import create_pool
from activities.outbox import DEFAULT_MAX_ATTEMPTS
from api import idempotency
from api.auth import (
    JWKS_FILE,
    Principal,
    TokenVerifier,
    Unauthenticated,
    machine,
    verifier_for,
)
from api.metrics import RequestMetrics
from api.problems import PROBLEM_RESPONSES, ApiProblem, install, problem_body, problem_media_type_only
from api.settings import ApiSettings, get_api_settings
from cases import sla
from cases.models import (
    DECISION_MODELS,
    CaseKind,
    CaseSummary,
    Channel,
    ComplaintRegistration,
    Role,
    SlaLevel,
    Stage,
)
from cases.org import OrgDirectory, load_bundled_directory
from cases.policy import policy_for
from clients.case_client import (
    CaseClient,
    CaseClientError,
    CaseNotFound,
    DecisionRefused,
    InvalidInput,
    gather_limited,
    no_such_workflow,
)
from common.contract import SEARCH_ATTRIBUTE_KEYS
from common.metrics import ReadModelCollector, read_model_registry
from common.settings import Settings, get_settings
from dashboard.queries import effective_calendar, scope_predicate

API_TITLE = "Complaint cases API (医保投诉工单)"
API_VERSION = "1.0.0"

# what each decision means on a work list; decisions not named here (withdraw, merge_into, request_review)
# are taken when someone asks for them, not items waiting for the person
WORK_GROUPS: dict[str, str] = {
    "accept": "to_accept",
    "reject": "to_accept",
    "assign": "to_assign",
    "complete_investigation": "to_investigate",
    "return_case": "to_investigate",
    "request_extension": "to_investigate",
    "send_feedback": "feedback_due",
    "record_return_visit": "return_visit",
    "decide_review": "review_decision",
    "decide_extension": "extension_approval",
}


# ------------------------------------------------------------------------------------------- models


class CaseView(BaseModel):
    """A case as the caller may see it: the masked summary and the decisions the caller may take now."""

    summary: CaseSummary
    allowed_decisions: list[str] = Field(description="decision names this caller may send now")


class Registered(BaseModel):
    case_no: str
    created: bool = Field(description="true: this request opened the case; false: it already existed")


class CaseRow(BaseModel):
    """One row of the read model (masked; PostgreSQL, a moment behind Temporal)."""

    case_no: str
    kind: str
    channel: str
    category: str
    jurisdiction: str
    handling_unit: str | None
    stage: str
    open: bool
    sla_level: str
    due_at: datetime | None
    registered_at: datetime
    closed_at: datetime | None
    close_reason: str | None


class CasePage(BaseModel):
    items: list[CaseRow]
    total: int
    limit: int
    offset: int


class WorkItem(BaseModel):
    case_no: str
    expected: list[str] = Field(description="work groups: to_accept, to_assign, to_investigate, ...")
    allowed_decisions: list[str]
    stage: str
    sla_level: str
    due_at: datetime | None
    handling_unit: str | None


class WorkList(BaseModel):
    actor_id: str
    role: Role
    unit_id: str
    items: list[WorkItem]


class WorkingDay(BaseModel):
    jurisdiction: str
    date: date
    working_day: bool
    day_kind: str
    holiday: str | None
    provisional: bool


class AddedWorkingDays(BaseModel):
    jurisdiction: str
    start: date
    days: int
    date: date
    provisional: bool


class ClockDeadline(BaseModel):
    jurisdiction: str
    clock: str
    kind: CaseKind
    started_at: datetime
    working_days: int
    due_at: datetime
    blue_at: datetime | None
    yellow_at: datetime | None
    provisional: bool


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


def _body_model(name: str, model: type[BaseModel]) -> type[BaseModel]:
    """The decision's fields without `actor` and `decision`: the actor comes from the credentials."""
    fields: dict[str, Any] = {
        k: (f.annotation, f) for k, f in model.model_fields.items() if k not in ("actor", "decision")
    }
    camel = "".join(p.title() for p in name.split("_"))
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{camel}Body", __config__=ConfigDict(extra="forbid"), __doc__=model.__doc__, **fields
    )


DECISION_BODIES: dict[str, type[BaseModel]] = {n: _body_model(n, m) for n, m in DECISION_MODELS.items()}


# -------------------------------------------------------------------------------------------- state


@dataclass
class Services:
    settings: Settings
    api: ApiSettings
    client: CaseClient
    pool: asyncpg.Pool
    verifier: TokenVerifier
    directory: OrgDirectory
    read_model: ReadModelCollector | None = None


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False, description="OIDC access token (JWT)")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="intake system key (cak_...)")


async def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    svc = services(request)
    try:
        if bearer is not None:
            return svc.verifier.person(bearer.credentials, svc.directory)
        if api_key:
            return await machine(svc.pool, api_key)
    except Unauthenticated as e:
        raise ApiProblem(401, str(e)) from None
    raise ApiProblem(401, "credentials required: Authorization: Bearer <token> or X-API-Key")


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]
CaseNo = Annotated[str, Path(description="case number, e.g. SX2026112000123", pattern=r"^[A-Z]{2}\d{13}$")]


def _visible(p: Principal, handling_unit: str | None, jurisdiction: str, channel: str, directory: OrgDirectory) -> bool:
    """A person sees their unit's subtree (an unassigned case sits at the provincial centre); an intake
    system sees its jurisdiction's cases of its channels."""
    if p.kind == "machine":
        return jurisdiction == p.jurisdiction and p.channels is not None and channel in p.channels
    if handling_unit is not None:
        return handling_unit in p.scope_units
    return directory.provincial_centre in p.scope_units


def _nul_field(data: Any, path: str = "") -> str | None:
    """The dotted path of the first text holding U+0000, which PostgreSQL text and jsonb cannot store (the
    read model would refuse the case's events), or None."""
    if isinstance(data, str):
        return (path or "(body)") if "\x00" in data else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        hit = _nul_field(v, f"{path}.{k}" if path else str(k))
        if hit:
            return hit
    return None


def _refuse_nul(data: Any) -> None:
    field = _nul_field(data)
    if field is not None:
        raise ApiProblem(422, f"{field}: must not contain the NUL character (U+0000)",
                         errors=[{"field": field, "message": "must not contain the NUL character (U+0000)"}])


def _not_found(case_no: str) -> ApiProblem:
    return ApiProblem(404, f"case {case_no} not found")


def _client_problem(e: CaseClientError) -> ApiProblem:
    if isinstance(e, InvalidInput):
        return ApiProblem(422, str(e), errors=e.errors)
    if isinstance(e, DecisionRefused):
        return ApiProblem(409, e.reason, type_="urn:yibao-complaints:decision-refused")
    if isinstance(e, CaseNotFound):
        return _not_found(e.case_no)
    return ApiProblem(503, str(e))


async def _visible_summary(svc: Services, p: Principal, case_no: str) -> CaseSummary:
    try:
        summary = await svc.client.summary(case_no)
    except CaseClientError as e:
        raise _client_problem(e) from None
    if not _visible(p, summary.handling_unit, summary.jurisdiction, summary.channel.value, svc.directory):
        raise _not_found(case_no)
    return summary


# the search attributes a case's scope is read from, without a workflow task (`_check_scope`)
_SCOPE_KEYS = {name: SEARCH_ATTRIBUTE_KEYS[name] for name in ("HandlingUnit", "Jurisdiction", "Channel")}


async def _check_scope(svc: Services, p: Principal, case_no: str) -> None:
    """404 unless the case is in the caller's scope, from the case's search attributes (the server answers;
    no workflow task). A case still registering has none yet: then its summary decides."""
    try:
        desc = await svc.client.handle(case_no).describe(rpc_timeout=svc.client.rpc_timeout)
    except InvalidInput as e:
        raise _client_problem(e) from None
    except RPCError as e:
        if no_such_workflow(e):
            raise _not_found(case_no) from None
        raise ApiProblem(503, f"case {case_no}: {e.message}") from None
    sa = desc.typed_search_attributes
    jurisdiction, channel = sa.get(_SCOPE_KEYS["Jurisdiction"]), sa.get(_SCOPE_KEYS["Channel"])
    if jurisdiction is None or channel is None:
        await _visible_summary(svc, p, case_no)
        return
    if not _visible(p, sa.get(_SCOPE_KEYS["HandlingUnit"]), jurisdiction, channel, svc.directory):
        raise _not_found(case_no)


async def _view(svc: Services, p: Principal, summary: CaseSummary) -> CaseView:
    allowed: list[str] = []
    if summary.open:
        try:
            allowed = await svc.client.allowed_decisions(summary.case_no, p.actor)
        except CaseClientError as e:
            raise _client_problem(e) from None
    return CaseView(summary=summary, allowed_decisions=allowed)


# ------------------------------------------------------------------------------------------- routes

v1 = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@v1.post("/cases", response_model=Registered, status_code=201, tags=["cases"],
         responses={200: {"model": Registered, "description": "the case already existed"}})
async def register_case(reg: ComplaintRegistration, p: Caller, svc: Svc, response: Response) -> Registered:
    """Register a case. The case number is the idempotency key: the same number again answers 200 with the
    existing case and never opens a second one."""
    if p.kind == "machine":
        if reg.channel.value not in (p.channels or ()):
            raise ApiProblem(403, f"this API key may not register cases of channel {reg.channel.value}")
        if reg.jurisdiction != p.jurisdiction:
            raise ApiProblem(403, f"this API key acts for {p.jurisdiction}, not {reg.jurisdiction}")
    elif p.actor.role not in (Role.intake_agent, Role.dispatcher):
        raise ApiProblem(403, f"role {p.actor.role.value} may not register cases")
    elif svc.directory.provincial_centre not in p.scope_units:
        raise ApiProblem(403, f"unit {p.actor.unit_id} does not take in cases for {reg.jurisdiction}")
    _refuse_nul(reg.model_dump(mode="json"))
    # the intake actor is the caller, whatever the body says
    reg = reg.model_copy(update={"intake_actor": p.actor})
    first = False
    try:
        existed = await svc.client.exists(reg.case_no)
        # 201 goes to the one request that claims the number first; the case itself is started with
        # USE_EXISTING, so concurrent or repeated requests still make one case
        first = not existed and bool(await svc.pool.fetchval(
            "INSERT INTO api_registrations (case_no, principal) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            reg.case_no, p.key,
        ))
        await svc.client.register(reg)
    except CaseClientError as e:
        if first:  # not started after all: the next attempt is the first again
            await svc.pool.execute("DELETE FROM api_registrations WHERE case_no = $1", reg.case_no)
        raise _client_problem(e) from None
    response.headers["Location"] = f"/v1/cases/{reg.case_no}"
    if not first:
        response.status_code = 200
    return Registered(case_no=reg.case_no, created=bool(first))


@v1.get("/cases/{case_no}", response_model=CaseView, tags=["cases"])
async def read_case(case_no: CaseNo, p: Caller, svc: Svc) -> CaseView:
    """The masked summary and the decisions the caller may take now."""
    return await _view(svc, p, await _visible_summary(svc, p, case_no))


def _scope_sql(p: Principal, args: list[Any]) -> str:
    if p.kind == "machine":
        args += [p.jurisdiction, sorted(p.channels or ())]
        return f"(c.jurisdiction = ${len(args) - 1} AND c.channel = ANY(${len(args)}::text[]))"
    args.append(sorted(p.scope_units))
    return scope_predicate("c.handling_unit", "c.jurisdiction", f"${len(args)}")


UnitId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$")]
JurisdictionCode = Annotated[str, StringConstraints(pattern=r"^CN(-[A-Z]{2}(-[A-Z0-9]{1,4})?)?$")]
_ROW_COLUMNS = ("case_no, kind, channel, category, jurisdiction, handling_unit, stage, open, sla_level, due_at, "
                "registered_at, closed_at, close_reason")


@v1.get("/cases", response_model=CasePage, tags=["cases"])
async def list_cases(
    p: Caller,
    svc: Svc,
    stage: Annotated[list[Stage] | None, Query(description="CaseStage, any of")] = None,
    level: Annotated[list[SlaLevel] | None, Query(description="SLA level, any of")] = None,
    unit: Annotated[list[UnitId] | None, Query(description="handling unit, any of", max_length=50)] = None,
    jurisdiction: Annotated[list[JurisdictionCode] | None, Query(max_length=50)] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    kind: Annotated[list[CaseKind] | None, Query()] = None,
    due_after: Annotated[datetime | None, Query(description="next deadline at or after")] = None,
    due_before: Annotated[datetime | None, Query(description="next deadline before")] = None,
    open_only: bool = False,
    case_no: Annotated[str | None, Query(description="case number prefix", max_length=15, pattern=r"^[A-Z0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CasePage:
    """Cases in the caller's scope from the read model, soonest deadline first (filters as `complaints list`)."""
    args: list[Any] = []
    where = [_scope_sql(p, args)]

    def any_of(column: str, values: list[Any] | None) -> None:
        if values:
            args.append([str(v) for v in values])
            where.append(f"c.{column} = ANY(${len(args)}::text[])")

    any_of("stage", stage)
    any_of("sla_level", level)
    any_of("handling_unit", unit)
    any_of("jurisdiction", jurisdiction)
    any_of("channel", channel)
    any_of("kind", kind)
    if due_after is not None:
        args.append(due_after)
        where.append(f"c.due_at >= ${len(args)}")
    if due_before is not None:
        args.append(due_before)
        where.append(f"c.due_at < ${len(args)}")
    if open_only:
        where.append("c.open")
    if case_no:
        args.append(case_no + "%")
        where.append(f"c.case_no LIKE ${len(args)}")
    args += [limit, offset]
    rows = await svc.pool.fetch(
        f"SELECT {_ROW_COLUMNS}, count(*) OVER () AS total FROM cases c WHERE {' AND '.join(where)} "
        f"ORDER BY c.due_at NULLS LAST, c.case_no LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    total = rows[0]["total"] if rows else 0
    if not rows and offset:
        total = await svc.pool.fetchval(f"SELECT count(*) FROM cases c WHERE {' AND '.join(where)}", *args[:-2])
    items = [CaseRow(**{k: v for k, v in dict(r).items() if k != "total"}) for r in rows]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@v1.get("/me/work", response_model=WorkList, tags=["work"])
async def work_list(p: Caller, svc: Svc) -> WorkList:
    """The caller's open items (待办): cases in scope where a decision is expected of them now, soonest
    deadline first. What is expected comes from the case's own rules (`allowed_decisions`)."""
    args: list[Any] = []
    scope = _scope_sql(p, args)
    args.append(svc.api.work_list_limit)
    rows = await svc.pool.fetch(
        f"SELECT case_no, stage, sla_level, due_at, handling_unit FROM cases c WHERE c.open AND {scope} "
        f"ORDER BY c.due_at NULLS LAST, c.case_no LIMIT ${len(args)}",
        *args,
    )
    allowed = await gather_limited(
        [(lambda no=r["case_no"]: svc.client.allowed_decisions(no, p.actor)) for r in rows], concurrency=16
    )
    items = []
    for r, names in zip(rows, allowed, strict=True):
        if isinstance(names, CaseNotFound):
            continue
        if isinstance(names, Exception):
            raise _client_problem(names) if isinstance(names, CaseClientError) else names
        expected = sorted({WORK_GROUPS[n] for n in names if n in WORK_GROUPS})
        if expected:
            items.append(WorkItem(expected=expected, allowed_decisions=names, **dict(r)))
    return WorkList(actor_id=p.actor.id, role=p.actor.role, unit_id=p.actor.unit_id, items=items)


def _decision_route(name: str, body_model: type[BaseModel]) -> Callable[..., Any]:
    async def decide(
        case_no: CaseNo,
        p: Caller,
        svc: Svc,
        body: BaseModel,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> Any:
        payload = body.model_dump(mode="json", exclude_unset=True)
        _refuse_nul(payload)
        key = None
        if idempotency_key is not None:
            key = idempotency_key
            stored = await idempotency.claim(
                svc.pool, p.key, key, idempotency.fingerprint(case_no, name, payload)
            )
            if stored is not None:
                return JSONResponse(stored.body, status_code=stored.status,
                                    media_type="application/problem+json" if stored.status >= 400 else None,
                                    headers={"Idempotent-Replayed": "true"})
        try:
            await _check_scope(svc, p, case_no)
            summary = await svc.client.decide(
                case_no, name, payload, actor=p.actor,
                update_id=idempotency.update_id(p.key, key) if key else None,
            )
            view = await _view(svc, p, summary)
        except ApiProblem as e:
            if key is not None:
                if e.status in (404, 409, 422):  # the answer to this request, not a passing failure
                    await idempotency.finish(svc.pool, p.key, key, e.status,
                                             problem_body(e.status, e.detail, type_=e.type, **e.extra))
                else:
                    await idempotency.release(svc.pool, p.key, key)
            raise
        except CaseClientError as e:
            problem = _client_problem(e)
            if key is not None:
                if problem.status in (404, 409, 422):
                    await idempotency.finish(svc.pool, p.key, key, problem.status,
                                             problem_body(problem.status, problem.detail, type_=problem.type,
                                                          **problem.extra))
                else:
                    await idempotency.release(svc.pool, p.key, key)
            raise problem from None
        except BaseException:
            if key is not None:
                await idempotency.release(svc.pool, p.key, key)
            raise
        if key is not None:
            await idempotency.finish(svc.pool, p.key, key, 200, view.model_dump(mode="json"))
        return view

    # the body's model is chosen per decision at run time, so its annotation is set here, not in the source
    decide.__annotations__["body"] = Annotated[body_model, Body()]
    decide.__name__ = f"decide_{name}"
    decide.__doc__ = (
        f"Send `{name}` as the caller (the actor comes from the credentials). 409 with the case's reason when "
        "it does not fit the stage, role or unit. With `Idempotency-Key`, a retry answers the first outcome."
    )
    return decide


for _name, _model in DECISION_BODIES.items():
    v1.add_api_route(
        f"/cases/{{case_no}}/decisions/{_name}", _decision_route(_name, _model), methods=["POST"],
        response_model=CaseView, tags=["decisions"], summary=f"decision {_name}",
    )


# ---------------------------------------------------------------------------------------- calendars


async def _calendar(svc: Services, jurisdiction: str) -> Any:
    cal = await effective_calendar(svc.pool, jurisdiction)
    if cal is None:
        raise ApiProblem(404, f"no working-day calendar for jurisdiction {jurisdiction}")
    return cal


def _range_problem(field: str, e: Exception) -> ApiProblem:
    return ApiProblem(422, f"{field}: {e}", errors=[{"field": field, "message": str(e)}])


Jurisdiction = Annotated[str, Path(description="e.g. CN-SX", pattern=r"^CN(-[A-Z]{2}(-[A-Z0-9]{1,4})?)?$")]


@v1.get("/calendars/{jurisdiction}/days/{day}", response_model=WorkingDay, tags=["calendar"])
async def working_day(jurisdiction: Jurisdiction, day: date, p: Caller, svc: Svc) -> WorkingDay:
    """Is `day` a working day on the bureau's calendar (statutory holidays, makeup days, bureau closures)?"""
    cal = await _calendar(svc, jurisdiction)
    try:
        return WorkingDay(jurisdiction=jurisdiction, date=day, working_day=cal.is_working_day(day),
                          day_kind=cal.day_kind(day), holiday=cal.holiday_name(day),
                          provisional=cal.is_provisional(day))
    except ValueError as e:
        raise _range_problem("day", e) from None


@v1.get("/calendars/{jurisdiction}/add-working-days", response_model=AddedWorkingDays, tags=["calendar"])
async def add_working_days(
    jurisdiction: Jurisdiction,
    p: Caller,
    svc: Svc,
    start: date,
    days: Annotated[int, Query(ge=0, le=400)],
) -> AddedWorkingDays:
    """The `days`-th working day after `start` (counting starts the day after, 次日起算)."""
    cal = await _calendar(svc, jurisdiction)
    try:
        end = cal.add_working_days(start, days)
        return AddedWorkingDays(jurisdiction=jurisdiction, start=start, days=days, date=end,
                                provisional=cal.is_provisional_span(start, end))
    except ValueError as e:
        raise _range_problem("start", e) from None


CLOCK_POLICY: dict[str, str] = {
    "acceptance": "acceptance_wd",
    "investigation": "investigation_wd",
    "feedback": "feedback_wd",
    "return_visit": "return_visit_wd",
    "review": "review_decision_wd",
    "reporter_notice": "reporter_notice_wd",
}


@v1.get("/calendars/{jurisdiction}/deadline", response_model=ClockDeadline, tags=["calendar"])
async def clock_deadline(
    jurisdiction: Jurisdiction,
    p: Caller,
    svc: Svc,
    clock: Annotated[str, Query(description=", ".join(CLOCK_POLICY), pattern="^(" + "|".join(CLOCK_POLICY) + ")$")],
    started_at: datetime,
    kind: CaseKind = CaseKind.complaint,
) -> ClockDeadline:
    """When a clock started at `started_at` falls due (and turns blue / yellow), with the case kind's policy."""
    if started_at.tzinfo is None:
        raise ApiProblem(422, "started_at: needs a time zone offset, e.g. +08:00",
                         errors=[{"field": "started_at", "message": "needs a time zone offset"}])
    cal = await _calendar(svc, jurisdiction)
    policy = policy_for(kind, jurisdiction)
    wd = getattr(policy, CLOCK_POLICY[clock])
    try:
        c = sla.make_clock(clock, cal, started_at, wd, blue_fraction=policy.blue_fraction,
                           escalation_wd=policy.escalation_wd)
    except ValueError as e:
        raise _range_problem("started_at", e) from None
    return ClockDeadline(jurisdiction=jurisdiction, clock=clock, kind=kind, started_at=started_at, working_days=wd,
                         due_at=c.due_at, blue_at=c.blue_at, yellow_at=c.yellow_at, provisional=c.provisional)


# ------------------------------------------------------------------------------------------- health

ops = APIRouter(tags=["operations"])


@ops.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@ops.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> Any:
    """Temporal and PostgreSQL answer."""
    svc = services(request)
    checks: dict[str, str] = {}

    async def temporal() -> None:
        await svc.client.client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))

    async def postgres() -> None:
        await asyncio.wait_for(svc.pool.fetchval("SELECT 1"), 3)

    for name, check in (("temporal", temporal), ("postgres", postgres)):
        try:
            await check()
            checks[name] = "ok"
        except Exception as e:
            checks[name] = f"unreachable: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return body if ok else JSONResponse(body.model_dump(), status_code=503)


@ops.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus: this process's request counters and latencies, plus the read-model gauges when this
    process is the deployment's one source of them (`COMPLAINTS_METRICS_READ_MODEL`)."""
    body = generate_latest(REGISTRY)
    collector = services(request).read_model
    if collector is not None:
        await collector.refresh()
        body += generate_latest(read_model_registry(collector))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@ops.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> Any:
    """The embedded stack's public signing keys (production verifies against the identity provider's)."""
    svc = services(request)
    path = svc.settings.data_dir / JWKS_FILE
    if svc.api.jwks_url or not path.exists():
        raise ApiProblem(404, "no local JWKS in this mode")
    return Response(path.read_bytes(), media_type="application/json")


# ------------------------------------------------------------------------------------------ the app


def build_app(lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=(
            "The door for caseworkers (OIDC bearer tokens) and intake systems (API keys) that do not speak "
            "Temporal. Errors are application/problem+json (RFC 9457)."
        ),
        lifespan=lifespan,
    )
    install(app)
    app.add_middleware(RequestMetrics)
    app.include_router(v1)
    app.include_router(ops)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_type_only(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app(settings: Settings | None = None, api_settings: ApiSettings | None = None) -> FastAPI:
    """The app with its services opened at startup (Temporal client, PostgreSQL pool, token verifier)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        a = api_settings or get_api_settings()
        verifier = verifier_for(a, s.data_dir)
        directory = load_bundled_directory()
        client = await CaseClient.connect(s, directory=directory)
        pool = await create_pool(s.database_url, min_size=1, max_size=s.database_pool_max)
        await idempotency.expire(pool)
        read_model = ReadModelCollector(pool, max_attempts=DEFAULT_MAX_ATTEMPTS) if s.metrics_read_model else None
        app.state.services = Services(s, a, client, pool, verifier, directory, read_model)
        try:
            yield
        finally:
            await pool.close()

    return build_app(lifespan)


def openapi_document() -> dict[str, Any]:
    """The published OpenAPI document (no services needed)."""
    return build_app().openapi()

