"""The health gate's outputs and the crawl service's outcomes, with in-memory ports."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes import MemoryCrawlCache, MemoryObjectStore, MemoryQueue, MemoryRegistry, MemoryVersionedStore
from tests.unit.test_silver import row, table
from thera.enrichment.breaker import OPEN, BreakerConfig, CircuitBreaker
from thera.enrichment.crawl import CrawlService, TransientCrawlError
from thera.enrichment.gate import GateOutcome, record_health
from thera.enrichment.health import Observations
from thera.kernel import keys
from thera.kernel.messages import CrawlRequest, HealthRequest
from thera.kernel.ports import FirecrawlRejected, FirecrawlUnavailable, ScrapeResult
from thera.kernel.tables import from_parquet
from thera.lake.refine import fan_out
from thera.lake.silver import transform

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
HEALTH_KEY = "silver/domain_health/date=2026-11-22/part-abc.parquet"


SILVER_KEY = "silver/companies/date=2026-11-22/sweep=s/page=00001.parquet"


def test_gate_writes_every_result_sends_passing_domains_to_crawl_and_the_rest_to_their_profile() -> None:
    store, queue, profiles = MemoryObjectStore(), MemoryQueue(), MemoryQueue()
    requests = [HealthRequest(d, d, "h", SILVER_KEY, "run-1") for d in ("good.com", "parked.com", "gone.com")]
    observations = [
        Observations("good.com", dns_ok=True, http_status=301, https_status=200, final_status=200, text_chars=500),
        Observations(
            "parked.com", dns_ok=True, http_status=301, https_status=200, final_status=200, text_chars=500, parked=True
        ),
        Observations("gone.com"),
    ]

    def gate() -> GateOutcome:
        return record_health(
            requests,
            observations,
            store=store,
            crawl_queue=queue,
            profile_queue=profiles,
            min_score=70,
            date="2026-11-22",
            now=NOW,
        )

    out = gate()
    assert out.passed == ["good.com"]
    assert queue.bodies == [
        {
            "domain": "good.com",
            "url": "https://good.com/",
            "health_score": 100,
            "correlation_id": "run-1",
            "deferrals": 0,
            "silver_key": SILVER_KEY,
            "health_key": out.health_key,
        }
    ]
    assert [(b["domain"], b["silver_key"], b["health_key"], b["content_key"]) for b in profiles.bodies] == [
        ("parked.com", SILVER_KEY, out.health_key, ""),
        ("gone.com", SILVER_KEY, out.health_key, ""),
    ]
    health = from_parquet(store.get(out.health_key)).to_pylist()
    assert [(r["domain"], r["score"], r["flags"]) for r in health] == [
        ("good.com", 100, []),
        ("parked.com", 50, ["parked_page"]),
        ("gone.com", 0, ["dns_unresolved"]),
    ]
    again = gate()
    assert again.health_key == out.health_key and not again.written  # a redelivered batch writes nothing new


def test_fan_out_sends_only_new_or_changed_domains() -> None:
    registry, queue = MemoryRegistry(), MemoryQueue()
    silver = transform(table(row(0), row(1)), "bronze/companies/date=2026-11-22/sweep=s/page=00001.parquet").silver
    assert fan_out(silver, "silver/a", registry, queue) == 2
    assert fan_out(silver, "silver/a", registry, queue) == 0  # replay: nothing new
    changed = transform(
        table(row(0, description="pivoted to drones"), row(1)),
        "bronze/companies/date=2026-11-23/sweep=s/page=00001.parquet",
    ).silver
    assert fan_out(changed, "silver/b", registry, queue) == 1
    assert [b["domain"] for b in queue.bodies] == ["company0.com", "company1.com", "company0.com"]


class FakeScraper:
    def __init__(self, *answers: ScrapeResult | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def scrape(self, url: str) -> ScrapeResult:
        self.calls.append(url)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


PAGE = ScrapeResult(
    "# Acme\n\nWarehouse robots for retailers and grocers, with fleet software.",
    {"title": "Acme", "statusCode": 200},
    {"success": True},
)


class Env:
    def __init__(self, scraper: FakeScraper) -> None:
        self.store, self.cache, self.breakers = MemoryObjectStore(), MemoryCrawlCache(), MemoryVersionedStore()
        self.scraper, self.now = scraper, NOW.timestamp()
        self.profiles = MemoryQueue()

    def crawl(self, domain: str = "acme.com", owner: str = "m1") -> Any:
        breaker = CircuitBreaker(self.breakers, "firecrawl", BreakerConfig(2, 60, 1), owner, lambda: self.now)
        service = CrawlService(
            store=self.store,
            cache=self.cache,
            breaker=breaker,
            scraper=self.scraper,
            profile_queue=self.profiles,
            recrawl_after_days=30,
            date=datetime.fromtimestamp(self.now, UTC).date().isoformat(),
            clock=lambda: self.now,
        )
        request = CrawlRequest(domain, f"https://{domain}/", 90, "run-1", 0, SILVER_KEY, HEALTH_KEY)
        return asyncio.run(service.crawl(request))


def test_a_crawl_lands_raw_and_silver_and_a_redelivery_calls_nothing() -> None:
    env = Env(FakeScraper(PAGE))
    first = env.crawl()
    assert first.status == "crawled" and first.richness is not None
    assert env.store.metadata(keys.raw_firecrawl("2026-11-22", "acme.com")) is not None
    page = from_parquet(env.store.get(first.key)).to_pylist()[0]
    assert page["title"] == "Acme" and "Warehouse robots" in page["text"]
    assert (page["silver_key"], page["health_key"]) == (SILVER_KEY, HEALTH_KEY)  # what the profile joins
    assert env.profiles.bodies == []  # the landed page's S3 notification starts the profile
    second = env.crawl()
    assert second.status == "cached" and env.scraper.calls == ["https://acme.com/"]
    assert env.cache.skips == {"acme.com": 1}
    assert env.profiles.bodies == [
        {
            "domain": "acme.com",
            "silver_key": SILVER_KEY,
            "health_key": HEALTH_KEY,
            "content_key": first.key,  # the profile is rebuilt with the cached crawl's page
            "correlation_id": "run-1",
        }
    ]
    env.now += 31 * 86400  # past RECRAWL_AFTER_DAYS: crawled again
    assert env.crawl().status == "crawled" and len(env.scraper.calls) == 2


def test_site_errors_and_refusals_are_recorded_with_their_reason_not_retried() -> None:
    env = Env(FakeScraper(ScrapeResult("", {"statusCode": 500}, {}), FirecrawlRejected(402, "Insufficient credits")))
    down = env.crawl("down.com")
    assert (down.status, down.reason) == ("target_failed", "target_status_500")
    refused = env.crawl("other.com")
    assert (refused.status, refused.reason) == ("rejected", "http_402")
    record = json.loads(env.store.get(keys.quarantine_firecrawl("2026-11-22", "other.com")))
    assert record["detail"] == "Insufficient credits"
    # no page will land for either: their profiles are asked for without content
    assert [(b["domain"], b["content_key"]) for b in env.profiles.bodies] == [("down.com", ""), ("other.com", "")]
    breaker = env.breakers.load("firecrawl")
    assert breaker is None or breaker.doc["failures"] == 0


def test_outage_retries_while_closed_then_defers_once_the_breaker_opens() -> None:
    env = Env(FakeScraper(FirecrawlUnavailable("HTTP 503")))
    with pytest.raises(TransientCrawlError):
        env.crawl("a.com")  # first failure: SQS retries this message
    opened = env.crawl("b.com")  # second failure opens the breaker: deferred, not burned
    assert opened.status == "deferred" and opened.breaker_state == OPEN and opened.defer_seconds >= 60
    calls = len(env.scraper.calls)
    waiting = env.crawl("c.com")
    assert waiting.status == "deferred" and len(env.scraper.calls) == calls  # open: no call reaches Firecrawl
    env.now += 61
    probe = env.crawl("d.com")
    assert probe.probe and probe.status == "deferred"  # the probe failed: reopened, message deferred
    assert (opened.open_seconds, probe.open_seconds) == (0.0, 61.0)  # one outage since it opened, probe included
    env.scraper.answers = [PAGE]
    env.now += 61
    recovered = env.crawl("e.com")
    assert recovered.status == "crawled" and recovered.probe and recovered.breaker_state == "closed"
