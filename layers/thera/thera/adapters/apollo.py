"""Apollo organization search over aiohttp (``POST /mixed_companies/search``).

Retries: 429 waits for the window Apollo reports as exhausted (its
``x-*-requests-left`` headers); when the hourly or daily allowance is gone it
stops with ``ApolloRateLimited`` rather than sleeping for hours. 5xx, timeouts
and connection errors are retried with full-jitter exponential backoff. 401/403
fail at once with ``ApolloAuthError``. Every attempt first awaits
``before_attempt``, where the caller spends a token from its own quota.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from thera.kernel.ports import (
    ApolloAuthError,
    ApolloError,
    ApolloRateLimited,
    ApolloUnavailable,
    RateLimitInfo,
    SearchPage,
)
from thera.kernel.retry import Backoff

SEARCH_PATH = "/mixed_companies/search"
MAX_PER_PAGE = 100


def _seconds_to_next(window_seconds: int, now: float) -> float:
    return window_seconds - (now % window_seconds) + 0.5


BACKOFF = Backoff(attempts=6, base=1.0, cap=60.0)  # calls at most, first and largest wait (s)


class ApolloClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        backoff: Backoff = BACKOFF,
        max_rate_wait: float = 65.0,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + SEARCH_PATH
        self._key = api_key
        self._backoff = backoff
        self._max_rate_wait = max_rate_wait
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sleep = sleep
        self._clock = clock
        self._before_attempt = before_attempt
        self.attempts = 0

    async def search_organizations(
        self, page: int, per_page: int = MAX_PER_PAGE, filters: Mapping[str, Any] | None = None
    ) -> SearchPage:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
        if page < 1:
            raise ValueError(f"page must be >= 1, got {page}")
        body = {**(filters or {}), "page": page, "per_page": per_page}
        headers = {"x-api-key": self._key, "Content-Type": "application/json", "Cache-Control": "no-cache"}
        last_problem = "no attempt made"
        for attempt in range(self._backoff.attempts):
            if self._before_attempt is not None:
                await self._before_attempt()
            self.attempts += 1
            try:
                async with self._session.post(self._url, json=body, headers=headers, timeout=self._timeout) as resp:
                    limits = RateLimitInfo.from_headers(resp.headers)
                    if resp.status == 200:
                        payload = await resp.json(content_type=None)
                        return self._parse(payload, limits)
                    text = (await resp.text())[:300]
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                await self._sleep(self._backoff.delay(attempt))
                continue
            if resp.status in (401, 403):
                raise ApolloAuthError(
                    f"Apollo refused the request with HTTP {resp.status} ({text!r}); "
                    "check the API key in Secrets Manager and that the plan includes organization search"
                )
            if resp.status == 429:
                await self._wait_for_rate_limit(limits, attempt)
                last_problem = "HTTP 429"
                continue
            if resp.status >= 500:
                last_problem = f"HTTP {resp.status}: {text!r}"
                await self._sleep(self._backoff.delay(attempt))
                continue
            raise ApolloError(f"Apollo answered HTTP {resp.status} to page {page}: {text!r}")
        tried = self._backoff.attempts
        raise ApolloUnavailable(f"Apollo search page {page} failed after {tried} attempts: {last_problem}")

    async def _wait_for_rate_limit(self, limits: RateLimitInfo, attempt: int) -> None:
        now = self._clock()
        for window, seconds in (("day", 86400), ("hour", 3600)):
            if limits.left(window) == 0:
                raise ApolloRateLimited(
                    f"Apollo's {window} allowance is used up", window, _seconds_to_next(seconds, now)
                )
        wait = max(_seconds_to_next(60, now) if limits.left("minute") == 0 else 0.0, self._backoff.delay(attempt))
        if wait > self._max_rate_wait:
            raise ApolloRateLimited("Apollo keeps answering 429", "minute", wait)
        await self._sleep(wait)

    @staticmethod
    def _parse(payload: Any, limits: RateLimitInfo) -> SearchPage:
        if not isinstance(payload, dict):
            raise ApolloError("Apollo search answered with a body that is not a JSON object")
        orgs = payload.get("organizations")
        pagination = payload.get("pagination")
        if not isinstance(orgs, list) or not isinstance(pagination, dict):
            raise ApolloError("Apollo search answer lacks 'organizations' or 'pagination'")
        try:
            return SearchPage(
                organizations=orgs,
                page=int(pagination["page"]),
                per_page=int(pagination["per_page"]),
                total_entries=int(pagination["total_entries"]),
                total_pages=int(pagination["total_pages"]),
                body=payload,
                rate_limit=limits,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApolloError(f"Apollo pagination is malformed: {exc}") from None
