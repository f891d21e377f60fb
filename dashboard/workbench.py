"""The caseworkers' workbench (Streamlit): 待办 / My work, and a form for each decision the person may take now.

Run: `streamlit run dashboard/workbench.py --server.address 127.0.0.1 --server.port 8502`. It talks only to the
HTTP API (`COMPLAINTS_WORKBENCH_API_URL`, default http://127.0.0.1:8000) with the signed-in person's token, so
the API decides what they see and may do: the work list, the case (masked) with its allowed decisions, and
the decisions themselves (sent with an `Idempotency-Key`, so a double click writes once).

Sign-in: in the embedded mode a person is picked from the directory's demo users, clearly labelled as local
(the token is signed with the stack's key in the data folder, like `complaints login`). In production the
person signs in with OIDC (`st.login`; `.streamlit/secrets.toml` `[auth] expose_tokens = ["access"]`) and the
identity provider's access token is what the API verifies.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import httpx
import pandas as pd
import streamlit as st
from pydantic import BaseModel

from api.app import DECISION_BODIES
from api.auth import login_token
from api.settings import get_api_settings
from calendars import get_calendar, shanghai_tz
from cases.models import Actor, Role
from cases.org import OrgDirectory, load_bundled_directory
from common.logs import configure_logging
from common.settings import Settings
from dashboard.i18n import (
    DECISION_LABELS,
    FIELD_LABELS,
    LANGS,
    LEVEL_COLOURS,
    STAGE_LABELS,
    level_label,
    t,
    vocab,
)

GROUPS = ("to_accept", "to_assign", "to_investigate", "feedback_due", "return_visit", "review_decision",
          "extension_approval")


def api_url() -> str:
    return os.environ.get("COMPLAINTS_WORKBENCH_API_URL", "http://127.0.0.1:8000").rstrip("/")


def demo_users(directory: OrgDirectory) -> list[Actor]:
    """Local personas: the provincial centre's dispatcher and intake agent, a caseworker per county bureau,
    the supervisor of each city and county bureau, a reviewer per city bureau."""
    centre = directory.provincial_centre
    users = [Actor(id="disp-01", role=Role.dispatcher, unit_id=centre),
             Actor(id="agent-07", role=Role.intake_agent, unit_id=centre)]
    for u in directory.units:
        short = u.unit_id.rsplit("-", 1)[-1].lower()
        if u.level == "county":
            users.append(Actor(id=f"cw-{short}-1", role=Role.caseworker, unit_id=u.unit_id))
        if u.level in ("county", "city"):
            users.append(Actor(id=u.supervisor_id, role=Role.supervisor, unit_id=u.unit_id))
        if u.level == "city":
            users.append(Actor(id=f"rev-{short}-1", role=Role.reviewer, unit_id=u.unit_id))
    return users


def call(method: str, path: str, token: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    """One API request with the person's token; (status, JSON body). Raises `httpx.TransportError` when the
    API cannot be reached."""
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    with httpx.Client(base_url=api_url(), timeout=60) as http:
        r = http.request(method, path, json=body, headers=headers)
    return r.status_code, r.json() if r.content else None


def problem_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body)
    return str(body)


def working_days_left(due: str | None, now: datetime) -> int | None:
    if not due:
        return None
    try:
        return int(get_calendar("CN-SX").working_days_left(now, datetime.fromisoformat(due)))
    except Exception:  # outside the loaded calendar years: leave the cell empty
        return None


# ------------------------------------------------------------------------------------------ sign-in


def sign_in(settings: Settings, lang: str) -> tuple[Actor | None, str]:
    """(the person if known, their bearer token)."""
    if settings.mode == "embedded":
        users = demo_users(load_bundled_directory())
        ids = [u.id for u in users]
        wanted = st.query_params.get("user")
        choice = st.sidebar.selectbox(
            t("signed_in_as", lang), ids, index=ids.index(wanted) if wanted in ids else 0, key="user",
            format_func=lambda i: next(f"{u.id} · {u.role.value} · {u.unit_id}" for u in users if u.id == i),
        )
        st.sidebar.warning(t("local_identity", lang))
        actor = next(u for u in users if u.id == choice)
        return actor, login_token(settings.data_dir, actor, get_api_settings())
    user = st.user
    if not user.get("is_logged_in", False):
        st.button(t("login", lang), on_click=st.login, key="login")
        st.stop()
    token = str(user.tokens.get("access", ""))
    st.sidebar.caption(str(user.get("email") or user.get("sub") or ""))
    st.sidebar.button(t("logout", lang), on_click=st.logout, key="logout")
    return None, token


# --------------------------------------------------------------------------------------------- pages


def work_list(token: str, lang: str, now: datetime) -> None:
    status, body = call("GET", "/v1/me/work", token)
    if status != 200:
        st.error(problem_text(body))
        return
    items = body["items"]
    if not items:
        st.info(t("nothing_to_do", lang))
        return
    for group in GROUPS:
        rows = [i for i in items if group in i["expected"]]
        if not rows:
            continue
        st.subheader(f"{t(group, lang)} ({len(rows)})")
        for item in rows:  # already soonest deadline first
            left = working_days_left(item["due_at"], now)
            colour = LEVEL_COLOURS.get(item["sla_level"], "#eeeeee")
            cols = st.columns([3, 2, 2, 3, 2, 1])
            cols[0].markdown(f"**{item['case_no']}**")
            cols[1].markdown(vocab(STAGE_LABELS, item["stage"], lang))
            cols[2].markdown(f"<span style='background:{colour};padding:2px 6px;border-radius:4px'>"
                             f"{level_label(item['sla_level'], lang)}</span>", unsafe_allow_html=True)
            cols[3].markdown(item["due_at"][:16].replace("T", " ") if item["due_at"] else "—")
            cols[4].markdown(f"{t('wd_left', lang)}: {left if left is not None else '—'}")
            if cols[5].button(t("open_case", lang), key=f"open-{group}-{item['case_no']}"):
                st.session_state["case"] = item["case_no"]
                st.rerun()


def _field_input(form: Any, case_no: str, decision: str, name: str, field: Any, lang: str) -> Any:
    label = vocab(FIELD_LABELS, name, lang) + ("" if not field.is_required() else " *")
    key = f"{case_no}-{decision}-{name}"
    annotation = field.annotation
    if annotation is bool:
        return form.checkbox(label, value=bool(field.default), key=key)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return form.selectbox(label, [e.value for e in annotation], key=key)
    return form.text_input(label, key=key).strip()


def decision_forms(token: str, case_no: str, allowed: list[str], lang: str) -> None:
    st.markdown(f"### {t('allowed_decisions', lang)}")
    if not allowed:
        st.info(t("no_decision", lang))
        return
    for name in allowed:
        model: type[BaseModel] = DECISION_BODIES[name]
        with st.expander(vocab(DECISION_LABELS, name, lang), expanded=len(allowed) == 1 or name == allowed[0]):
            # one key per filled-in form: a double submit is answered once by the API
            key_slot = f"idem-{case_no}-{name}"
            st.session_state.setdefault(key_slot, uuid.uuid4().hex)
            with st.form(f"form-{case_no}-{name}"):
                values = {n: _field_input(st, case_no, name, n, f, lang) for n, f in model.model_fields.items()}
                sent = st.form_submit_button(f"{t('submit', lang)}: {vocab(DECISION_LABELS, name, lang)}")
            if sent:
                body = {n: v for n, v in values.items() if v != "" and v is not None}
                status, answer = call("POST", f"/v1/cases/{case_no}/decisions/{name}", token, body,
                                      key=st.session_state[key_slot])
                if status == 200:
                    st.session_state[key_slot] = uuid.uuid4().hex
                    stage = answer["summary"]["stage"]
                    st.session_state["flash"] = f"{t('submitted', lang)}: {vocab(STAGE_LABELS, stage, lang)}"
                    st.rerun()
                elif status == 422:
                    st.session_state[key_slot] = uuid.uuid4().hex
                    st.error(f"{t('invalid_field', lang)}: {problem_text(answer)}")
                else:
                    st.session_state[key_slot] = uuid.uuid4().hex
                    st.error(f"{t('refused', lang)}: {problem_text(answer)}")


def case_page(token: str, case_no: str, lang: str) -> None:
    if st.button(t("back_to_list", lang), key="back"):
        st.session_state.pop("case", None)
        st.rerun()
    status, body = call("GET", f"/v1/cases/{case_no}", token)
    if status != 200:
        st.warning(t("not_found", lang) if status == 404 else problem_text(body))
        return
    s = body["summary"]
    st.subheader(f"{s['case_no']} · {level_label(s['sla_level'], lang)} · {vocab(STAGE_LABELS, s['stage'], lang)}")
    facts = {
        t("unit", lang): f"{s.get('handling_unit_name') or ''} ({s.get('handling_unit') or '—'})",
        t("due_at", lang): str(s.get("next_due_at") or "—"),
        t("extension", lang): s.get("extension_status") or "—",
    }
    st.dataframe(pd.DataFrame({"": list(facts), " ": list(facts.values())}), hide_index=True)
    st.markdown(f"**{t('timeline', lang)}**")
    events = pd.DataFrame([{"#": e["seq"], "at": e["at"][:16].replace("T", " "), "event": e["kind"],
                            "by": e.get("actor_id") or ""} for e in s["events"]])
    st.dataframe(events, hide_index=True, width="stretch")
    decision_forms(token, case_no, body["allowed_decisions"], lang)


def main() -> None:
    st.set_page_config(page_title="医保投诉待办 / Caseworker workbench", page_icon="🗂️", layout="wide")
    settings = Settings()
    configure_logging("workbench", settings)
    lang = st.sidebar.selectbox("语言 / Language", list(LANGS), key="lang", format_func=lambda k: LANGS[k],
                                index=list(LANGS).index("zh"))
    actor, token = sign_in(settings, lang)
    st.title(f"{t('my_work', lang)} · {t('workbench', lang)}")
    if actor is not None:
        st.caption(f"{actor.id} · {actor.role.value} · {actor.unit_id}")
    flash = st.session_state.pop("flash", None)
    if flash:
        st.success(flash)
    try:
        if st.session_state.get("case"):
            case_page(token, st.session_state["case"], lang)
        else:
            work_list(token, lang, datetime.now(shanghai_tz()))
    except httpx.TransportError as exc:
        st.error(f"⚠️ {t('api_unavailable', lang)}")
        st.caption(str(exc)[:300])


main()
