"""Who is calling: JWT bearer tokens (people) verified against a JWKS, and API keys (intake systems).

One verification path for both modes: `TokenVerifier` checks signature, issuer, audience and expiry against
a JWKS, either the identity provider's (`jwks_url`, production) or the embedded stack's own (the public half
of the signing key kept in the data folder). Only asymmetric algorithms from the configured list are
accepted, so `alg: none` and HMAC tokens signed with a public key are refused before any key is looked up.

API keys are `cak_<key id>.<secret>`; PostgreSQL stores only the SHA-256 of the secret (the secret has 256
bits of entropy, so a fast hash is enough), with the channels and the jurisdiction the key may act for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from api.settings import ApiSettings
from cases.models import Actor, Channel, Role
from cases.org import OrgDirectory, subtree

SIGNING_KEY_FILE = "api-signing-key.pem"
JWKS_FILE = "api-jwks.json"
SIGNING_ALGORITHM = "ES256"
API_KEY_PREFIX = "cak_"


class Unauthenticated(Exception):
    """No credentials, or credentials that do not verify (401)."""


@dataclass(frozen=True)
class Principal:
    """The verified caller: the actor decisions are sent as, and what it may see."""

    actor: Actor
    kind: str  # "person" or "machine"
    scope_units: frozenset[str]  # persons: their unit's subtree
    channels: frozenset[str] | None = None  # machines: the channels the key may register for
    jurisdiction: str | None = None  # machines: the one jurisdiction the key acts in

    @property
    def key(self) -> str:
        """Stable name of the caller for idempotency records."""
        return f"{self.kind}:{self.actor.id}"


# --------------------------------------------------------------------------------------- local signing key


def _key_id(public_pem: bytes) -> str:
    return hashlib.sha256(public_pem).hexdigest()[:16]


def ensure_signing_key(data_dir: Path) -> Path:
    """The embedded stack's signing key (EC P-256) and its public JWKS in `data_dir`, created once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / SIGNING_KEY_FILE
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    jwks_path = data_dir / JWKS_FILE
    if not jwks_path.exists():
        jwks_path.write_text(json.dumps(public_jwks(_load_private(key_path)), indent=2), encoding="utf-8")
    return key_path


def _load_private(key_path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def public_jwks(private_key: Any) -> dict[str, Any]:
    """The JWKS (public half only) of a private key, its `kid` derived from the public key."""
    public = private_key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    jwk.update({"kid": _key_id(pem), "use": "sig", "alg": SIGNING_ALGORITHM})
    return {"keys": [jwk]}


def issue_token(
    private_key: Any,
    actor: Actor,
    *,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    claims: ApiSettings | None = None,
    now: float | None = None,
) -> str:
    """A signed token for `actor` (ES256, `kid` of the key) with the configured claim names."""
    names = claims or ApiSettings()
    t = int(now if now is not None else time.time())
    kid = public_jwks(private_key)["keys"][0]["kid"]
    payload = {
        "iss": issuer,
        "aud": audience,
        "iat": t,
        "nbf": t,
        "exp": t + ttl_seconds,
        names.claim_id: actor.id,
        names.claim_role: actor.role.value,
        names.claim_unit: actor.unit_id,
    }
    return jwt.encode(payload, private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": kid})


def login_token(data_dir: Path, actor: Actor, settings: ApiSettings) -> str:
    """`complaints login`: a token from the embedded stack's key (created on first use)."""
    key = _load_private(ensure_signing_key(data_dir))
    return issue_token(
        key, actor, issuer=settings.issuer, audience=settings.audience,
        ttl_seconds=settings.token_ttl_minutes * 60, claims=settings,
    )


# ------------------------------------------------------------------------------------------ verification


class TokenVerifier:
    """Verifies bearer tokens against a JWKS (URL of the identity provider, or the local JWKS file)."""

    def __init__(self, settings: ApiSettings, *, jwks_file: Path | None = None) -> None:
        self.settings = settings
        allowed = {a for a in settings.algorithms if a.upper() != "NONE" and not a.upper().startswith("HS")}
        self.algorithms = sorted(allowed)
        self._client: jwt.PyJWKClient | None = None
        self._local: jwt.PyJWKSet | None = None
        if settings.jwks_url:
            self._client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)
        elif jwks_file is not None:
            self._local = jwt.PyJWKSet.from_dict(json.loads(jwks_file.read_text(encoding="utf-8")))
        else:
            raise ValueError("no JWKS: set COMPLAINTS_API_JWKS_URL or give the local JWKS file")

    def _key(self, token: str, kid: str | None) -> Any:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as e:
                raise Unauthenticated(f"no signing key for this token: {e}") from None
        assert self._local is not None
        for k in self._local.keys:
            if kid is None or k.key_id == kid:
                return k.key
        raise Unauthenticated("the token's key id is not in the JWKS")

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims; `Unauthenticated` for anything that does not check out."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Unauthenticated(f"malformed token: {e}") from None
        alg = str(header.get("alg", ""))
        if alg not in self.algorithms:
            raise Unauthenticated(f"token algorithm {alg!r} is not accepted ({', '.join(self.algorithms)})")
        key = self._key(token, header.get("kid"))
        s = self.settings
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token is not for audience {s.audience}") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"the token was not issued by {s.issuer}") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.PyJWTError as e:
            raise Unauthenticated(f"invalid token: {e}") from None

    def person(self, token: str, directory: OrgDirectory) -> Principal:
        claims = self.verify(token)
        s = self.settings
        try:
            actor = Actor(
                id=str(claims.get(s.claim_id, "")),
                role=claims.get(s.claim_role),  # type: ignore[arg-type]
                unit_id=str(claims.get(s.claim_unit, "")),
            )
        except ValidationError as e:
            fields = ", ".join(str(err["loc"][0]) for err in e.errors())
            raise Unauthenticated(f"the token's claims do not name an actor ({fields})") from None
        if not directory.has(actor.unit_id):
            raise Unauthenticated(f"the token's unit {actor.unit_id!r} is not in the organisation directory")
        return Principal(actor=actor, kind="person", scope_units=frozenset(subtree(directory, actor.unit_id)))


def verifier_for(settings: ApiSettings, data_dir: Path) -> TokenVerifier:
    """The verifier of this deployment: the identity provider's JWKS when configured, else the embedded
    stack's own key in `data_dir` (created on first use). The API and the codec server both use it."""
    if settings.jwks_url:
        return TokenVerifier(settings)
    ensure_signing_key(data_dir)
    return TokenVerifier(settings, jwks_file=data_dir / JWKS_FILE)


# -------------------------------------------------------------------------------------------- API keys


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyRow:
    key_id: str
    name: str
    channels: list[str]
    jurisdiction: str
    unit_id: str
    created_at: datetime
    revoked_at: datetime | None


async def create_api_key(
    conn: asyncpg.Connection | asyncpg.Pool,
    name: str,
    channels: list[str],
    jurisdiction: str,
    directory: OrgDirectory,
    unit_id: str | None = None,
) -> tuple[str, ApiKeyRow]:
    """A new key: returns the full key (shown once, never stored) and its row."""
    if not name.strip():
        raise ValueError("name: must not be empty")
    if not channels:
        raise ValueError("channels: name at least one channel")
    for c in channels:
        if c not in {ch.value for ch in Channel}:
            raise ValueError(f"channels: unknown channel {c!r}; one of {', '.join(ch.value for ch in Channel)}")
    if jurisdiction not in {u.jurisdiction for u in directory.units}:
        raise ValueError(f"jurisdiction: {jurisdiction} is not served by this system")
    unit = unit_id or directory.provincial_centre
    if not directory.has(unit):
        raise ValueError(f"unit: unknown unit {unit!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        "INSERT INTO api_keys (key_id, name, secret_sha256, channels, jurisdiction, unit_id) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING key_id, name, channels, jurisdiction, unit_id, created_at, revoked_at",
        key_id, name.strip(), _sha256(secret), sorted(set(channels)), jurisdiction, unit,
    )
    assert row is not None
    return f"{API_KEY_PREFIX}{key_id}.{secret}", ApiKeyRow(**dict(row))


async def list_api_keys(conn: asyncpg.Connection | asyncpg.Pool) -> list[ApiKeyRow]:
    rows = await conn.fetch(
        "SELECT key_id, name, channels, jurisdiction, unit_id, created_at, revoked_at FROM api_keys ORDER BY created_at"
    )
    return [ApiKeyRow(**dict(r)) for r in rows]


async def revoke_api_key(conn: asyncpg.Connection | asyncpg.Pool, key_id: str) -> bool:
    """Revoke a key (kept for the record); False if there is no such active key."""
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL", key_id, datetime.now(UTC)
    )
    return status.endswith(" 1")


async def machine(conn: asyncpg.Connection | asyncpg.Pool, presented: str) -> Principal:
    """The intake system an API key belongs to; `Unauthenticated` if unknown, wrong or revoked."""
    if not presented.startswith(API_KEY_PREFIX) or "." not in presented:
        raise Unauthenticated("malformed API key")
    key_id, _, secret = presented.removeprefix(API_KEY_PREFIX).partition(".")
    row = await conn.fetchrow(
        "SELECT name, secret_sha256, channels, jurisdiction, unit_id, revoked_at FROM api_keys WHERE key_id = $1",
        key_id,
    )
    if row is None or not hmac.compare_digest(row["secret_sha256"], _sha256(secret)):
        raise Unauthenticated("unknown API key")
    if row["revoked_at"] is not None:
        raise Unauthenticated("the API key was revoked")
    actor = Actor(id=f"apikey:{key_id}", role=Role.intake_agent, unit_id=row["unit_id"])
    return Principal(
        actor=actor,
        kind="machine",
        scope_units=frozenset(),
        channels=frozenset(row["channels"]),
        jurisdiction=row["jurisdiction"],
    )
