"""A real HTTP server standing in for the bureau's SMS/notice gateway: the outbox's `HttpTransport` posts to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def gateway(answer: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """Serve `POST /send` with `answer` on a free local port for the block; yields the URL to post to."""
    app = web.Application()
    app.router.add_post("/send", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/send"
    finally:
        await runner.cleanup()
