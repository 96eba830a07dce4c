"""Proves tests/browser.py on a tiny stand-in for the match explorer: type a challenge, search, accept, feedback stored.

The page and its JSON API are served by aiohttp on 127.0.0.1 from a background thread, so the real Chromium drives
a real fetch/POST round trip while the test stays synchronous.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.browser import Browser, JsError, chromium_or_skip, wait_until

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Match explorer (harness stand-in)</title></head>
<body>
  <input id="challenge" placeholder="Describe the challenge">
  <button id="search">Search</button>
  <p id="status"></p>
  <ul id="results"></ul>
  <script>
    const $ = (s) => document.querySelector(s);
    $("#search").addEventListener("click", async () => {
      const challenge = $("#challenge").value;
      const res = await fetch("/api/matches?challenge=" + encodeURIComponent(challenge));
      const matches = await res.json();
      $("#results").replaceChildren(...matches.map((m) => {
        const li = document.createElement("li");
        li.dataset.id = m.id;
        li.innerHTML = '<span class="name"></span> <button class="accept">Accept</button>';
        li.querySelector(".name").textContent = m.name;
        li.querySelector(".accept").addEventListener("click", async () => {
          const r = await fetch("/api/feedback", {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({challenge, match_id: m.id, verdict: "accept"})});
          $("#status").textContent = r.ok ? "Feedback saved for " + m.name : "Feedback failed";
        });
        return li;
      }));
      $("#status").textContent = matches.length + " matches";
    });
  </script>
</body></html>
"""

MATCHES = [{"id": "c-101", "name": "Acme Robotics"}, {"id": "c-202", "name": "Bluefin Payments"}]


@dataclass
class Site:
    """The stand-in server: its address and what the page sent it."""

    url: str = ""
    searches: list[str] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)


def _app(site: Site) -> web.Application:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def matches(request: web.Request) -> web.Response:
        site.searches.append(request.query.get("challenge", ""))
        return web.json_response(MATCHES)

    async def feedback(request: web.Request) -> web.Response:
        site.feedback.append(await request.json())
        return web.json_response({"ok": True}, status=201)

    async def favicon(_: web.Request) -> web.Response:  # else Chromium logs a 404 for it as a page error
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/api/matches", matches)
    app.router.add_post("/api/feedback", feedback)
    return app


@pytest.fixture
def site() -> Iterator[Site]:
    """The app on an ephemeral loopback port, its event loop in a thread of its own."""
    state = Site()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="site-loop", daemon=True)
    thread.start()
    runner = web.AppRunner(_app(state), access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser(chromium_or_skip()) as page:
        yield page


def test_search_then_accept_stores_feedback(site: Site, browser: Browser) -> None:
    browser.goto(site.url + "/")
    browser.type_into("#challenge", "cold-chain logistics for vaccines")
    browser.click("#search")
    browser.wait_for("document.querySelectorAll('#results li').length === 2")
    assert browser.texts("#results li .name") == ["Acme Robotics", "Bluefin Payments"]
    assert site.searches == ["cold-chain logistics for vaccines"]

    browser.click("#results li[data-id='c-202'] .accept")
    browser.wait_for("document.querySelector('#status').textContent.startsWith('Feedback')")
    assert browser.text("#status") == "Feedback saved for Bluefin Payments"
    assert site.feedback == [
        {"challenge": "cold-chain logistics for vaccines", "match_id": "c-202", "verdict": "accept"}
    ]
    assert browser.errors == []


def test_harness_surfaces_page_errors_instead_of_passing_quietly(site: Site, browser: Browser) -> None:
    """The `errors == []` check above only means something if errors do land there, and blind clicks fail."""
    browser.goto(site.url + "/")
    with pytest.raises(JsError, match="ReferenceError: nothing is not defined"):
        browser.evaluate("nothing.here")
    with pytest.raises(JsError, match="no element matches #missing"):
        browser.click("#missing")
    browser.evaluate("document.querySelector('#search').disabled = true")
    with pytest.raises(RuntimeError, match="disabled"):
        browser.click("#search")
    browser.evaluate("console.error('bad thing'); setTimeout(() => { throw new Error('async boom'); }); 1")
    browser.evaluate("fetch('/no-such-api').then(() => 1)")
    wait_until(lambda: len(browser.errors) >= 3, message=f"errors so far: {browser.errors}")
    joined = "\n".join(browser.errors)
    assert "console.error: bad thing" in joined
    assert "uncaught: Error: async boom" in joined
    assert "/no-such-api" in joined and "404" in joined
