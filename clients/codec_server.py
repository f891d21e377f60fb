"""Codec server for the Temporal Web UI: lets a person with access see decrypted payloads in the browser.

Implements the Temporal remote codec protocol: `POST /encode` and `POST /decode` take and return JSON
`{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}, ...]}` (protobuf JSON of
`temporal.api.common.v1.Payloads`). The `X-Namespace` header names the namespace; requests for another
namespace than the configured one are refused.

Who may call it:
* a bearer token (`Authorization: Bearer <token>`), verified exactly as the API verifies a person's token
  (`api.auth.verifier_for`: the identity provider's JWKS, or the embedded stack's own key), of a role in
  `COMPLAINTS_CODEC_SERVER_ROLES` (default supervisor). The Temporal Web UI forwards its user's access token
  when `TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true` (docker-compose.yml). 401 without or with a bad token, 403 for
  another role; every decode is logged with the actor.
* only from the Web UI's origins (`COMPLAINTS_CODEC_SERVER_CORS_ORIGINS` and `COMPLAINTS_TEMPORAL_UI_URL`): a
  request or CORS preflight carrying any other `Origin` is refused (403). Requests without `Origin` (not from a
  browser) need the token all the same.
* `COMPLAINTS_CODEC_SERVER_AUTH=false` turns the token off, and is accepted on a loopback address only: the
  embedded stack uses it because the dev server's Web UI has no login and so no token to forward.

Run: `python -m clients.codec_server` (listens on `COMPLAINTS_CODEC_SERVER_HOST:PORT`, default
127.0.0.1:8081). It uses the same keys as the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from api.auth import Principal, TokenVerifier, Unauthenticated, verifier_for
from api.settings import get_api_settings
from cases.models import Role
from cases.org import OrgDirectory, load_bundled_directory
from common.codec import CodecKeyError, make_codec
from common.logs import configure_logging
from common.settings import Settings, get_settings

log = logging.getLogger(__name__)

_ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Forbidden(Exception):
    """A verified person whose role may not decode (403)."""


@dataclass(frozen=True)
class BearerAuth:
    """Who may use the codec: a person whose token the API would accept, in one of `roles`."""

    verifier: TokenVerifier
    directory: OrgDirectory
    roles: frozenset[Role]

    def check(self, authorization: str | None) -> Principal:
        """The caller of an `Authorization` header; `Unauthenticated` (401) or `Forbidden` (403)."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("credentials required: Authorization: Bearer <token>")
        caller = self.verifier.person(token.strip(), self.directory)
        if caller.actor.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(f"role {caller.actor.role.value!r} may not use the codec server (only {allowed})")
        return caller


def make_app(
    codec: PayloadCodec,
    *,
    auth: BearerAuth | None,
    cors_origins: Iterable[str] = ("http://localhost:8233",),
    namespaces: Iterable[str] | None = None,
) -> web.Application:
    """The aiohttp application serving `/encode` and `/decode` with `codec`.

    `auth`: None serves anyone who can reach the server (the embedded stack on loopback only).
    `namespaces`: if given, the `X-Namespace` header must be one of them (absent header = allowed).
    """
    origins = set(cors_origins)
    allowed_ns = set(namespaces) if namespaces is not None else None

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins:
            return _error(403, f"origin {origin!r} may not call this codec server")
        if request.method == "OPTIONS":
            resp: web.StreamResponse = web.Response(status=204)
        else:
            resp = await handler(request)
        if origin is not None:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            resp.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            resp.headers["Vary"] = "Origin"
        return resp

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if auth is None or request.path == "/health":
            return await handler(request)
        try:
            # a JWKS URL is fetched with blocking I/O (then cached): keep it off the event loop
            caller = await asyncio.to_thread(auth.check, request.headers.get("Authorization"))
        except Unauthenticated as exc:
            resp = _error(401, str(exc))
            resp.headers["WWW-Authenticate"] = 'Bearer realm="codec"'
            return resp
        except Forbidden as exc:
            return _error(403, str(exc))
        request["caller"] = caller
        return await handler(request)

    async def _handle(request: web.Request, encode: bool) -> web.Response:
        ns = request.headers.get("X-Namespace")
        if allowed_ns is not None and ns and ns not in allowed_ns:
            return _error(403, f"namespace {ns!r} is not served by this codec server")
        try:
            body = await request.text()
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            return _error(400, f"body must be JSON {{'payloads': [...]}}: {exc}")
        try:
            if encode:
                out = await codec.encode(payloads.payloads)
            else:
                out = await codec.decode(payloads.payloads)
        except CodecKeyError as exc:
            return _error(400, str(exc))
        caller: Principal | None = request.get("caller")
        log.info(
            "%s %d payload(s) for %s", "encoded" if encode else "decoded", len(out),
            caller.actor.id if caller else "an unauthenticated local caller",
            extra={"actor": caller.actor.id if caller else None, "namespace": ns},
        )
        result = json_format.MessageToDict(Payloads(payloads=out))
        result.setdefault("payloads", [])
        return web.json_response(result)

    async def encode_handler(request: web.Request) -> web.Response:
        return await _handle(request, encode=True)

    async def decode_handler(request: web.Request) -> web.Response:
        return await _handle(request, encode=False)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    # CORS outside authentication: a browser's preflight carries no token, and a 401 must still be readable
    app = web.Application(middlewares=[cors, authenticate], client_max_size=16 * 1024 * 1024)
    app.router.add_post("/encode", encode_handler)
    app.router.add_post("/decode", decode_handler)
    app.router.add_route("OPTIONS", "/encode", encode_handler)
    app.router.add_route("OPTIONS", "/decode", decode_handler)
    app.router.add_get("/health", health)
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_app_from_settings(settings: Settings | None = None, host: str | None = None) -> web.Application:
    """The app with the project's codec, the configured origins and namespace, and the token check unless
    `COMPLAINTS_CODEC_SERVER_AUTH=false` on a loopback `host` (ValueError naming the setting otherwise)."""
    settings = settings or get_settings()
    host = host or settings.codec_server_host
    auth: BearerAuth | None = None
    if settings.codec_server_auth:
        api = get_api_settings()
        if settings.codec_server_token_audience:
            api = api.model_copy(update={"audience": settings.codec_server_token_audience})
        auth = BearerAuth(
            verifier_for(api, settings.data_dir), load_bundled_directory(), frozenset(settings.codec_server_roles)
        )
    elif not is_loopback(host):
        raise ValueError(
            f"COMPLAINTS_CODEC_SERVER_AUTH=false is only allowed on a loopback address, not {host!r}: "
            "anyone who reaches the server could read every payload"
        )
    return make_app(
        make_codec(settings),
        auth=auth,
        cors_origins=[*settings.codec_server_cors_origins, settings.temporal_ui_url.rstrip("/")],
        namespaces=[settings.temporal_namespace],
    )


def main(argv: list[str] | None = None) -> None:
    """Run the codec server in the foreground."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Temporal codec server (AES-GCM) for the Web UI")
    parser.add_argument("--host", default=settings.codec_server_host)
    parser.add_argument("--port", type=int, default=settings.codec_server_port)
    args = parser.parse_args(argv)
    configure_logging("codec")
    try:
        app = make_app_from_settings(settings, args.host)
    except ValueError as exc:
        raise SystemExit(f"codec server not started: {exc}") from None
    if not settings.codec_server_auth:
        log.warning("no token required: serving anyone who can reach %s:%d", args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
