"""Firecrawl scrape (``POST /v2/scrape``) over aiohttp.

Retries what Firecrawl's docs call retryable (408, 429 after ``Retry-After``, 500,
502, 503, 504, timeouts, connection errors) with full-jitter backoff; a wait longer
than ``max_retry_after`` is not slept in the function but handed back as
``FirecrawlUnavailable.retry_after``. 402 and other 4xx are final: ``FirecrawlRejected``
with the status and Firecrawl's reason; 401/403 (our key refused) count as unavailable,
so the breaker holds the messages until the key is fixed instead of discarding them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from thera.kernel.ports import FirecrawlRejected, FirecrawlUnavailable, ScrapeResult
from thera.kernel.retry import Backoff

RETRYABLE = {408, 429, 500, 502, 503, 504}
BACKOFF = Backoff(attempts=3, base=1.0, cap=20.0)  # calls at most, first and largest wait (s)


class FirecrawlClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        timeout_ms: int = 30_000,
        backoff: Backoff = BACKOFF,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/v2/scrape"
        self._key = api_key
        self._timeout_ms = timeout_ms
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self.attempts = 0

    async def scrape(self, url: str) -> ScrapeResult:
        body = {"url": url, "formats": ["markdown"], "onlyMainContent": True, "timeout": self._timeout_ms}
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self._timeout_ms / 1000 + 10)
        problem = "no attempt made"
        for attempt in range(self._backoff.attempts):
            self.attempts += 1
            wait = self._backoff.delay(attempt)
            try:
                async with self._session.post(self._url, json=body, headers=headers, timeout=timeout) as resp:
                    payload: Any = await resp.json(content_type=None) if resp.content_length != 0 else {}
                    status, retry_after = resp.status, resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                await self._sleep(wait)
                continue
            reason = str(payload.get("error") or "") if isinstance(payload, dict) else ""
            if status == 200 and isinstance(payload, dict) and payload.get("success"):
                return ScrapeResult.from_body(payload)
            if status in (401, 403):  # our key: every call would fail alike; let the breaker hold the messages
                raise FirecrawlUnavailable(f"Firecrawl refused the API key (HTTP {status}): {reason}")
            if status not in RETRYABLE:
                raise FirecrawlRejected(status, reason or "unexpected answer")
            problem = f"HTTP {status}: {reason}"
            if status == 429 and retry_after:
                with contextlib.suppress(ValueError):
                    wait = max(wait, float(retry_after))
                if wait > self._max_retry_after:
                    raise FirecrawlUnavailable(f"Firecrawl rate limit: {reason}", retry_after=wait)
            if attempt + 1 < self._backoff.attempts:
                await self._sleep(wait)
        raise FirecrawlUnavailable(f"Firecrawl scrape failed after {self._backoff.attempts} attempts: {problem}")
