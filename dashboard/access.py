"""Who may see what: no login in embedded mode; OIDC login (Streamlit `st.login`) in production, with the
user's unit taken from an OIDC claim or from a mapping in `.streamlit/secrets.toml`.

Production `.streamlit/secrets.toml`::

    [auth]
    redirect_uri = "https://dashboard.example.gov.cn/oauth2callback"
    cookie_secret = "<long random string>"
    client_id = "complaints-dashboard"
    client_secret = "<secret>"
    server_metadata_url = "https://sso.example.gov.cn/.well-known/openid-configuration"

    [dashboard]
    unit_claim = "unit_id"            # claim holding the user's org unit (optional)
    role_claim = "role"               # claim holding "supervisor" for users who may decide extensions
    [dashboard.user_units]            # fallback mapping e-mail (or sub) -> unit id
    "wang@ty.example.gov.cn" = "SX-TY"
    [dashboard.supervisors]           # e-mail (or sub) -> true: may approve/refuse extensions
    "wang@ty.example.gov.cn" = true

A user sees the subtree of their unit (a city supervisor: that city and its counties); a user without a unit
sees nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Access:
    """The signed-in user (or the local operator in embedded mode)."""

    user_id: str
    root_unit: str | None  # None = the whole directory (embedded mode)
    may_decide: bool
    embedded: bool = False


def embedded_access() -> Access:
    """Embedded mode: one local operator bound to localhost, sees everything, may decide as any supervisor."""
    return Access(user_id="local-supervisor", root_unit=None, may_decide=True, embedded=True)


def resolve_access(claims: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> Access | None:
    """The access of an OIDC user from their claims and the `[dashboard]` secrets; None if no unit is known."""
    cfg = dict(config or {})
    user_id = str(claims.get("email") or claims.get("sub") or "")
    if not user_id:
        return None
    unit_claim = str(cfg.get("unit_claim", "unit_id"))
    role_claim = str(cfg.get("role_claim", "role"))
    unit = claims.get(unit_claim) or dict(cfg.get("user_units", {})).get(user_id)
    if not unit:
        return None
    supervisors = dict(cfg.get("supervisors", {}))
    role = claims.get(role_claim)
    roles = role if isinstance(role, list | tuple) else [role]
    may_decide = "supervisor" in roles or bool(supervisors.get(user_id))
    return Access(user_id=user_id, root_unit=str(unit), may_decide=may_decide)
