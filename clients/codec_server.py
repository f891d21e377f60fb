"""Codec server for the Temporal Web UI: lets a person with access see decrypted payloads in the browser.

Implements the Temporal remote codec protocol: `POST /encode` and `POST /decode` take and return JSON
`{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}, ...]}` (protobuf JSON of
`temporal.api.common.v1.Payloads`). The `X-Namespace` header names the namespace; requests for another
namespace than the configured one are refused. CORS is allowed for the Web UI origins
(`COMPLAINTS_CODEC_SERVER_CORS_ORIGINS`, default http://localhost:8233).

Run: `python -m clients.codec_server` (listens on `COMPLAINTS_CODEC_SERVER_HOST:PORT`, default
127.0.0.1:8081), then in the Web UI set the codec endpoint to `http://127.0.0.1:8081` (or start the dev
server with `--ui-codec-endpoint http://127.0.0.1:8081`). It uses the same keys as the workers.
Anyone who can reach this server can decrypt payloads: keep it on localhost or behind authentication.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from common.codec import CodecKeyError, make_codec
from common.settings import Settings, get_settings

log = logging.getLogger(__name__)

_ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    codec: PayloadCodec,
    *,
    cors_origins: Iterable[str] = ("http://localhost:8233",),
    namespaces: Iterable[str] | None = None,
) -> web.Application:
    """The aiohttp application serving `/encode` and `/decode` with `codec`.

    `namespaces`: if given, the `X-Namespace` header must be one of them (absent header = allowed).
    """
    origins = set(cors_origins)
    allowed_ns = set(namespaces) if namespaces is not None else None

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            resp: web.StreamResponse = web.Response(status=204)
        else:
            resp = await handler(request)
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            resp.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            resp.headers["Vary"] = "Origin"
        return resp

    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

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
        result = json_format.MessageToDict(Payloads(payloads=out))
        result.setdefault("payloads", [])
        return web.json_response(result)

    async def encode_handler(request: web.Request) -> web.Response:
        return await _handle(request, encode=True)

    async def decode_handler(request: web.Request) -> web.Response:
        return await _handle(request, encode=False)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[cors], client_max_size=16 * 1024 * 1024)
    app.router.add_post("/encode", encode_handler)
    app.router.add_post("/decode", decode_handler)
    app.router.add_route("OPTIONS", "/encode", encode_handler)
    app.router.add_route("OPTIONS", "/decode", decode_handler)
    app.router.add_get("/health", health)
    return app


def make_app_from_settings(settings: Settings | None = None) -> web.Application:
    """The app with the project's codec and the configured CORS origins and namespace."""
    settings = settings or get_settings()
    return make_app(
        make_codec(settings),
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
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app_from_settings(settings), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
