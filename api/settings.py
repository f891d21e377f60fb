"""The API's settings (environment prefix `COMPLAINTS_API_`), beside the system-wide `common.settings`.

Production points `jwks_url`, `issuer` and `audience` at the identity provider (OIDC) and names the claims
that carry the actor. The embedded mode leaves `jwks_url` empty: the stack's own signing key in the data
folder issues tokens (`complaints login`) and its public JWKS is what the same verifier checks them against.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_ISSUER = "urn:yibao-complaints:embedded"
DEFAULT_AUDIENCE = "yibao-complaints-api"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_API_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    issuer: str = EMBEDDED_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_url: str | None = Field(default=None, description="the identity provider's JWKS; empty = local key")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    claim_id: str = Field(default="sub", description="claim holding the person's id")
    claim_role: str = Field(default="role", description="claim holding the role (dispatcher, caseworker, ...)")
    claim_unit: str = Field(default="unit", description="claim holding the org unit the person acts for")
    leeway_seconds: int = Field(default=30, ge=0, description="clock skew tolerated on exp/nbf/iat")
    token_ttl_minutes: int = Field(default=480, ge=1, description="lifetime of tokens `complaints login` issues")
    work_list_limit: int = Field(default=100, ge=1, le=1000, description="open cases examined per work list")


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
