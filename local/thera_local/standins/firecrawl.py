"""A Firecrawl-compatible scrape API on loopback, answering from the sites stand-in.

``POST /v2/scrape`` (and ``/v1/scrape``) with ``Authorization: Bearer <key>`` and a body
``{"url", "formats", "onlyMainContent", "timeout"}`` answers Firecrawl's shape,
``{"success": true, "data": {"markdown", "metadata": {..., "statusCode"}}}``, built from
what the site of the URL's host would show; nothing is fetched. Faults (an outage, a run
of 429/402/500s, added latency) are switched through ``/__standin/faults`` or
``set_faults``; ``/__standin/stats`` counts calls and in-flight scrapes, so a test can
prove how many scrapes a consumer runs at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from thera_local.loopback import LoopbackServer, take_injected
from thera_local.standins.sites import ERROR_500_TEXT, SitesStandIn, parked_lines

TIMELINE_LIMIT = 100_000  # change points kept; a long run stops recording rather than growing without end
ERRORS = {
    402: "Payment Required: Insufficient credits to perform this request.",
    408: "Request timed out",
    429: "Rate limit exceeded. Consumed (req/min): 10, Remaining (req/min): 0. Please retry after the time in "
    "the Retry-After header.",
    500: "An unexpected error occurred. Please contact help@firecrawl.com for help.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# What Firecrawl's browser reports for a site it cannot load (Chrome's net error names).
UNREACHABLE = {
    "dns_miss": "ERR_NAME_NOT_RESOLVED",
    "refused": "ERR_CONNECTION_REFUSED",
    "timeout": "ERR_TIMED_OUT",
    "redirect_loop": "ERR_TOO_MANY_REDIRECTS",
}
CERT_ERRORS = {
    "self_signed": "ERR_CERT_AUTHORITY_INVALID",
    "expired": "ERR_CERT_DATE_INVALID",
    "wrong_host": "ERR_CERT_COMMON_NAME_INVALID",
}


@dataclass
class ScrapeFaults:
    outage: bool = False  # every scrape answers 503
    status: int | None = None  # answer this status ...
    count: int = 0  # ... this many times (then behave again)
    retry_after: int = 1  # seconds, sent as Retry-After with an injected 429
    latency: float = 0.0  # seconds added to every scrape


class FirecrawlStandIn(LoopbackServer):
    thread_name = "firecrawl-standin"

    def __init__(self, sites: SitesStandIn, api_key: str, latency: float = 0.0) -> None:
        super().__init__()
        self.sites = sites
        self.api_key = api_key
        self.faults = ScrapeFaults(latency=latency)
        self._lock = threading.Lock()
        self._calls = 0  # answered scrapes (200 with success)
        self._requests = 0  # every scrape request
        self._by_status: Counter[int] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._started = time.monotonic()
        self._timeline: list[list[float]] = [[0.0, 0]]

    # ------------------------------------------------------------ switches
    @property
    def outage(self) -> bool:
        return self.faults.outage

    @outage.setter
    def outage(self, value: bool) -> None:
        self.faults.outage = value

    @property
    def latency(self) -> float:
        return self.faults.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self.faults.latency = value

    def set_faults(self, reset: bool = False, **changes: Any) -> dict[str, Any]:
        """Change the given switches only (``reset`` first returns all to normal); returns them all."""
        known = [f.name for f in fields(ScrapeFaults)]
        if unknown := set(changes) - set(known):
            raise ValueError(f"unknown fault switches {sorted(unknown)}; known: {', '.join(known)}")
        with self._lock:
            faults = ScrapeFaults() if reset else ScrapeFaults(**asdict(self.faults))
            for name, value in changes.items():
                setattr(faults, name, _coerce(name, value))
            self.faults = faults
            return asdict(faults)

    def reset_faults(self) -> None:
        self.set_faults(reset=True)

    # ------------------------------------------------------------ measurements
    def _enter(self) -> None:
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._mark()

    def _leave(self, status: int, answered: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            self._by_status[status] += 1
            self._calls += answered
            self._mark()

    def _mark(self) -> None:
        if len(self._timeline) < TIMELINE_LIMIT:
            self._timeline.append([round(time.monotonic() - self._started, 6), self._in_flight])

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self._calls,
                "requests": self._requests,
                "by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "timeline": [list(p) for p in self._timeline],
            }

    # ------------------------------------------------------------ handlers
    async def _scrape(self, request: web.Request) -> web.Response:
        self._enter()  # before anything can wait, so in_flight is exact
        status, answered = 500, False
        try:
            response = await self._answer(request)
            status = response.status
            answered = status == 200
            return response
        finally:
            self._leave(status, answered)

    async def _answer(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Unauthorized")
        with self._lock:
            faults = self.faults
            injected = take_injected(faults)
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.outage:
            return _error(503, ERRORS[503])
        if injected is not None:
            headers = {"Retry-After": str(faults.retry_after)} if injected == 429 else None
            return _error(injected, ERRORS.get(injected, f"Injected fault {injected}"), headers=headers)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "Bad Request", [{"message": "body must be JSON"}])
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.strip():
            return _error(400, "Bad Request", [{"path": ["url"], "message": "Required"}])
        version = request.path.split("/")[1]
        # v2 skips TLS verification unless told not to; v1 verifies unless told to skip.
        skip_tls = bool(body.get("skipTlsVerification", version == "v2"))
        return web.json_response({"success": True, "data": self._document(url.strip(), skip_tls)})

    def _document(self, url: str, skip_tls: bool) -> dict[str, Any]:
        if "://" not in url:
            url = "http://" + url
        site = self.sites.site_for(urlsplit(url).hostname or "")
        base = {"sourceURL": url, "url": url}
        if site is None:
            return {"markdown": "", "metadata": {**base, "statusCode": 404, "error": "NOT_FOUND: no site at this host"}}
        error = UNREACHABLE.get(site.mode) or (None if skip_tls else CERT_ERRORS.get(site.mode))
        if error:
            return {"markdown": "", "metadata": {**base, "statusCode": 0, "error": error}}
        if site.mode == "http_500":
            return {
                "markdown": f"# {ERROR_500_TEXT}",
                "metadata": {**base, "title": ERROR_500_TEXT, "statusCode": 500},
            }
        if site.mode == "parked":
            head, *rest = parked_lines(site.domain)
            return {
                "markdown": "\n\n".join((f"# {head}", *rest[:2])),
                "metadata": {**base, "title": head, "language": "en", "statusCode": 200},
            }
        markdown = "\n\n".join((f"# {site.name}", *site.paragraphs))
        metadata = {
            "title": site.name,
            "description": site.one_liner,
            "language": "en",
            **base,
            "statusCode": 200,
        }
        return {"markdown": markdown, "metadata": metadata}

    async def _get_faults(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(asdict(self.faults))

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            return web.json_response(self.set_faults(**body))
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/scrape", self._scrape)
        app.router.add_post("/v1/scrape", self._scrape)
        app.router.add_get("/__standin/faults", self._get_faults)
        app.router.add_post("/__standin/faults", self._post_faults)
        app.router.add_get("/__standin/stats", self._stats)
        return app

    def start(self, port: int = 0) -> str:
        with self._lock:
            self._started = time.monotonic()
            self._timeline = [[0.0, self._in_flight]]
        return super().start(port)


def _coerce(name: str, value: Any) -> Any:
    if name == "outage":
        if not isinstance(value, bool):
            raise ValueError("outage must be true or false")
        return value
    if name == "status":
        return None if value is None else int(value)
    if name in ("count", "retry_after"):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0")
        return int(value)
    if float(value) < 0:
        raise ValueError(f"{name} must be >= 0")
    return float(value)


def _error(status: int, message: str, details: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"success": False, "error": message}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)
