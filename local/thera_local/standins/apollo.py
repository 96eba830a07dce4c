"""An Apollo-compatible organization search on loopback, serving a company file.

It speaks the wire format the real client meets: ``POST /api/v1/mixed_companies/search``
with an ``x-api-key`` header and ``page``/``per_page`` (≤ 100, ≤ 500 pages) in the
body, an answer of ``organizations[]`` and ``pagination{}``, and Apollo's own
per-minute/hour/day limits, with 429s and the ``x-*-usage`` / ``x-*-requests-left``
headers. Faults can be injected through ``/__standin/faults`` for tests and drills.

Filters the search applies (``_filter``), all case-insensitive:

- Apollo's own (FACTS §1), the ones a segment of ``ApolloSearchSegments`` sends:
  ``q_organization_name`` (substring of the name); ``organization_locations[]`` and
  ``organization_not_locations[]`` (a company's country, state or city); ``q_organization_keyword_tags[]``
  (any tag among the company's keywords or industries: Apollo's keyword tags cover both, which is how
  a segment asks for an industry); ``organization_num_employees_ranges[]`` (``"min,max"``, an empty
  bound open; a company without a team size matches no range).
- A stand-in extra, no Apollo filter, for drills against the stand-in only:
  ``organization_founded_year_range{min,max}``. Segments refuse it, as Apollo would ignore it.
- Accepted and not applied, for the dataset has no such fields: the funding, revenue, technology and
  job-posting filters.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from thera_local.loopback import LoopbackServer, take_injected

MAX_PAGES = 500
WINDOWS = (("minute", 60), ("hour", 3600), ("day", 86400))
HEADER_NAMES = {
    "minute": ("x-rate-limit-minute", "x-minute-usage", "x-minute-requests-left"),
    "hour": ("x-rate-limit-hourly", "x-hourly-usage", "x-hourly-requests-left"),
    "day": ("x-rate-limit-24-hour", "x-24-hour-usage", "x-24-hour-requests-left"),
}


def organization_from_company(company: dict[str, Any]) -> dict[str, Any]:
    """A company of the dataset (yc_companies.jsonl format) in Apollo's organization shape."""
    key = str(company.get("yc_id") or company.get("slug") or company.get("name"))
    return {
        "id": hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:24],
        "name": company.get("name"),
        "website_url": company.get("website"),
        "primary_domain": company.get("domain"),
        "linkedin_url": None,
        "phone": company.get("phone"),
        "founded_year": company.get("founded_year"),
        "estimated_num_employees": company.get("team_size"),
        "industry": (company.get("industries") or [None])[0],
        "industries": company.get("industries") or [],
        "keywords": company.get("tags") or [],
        "short_description": company.get("long_description") or company.get("one_liner"),
        "seo_description": company.get("one_liner"),
        "city": company.get("city"),
        "state": company.get("state"),
        "country": company.get("country"),
    }


def _lower(values: Any) -> set[str]:
    return {str(v).strip().lower() for v in (values if isinstance(values, list) else [values]) if v is not None}


def _ranges(values: Any) -> list[tuple[int, int]]:
    """``"min,max"`` ranges; an empty bound is open."""
    out = []
    for value in values if isinstance(values, list) else [values]:
        low, _, high = str(value).partition(",")
        out.append((int(low) if low.strip() else 0, int(high) if high.strip() else 10**9))
    return out


def matches(org: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether an organization passes every filter of a search body (see the module docstring)."""
    name = str(body.get("q_organization_name") or "").lower()
    if name and name not in str(org.get("name") or "").lower():
        return False
    places = _lower([org.get("country"), org.get("state"), org.get("city")])
    if (wanted := _lower(body.get("organization_locations") or [])) and not wanted & places:
        return False
    if _lower(body.get("organization_not_locations") or []) & places:
        return False
    tags = _lower(body.get("q_organization_keyword_tags") or [])
    if tags and not tags & _lower([*(org.get("keywords") or []), *(org.get("industries") or [])]):
        return False
    if ranges := _ranges(body.get("organization_num_employees_ranges") or []):
        team = org.get("estimated_num_employees")
        if not isinstance(team, int) or not any(low <= team <= high for low, high in ranges):
            return False
    founded = body.get("organization_founded_year_range") or {}
    if founded:
        year = org.get("founded_year")
        if not isinstance(year, int) or not founded.get("min", 0) <= year <= founded.get("max", 9999):
            return False
    return True


class CompanyFileError(ValueError):
    """A company file the stack cannot serve; the message names the file, the line and what is wrong."""


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def load_companies(path: Path) -> list[dict[str, Any]]:
    """The companies of a JSON Lines file (one object per line, yc_companies.jsonl's format)."""
    companies = []
    try:
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CompanyFileError(f"{path} line {n}: not UTF-8 text (byte {exc.start + 1})") from None
                if not line.strip():
                    continue
                text = line.rstrip("\r\n")
                try:
                    company = json.loads(text)
                except json.JSONDecodeError as exc:
                    where = "at the end of the line" if exc.pos >= len(text.rstrip()) else f"at column {exc.pos + 1}"
                    raise CompanyFileError(f"{path} line {n}: not valid JSON: {exc.msg} {where}") from None
                if not isinstance(company, dict):
                    kind = _JSON_KINDS.get(type(company), "null")
                    raise CompanyFileError(f"{path} line {n}: {kind}, not a JSON object with a company's fields")
                companies.append(company)
    except OSError as exc:
        raise CompanyFileError(f"{path}: {exc.strerror or exc}") from None
    if not companies:
        raise CompanyFileError(f"{path}: no companies (the file is empty)")
    return companies


@dataclass
class Faults:
    status: int | None = None  # answer this status ...
    count: int = 0  # ... this many times (then behave again)
    latency: float = 0.0  # seconds added to every search answer
    headers: dict[str, str] = field(default_factory=dict)


class ApolloStandIn(LoopbackServer):
    thread_name = "apollo-standin"

    def __init__(
        self,
        organizations: list[dict[str, Any]],
        api_key: str,
        limits: dict[str, int] | None = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.organizations = organizations
        self.api_key = api_key
        self.limits = limits or {"minute": 50, "hour": 200, "day": 600}
        self.faults = Faults(latency=latency)
        self.clock = clock
        self.usage: dict[str, tuple[int, int]] = {}  # window -> (window start, used)
        self.calls = 0  # answered searches (200s)
        self.requests = 0  # every search request, errors included
        self.rejected = 0  # 429s
        self.pages_served: list[int] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------ limits
    def _used(self, window: str, seconds: int, now: float) -> int:
        start = int(now // seconds) * seconds
        got = self.usage.get(window)
        return got[1] if got and got[0] == start else 0

    def _headers(self, now: float) -> dict[str, str]:
        out: dict[str, str] = {}
        for window, seconds in WINDOWS:
            used = self._used(window, seconds, now)
            limit_h, usage_h, left_h = HEADER_NAMES[window]
            out[limit_h] = str(self.limits[window])
            out[usage_h] = str(used)
            out[left_h] = str(max(0, self.limits[window] - used))
        return out

    def _spend(self, now: float) -> bool:
        if any(self._used(w, s, now) >= self.limits[w] for w, s in WINDOWS):
            return False
        for window, seconds in WINDOWS:
            start = int(now // seconds) * seconds
            self.usage[window] = (start, self._used(window, seconds, now) + 1)
        return True

    # ------------------------------------------------------------ handlers
    async def _search(self, request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != self.api_key:
            return web.json_response({"error": "Invalid access credentials."}, status=401)
        with self._lock:
            self.requests += 1
            faults = self.faults
            injected = take_injected(faults)
        if faults.latency:
            await asyncio.sleep(faults.latency)
        now = self.clock()
        if injected is not None:
            with self._lock:
                headers = {**self._headers(now), **faults.headers}
            return web.json_response({"error": f"injected fault {injected}"}, status=injected, headers=headers)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        page, per_page = body.get("page", 1), body.get("per_page", 10)
        if not isinstance(page, int) or not isinstance(per_page, int) or page < 1 or not 1 <= per_page <= 100:
            return web.json_response({"error": "page must be >= 1 and per_page between 1 and 100"}, status=422)
        with self._lock:
            if not self._spend(now):
                self.rejected += 1
                return web.json_response(
                    {"error": "The maximum number of api calls allowed for api/v1/mixed_companies/search is exceeded"},
                    status=429,
                    headers=self._headers(now),
                )
            headers = self._headers(now)
            self.calls += 1
            self.pages_served.append(page)
        try:
            found = self._filter(body)
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"malformed filter: {exc}"}, status=422, headers=headers)
        total_pages = min(MAX_PAGES, -(-len(found) // per_page))
        start = (page - 1) * per_page
        orgs = found[start : start + per_page] if page <= MAX_PAGES else []
        payload = {
            "breadcrumbs": [],
            "partial_results_only": False,
            "accounts": [],
            "organizations": orgs,
            "pagination": {
                "page": page,
                "per_page": per_page,
                "total_entries": len(found),
                "total_pages": total_pages,
            },
        }
        return web.json_response(payload, headers=headers)

    def _filter(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [o for o in self.organizations if matches(o, body)]

    async def _health(self, request: web.Request) -> web.Response:
        ok = request.headers.get("x-api-key") == self.api_key
        return web.json_response({"healthy": ok, "is_logged_in": ok})

    async def _set_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.faults = Faults(
                status=body.get("status"),
                count=int(body.get("count", 0)),
                latency=float(body.get("latency", 0.0)),
                headers={str(k): str(v) for k, v in (body.get("headers") or {}).items()},
            )
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            return {
                "calls": self.calls,
                "requests": self.requests,
                "rejected_429": self.rejected,
                "pages_served": list(self.pages_served),
                "usage": {w: self._used(w, s, now) for w, s in WINDOWS},
                "limits": dict(self.limits),
            }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/mixed_companies/search", self._search)
        app.router.add_get("/api/v1/auth/health", self._health)
        app.router.add_post("/__standin/faults", self._set_faults)
        app.router.add_get("/__standin/stats", self._stats)
        return app

    @property
    def api_base(self) -> str:
        return self.url + "/api/v1"
