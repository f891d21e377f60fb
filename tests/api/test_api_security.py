"""Who may call: bearer tokens are verified (signature, issuer, audience, expiry, algorithm) on the one code
path both modes share; the production path is exercised against a JWKS served on loopback by this test."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from helpers.api import DATA_DIR, DISPATCHER, ApiProcess, api_process
from helpers.client import running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

from api.auth import _load_private, ensure_signing_key, issue_token
from api.settings import EMBEDDED_ISSUER, ApiSettings

pytestmark = pytest.mark.devserver


@pytest_asyncio.fixture(scope="module")
async def embedded(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any) -> AsyncIterator[ApiProcess]:
    q = task_queue()
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q) as proc:
        yield proc


def _local_key() -> Any:
    return _load_private(ensure_signing_key(DATA_DIR))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": EMBEDDED_ISSUER, "aud": ApiSettings().audience, "iat": now, "exp": now + 600,
            "sub": "disp-01", "role": "dispatcher", "unit": "SX"}
    base.update(over)
    return base


async def _status(api: ApiProcess, token: str | None) -> tuple[int, dict[str, Any], str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with api.http() as http:
        r = await http.get("/v1/me/work", headers=headers)
    return r.status_code, r.json(), r.headers.get("content-type", "")


async def test_a_valid_local_token_works(embedded: ApiProcess) -> None:
    status, body, _ = await _status(embedded, embedded.token(DISPATCHER))
    assert status == 200 and body["actor_id"] == "disp-01" and body["role"] == "dispatcher"


def _forged_other_key() -> str:
    other = ec.generate_private_key(ec.SECP256R1())
    kid = jwt.get_unverified_header(issue_token(_local_key(), DISPATCHER, issuer="x", audience="y", ttl_seconds=1))["kid"]
    return jwt.encode(_claims(), other, algorithm="ES256", headers={"kid": kid})


BAD_TOKENS = {
    "expired": lambda: issue_token(_local_key(), DISPATCHER, issuer=EMBEDDED_ISSUER, audience=ApiSettings().audience,
                                   ttl_seconds=60, now=time.time() - 3600),
    "wrong_audience": lambda: issue_token(_local_key(), DISPATCHER, issuer=EMBEDDED_ISSUER, audience="another-api",
                                          ttl_seconds=600),
    "wrong_issuer": lambda: issue_token(_local_key(), DISPATCHER, issuer="https://evil.example", audience=ApiSettings().audience,
                                        ttl_seconds=600),
    "forged_signature": _forged_other_key,
    "alg_none": lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
    "tampered_claims": lambda: (lambda t: ".".join([t.split(".")[0], _b64(_claims(role="supervisor")), t.split(".")[2]]))(
        issue_token(_local_key(), DISPATCHER, issuer=EMBEDDED_ISSUER, audience=ApiSettings().audience, ttl_seconds=600)),
    "hs256_with_public_key": lambda: jwt.encode(_claims(), "not-a-secret-anyone-has-" * 2, algorithm="HS256"),
    "garbage": lambda: "not.a.token",
    "unknown_unit": lambda: jwt.encode(_claims(unit="SX-NOWHERE"), _local_key(), algorithm="ES256",
                                       headers={"kid": jwt.get_unverified_header(
                                           issue_token(_local_key(), DISPATCHER, issuer="x", audience="y", ttl_seconds=1))["kid"]}),
}


WHY = {
    None: "credentials required",
    "expired": "expired",
    "wrong_audience": "audience",
    "wrong_issuer": "issued by",
    "forged_signature": "signature",
    "alg_none": "algorithm 'none'",
    "tampered_claims": "signature",
    "hs256_with_public_key": "algorithm 'HS256'",
    "garbage": "malformed",
    "unknown_unit": "not in the organisation directory",
}


@pytest.mark.parametrize("name", [None, *BAD_TOKENS])
async def test_bad_credentials_are_401(embedded: ApiProcess, name: str | None) -> None:
    token = None if name is None else BAD_TOKENS[name]()
    status, body, ctype = await _status(embedded, token)
    assert status == 401, body
    assert ctype == "application/problem+json" and body["status"] == 401
    assert WHY[name] in body["detail"], body["detail"]


# ----------------------------------------------------------------------------- production: an IdP's JWKS

PROD_ISSUER = "https://idp.bureau.test/realms/yibao"
PROD_AUDIENCE = "complaints-prod"


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, Any]]:
    """A real HTTP server on loopback serving the identity provider's JWKS (an RSA key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "idp-key-1", "use": "sig", "alg": "RS256"})
    _Jwks.document = json.dumps({"keys": [jwk]}).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/protocol/openid-connect/certs", key
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture(scope="module")
async def production(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any, idp: tuple[str, Any]
) -> AsyncIterator[ApiProcess]:
    q = task_queue()
    env = {
        "COMPLAINTS_API_JWKS_URL": idp[0],
        "COMPLAINTS_API_ISSUER": PROD_ISSUER,
        "COMPLAINTS_API_AUDIENCE": PROD_AUDIENCE,
        "COMPLAINTS_API_CLAIM_ID": "preferred_username",
        "COMPLAINTS_API_CLAIM_ROLE": "yibao_role",
        "COMPLAINTS_API_CLAIM_UNIT": "yibao_unit",
    }
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q, env) as proc:
        yield proc


def _idp_token(key: Any, kid: str = "idp-key-1", **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": PROD_ISSUER, "aud": PROD_AUDIENCE, "iat": now, "exp": now + 300,
              "preferred_username": "cw-xd-1", "yibao_role": "caseworker", "yibao_unit": "SX-TY-XD"}
    claims.update(over)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_production_verifies_against_the_identity_providers_jwks(
    production: ApiProcess, idp: tuple[str, Any]
) -> None:
    _, key = idp
    status, body, _ = await _status(production, _idp_token(key))
    assert status == 200, body
    assert (body["actor_id"], body["role"], body["unit_id"]) == ("cw-xd-1", "caseworker", "SX-TY-XD")
    assert _Jwks.hits >= 1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        _idp_token(other),  # signed by a key the IdP never published
        _idp_token(key, aud=ApiSettings().audience),  # meant for another API
        _idp_token(key, exp=int(time.time()) - 120),
        _idp_token(key, kid="idp-key-2"),
        _idp_token(key, yibao_role="superuser"),  # claims that do not name an actor
        production.token(DISPATCHER),  # the embedded key means nothing in production
    ):
        status, body, _ = await _status(production, token)
        assert status == 401, body
