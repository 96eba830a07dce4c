"""Crawl one healthy domain's home page through Firecrawl, behind the shared circuit breaker.

Outcomes, and what happens to the message:

- ``cached`` / ``already_done``: crawled within ``RECRAWL_AFTER_DAYS`` (no call; the
  profile is rebuilt with that crawl's page) or already landed today (a redelivery): done.
- ``crawled``: raw answer (with its request and time) to ``raw/firecrawl/``, cleaned text and richness to
  ``silver/firecrawl/`` (whose S3 notification starts the profile), the cache updated: done.
- ``target_failed`` / ``rejected``: the site answered badly through Firecrawl, or
  Firecrawl refused the request (402, 4xx): recorded under ``quarantine/firecrawl/``
  with the reason, never retried; the profile is built without page content: done.
- ``deferred``: the breaker is open, or this failure opened it, or a half-open probe
  failed. The message is sent again with a delay instead of being retried, because
  SQS counts every receive toward ``maxReceiveCount`` and a visibility change does
  not reset that count: an outage must not push good messages into the DLQ.
- ``TransientCrawlError`` raised: Firecrawl failed while the breaker stays closed:
  the message is retried by SQS and reaches the DLQ only if it keeps failing alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from thera.enrichment.breaker import CLOSED, CircuitBreaker
from thera.enrichment.content import analyze
from thera.kernel import keys, schemas
from thera.kernel.messages import CrawlRequest, ProfileRequest
from thera.kernel.outcomes import AsDict
from thera.kernel.ports import (
    CrawlCache,
    FirecrawlRejected,
    FirecrawlUnavailable,
    MessageQueue,
    ObjectStore,
    ScrapeResult,
)
from thera.kernel.tables import to_parquet

MIN_DEFER_SECONDS = 1
MAX_DEFER_SECONDS = 900  # SQS DelaySeconds limit


class TransientCrawlError(RuntimeError):
    pass


class Scraper(Protocol):
    async def scrape(self, url: str) -> ScrapeResult: ...


@dataclass
class CrawlOutcome(AsDict):
    domain: str
    status: str
    reason: str = ""
    richness: int | None = None
    key: str = ""
    defer_seconds: int = 0
    probe: bool = False
    breaker_state: str = ""
    profile_requested: bool = False
    open_seconds: float | None = None  # deferred: how long the breaker has been open


class CrawlService:
    def __init__(
        self,
        *,
        store: ObjectStore,
        cache: CrawlCache,
        breaker: CircuitBreaker,
        scraper: Scraper,
        profile_queue: MessageQueue,
        recrawl_after_days: int,
        date: str,
        clock: Callable[[], float],
    ) -> None:
        self._store, self._cache, self._breaker, self._scraper = store, cache, breaker, scraper
        self._profile_queue = profile_queue
        self._recrawl_seconds = recrawl_after_days * 86400
        self._date, self._clock = date, clock

    async def crawl(self, request: CrawlRequest) -> CrawlOutcome:
        domain = request.domain
        now = self._clock()
        last = self._cache.last_crawl(domain)
        if last is not None and now - last.crawled_at < self._recrawl_seconds:
            self._cache.note_skip(domain)
            days = int((now - last.crawled_at) // 86400)
            outcome = CrawlOutcome(domain, "cached", reason=f"crawled {days} day(s) ago", key=last.content_key)
            outcome.profile_requested = self._request_profile(request, last.content_key)
            return outcome
        silver_key = keys.silver_firecrawl(self._date, domain)
        if self._store.metadata(silver_key) is not None:
            return CrawlOutcome(domain, "already_done", key=silver_key)

        permit = self._breaker.allow()
        if not permit.allowed:
            return CrawlOutcome(
                domain,
                "deferred",
                reason=f"breaker {permit.state}",
                defer_seconds=_defer(permit.retry_after),
                breaker_state=permit.state,
                open_seconds=self._breaker.open_for(),
            )
        try:
            result = await self._scraper.scrape(request.url)
        except FirecrawlUnavailable as exc:
            state = self._breaker.record_failure()
            if permit.probe or state != CLOSED:  # the outage is known: do not spend this message's receives
                wait = max(exc.retry_after, self._breaker.config.cooldown_seconds)
                return CrawlOutcome(
                    domain,
                    "deferred",
                    reason=str(exc),
                    defer_seconds=_defer(wait),
                    probe=permit.probe,
                    breaker_state=state,
                    open_seconds=self._breaker.open_for(),
                )
            raise TransientCrawlError(str(exc)) from exc
        except FirecrawlRejected as exc:
            self._breaker.record_success()  # Firecrawl is up; it said no to this request
            return self._record_failure(request, "rejected", f"http_{exc.status}", exc.reason, permit.probe)
        state = self._breaker.record_success()
        if result.target_status >= 400 or result.target_status == 0 or not result.markdown.strip():
            reason = f"target_status_{result.target_status}" if result.target_status else "target_unreachable"
            detail = str(result.metadata.get("error") or "no content")
            return self._record_failure(request, "target_failed", reason, detail, permit.probe, state)
        return self._land(request, result, permit.probe, state)

    def _land(self, request: CrawlRequest, result: ScrapeResult, probe: bool, state: str) -> CrawlOutcome:
        now = self._clock()
        raw_key = keys.raw_firecrawl(self._date, request.domain)
        raw = RawPage(request, datetime.fromtimestamp(now, UTC), result)
        self._store.put(raw_key, raw.encode())
        row = raw.silver_row(raw_key)
        silver_key = keys.silver_firecrawl(self._date, request.domain)
        self._store.put(silver_key, to_parquet(pa.Table.from_pylist([row], schema=schemas.SILVER_FIRECRAWL)))
        self._cache.remember(request.domain, now, int(now + self._recrawl_seconds), silver_key)
        return CrawlOutcome(
            request.domain, "crawled", richness=row["richness"], key=silver_key, probe=probe, breaker_state=state
        )

    def _record_failure(
        self, request: CrawlRequest, status: str, reason: str, detail: str, probe: bool, state: str = ""
    ) -> CrawlOutcome:
        key = keys.quarantine_firecrawl(self._date, request.domain)
        doc = {
            "domain": request.domain,
            "url": request.url,
            "status": status,
            "reason": reason,
            "detail": detail,
            "correlation_id": request.correlation_id,
            "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
        }
        self._store.put(key, json.dumps(doc, sort_keys=True).encode())
        outcome = CrawlOutcome(request.domain, status, reason=reason, key=key, probe=probe, breaker_state=state)
        outcome.profile_requested = self._request_profile(request, "")
        return outcome

    def _request_profile(self, request: CrawlRequest, content_key: str) -> bool:
        """No new page lands for this domain: ask for its profile directly (a request made before
        the keys travelled with crawl requests cannot name its silver row, and is left alone)."""
        if not request.silver_key:
            return False
        profile = ProfileRequest(
            request.domain, request.silver_key, request.health_key, content_key, request.correlation_id
        )
        self._profile_queue.send_many([profile.body()])
        return True


@dataclass(frozen=True)
class RawPage:
    """What ``raw/firecrawl/`` keeps of one crawl: Firecrawl's answer as received, with the request it
    answered and when, so that silver (and so gold) can be rebuilt from it without calling Firecrawl."""

    request: CrawlRequest
    crawled_at: datetime
    result: ScrapeResult

    def encode(self) -> bytes:
        doc = {"request": asdict(self.request), "crawled_at": self.crawled_at.isoformat(), "response": self.result.body}
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> RawPage:
        doc = json.loads(data)
        request = CrawlRequest.parse(json.dumps(doc["request"]))
        return cls(request, datetime.fromisoformat(doc["crawled_at"]), ScrapeResult.from_body(doc["response"]))

    def silver_row(self, raw_key: str) -> dict[str, Any]:
        result, request = self.result, self.request
        page = analyze(result.markdown, result.metadata)
        return {
            "domain": request.domain,
            "url": request.url,
            "title": result.metadata.get("title"),
            "description": result.metadata.get("description"),
            "language": result.metadata.get("language"),
            "markdown": result.markdown,
            "text": page.text,
            "word_count": page.word_count,
            "headings": page.headings,
            "richness": page.richness,
            "status_code": result.target_status,
            "crawled_at": self.crawled_at,
            "raw_key": raw_key,
            "correlation_id": request.correlation_id,
            "silver_key": request.silver_key or None,
            "health_key": request.health_key or None,
        }


def _defer(seconds: float) -> int:
    return int(min(MAX_DEFER_SECONDS, max(MIN_DEFER_SECONDS, round(seconds + 0.5))))


def send_again(queue: MessageQueue, request: CrawlRequest, outcome: CrawlOutcome) -> None:
    """A deferred crawl goes back to its queue after the breaker's wait: the same request, its keys travel on."""
    queue.send_many([replace(request, deferrals=request.deferrals + 1).body()], outcome.defer_seconds)
