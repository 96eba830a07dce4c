"""A loopback HTTP server that answers a script of (status, JSON body, headers), one per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

Script = list[tuple[int, Any, dict[str, str]]]


def run_against(
    path: str, script: Script, test: Callable[[aiohttp.ClientSession, str, list[dict[str, Any]]], Awaitable[Any]]
) -> tuple[Any, list[dict[str, Any]]]:
    """Serve ``script`` at POST ``path``; run ``test(session, base_url, seen)``; return its result and the requests."""
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "body": await request.json()})
        status, body, headers = script[min(len(seen), len(script)) - 1]
        return web.json_response(body, status=status, headers=headers)

    async def main() -> Any:
        app = web.Application()
        app.router.add_post(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as session:
                return await test(session, f"http://127.0.0.1:{port}", seen)
        finally:
            await runner.cleanup()

    return asyncio.run(main()), seen
