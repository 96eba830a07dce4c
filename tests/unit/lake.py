"""A small lake in memory, filled by the real upstream stages: silver, health and one crawled page."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from tests.fakes import (
    MemoryCrawlCache,
    MemoryObjectStore,
    MemoryProfileRegistry,
    MemoryQueue,
    MemoryVersionedStore,
)
from tests.unit.test_silver import row, table
from thera.enrichment.breaker import BreakerConfig, CircuitBreaker
from thera.enrichment.crawl import CrawlService
from thera.enrichment.gate import record_health
from thera.enrichment.health import Observations
from thera.kernel.messages import CrawlRequest, HealthRequest
from thera.kernel.ports import ScrapeResult
from thera.kernel.tables import to_parquet
from thera.lake.silver import transform

BUCKET = "lake"
DAY = "2026-11-22"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BRONZE_KEY = f"bronze/companies/date={DAY}/sweep=s/page=00001.parquet"
SILVER_KEY = f"silver/companies/date={DAY}/sweep=s/page=00001.parquet"
CANARY_EMAIL = "maria.canary@acme-robots.com"
CANARY_PHONE = "+55 (81) 99876-5432"
PAGE_MARKDOWN = (
    "# Acme Robots\n\nWarehouse robots for retailers and grocers, with fleet software that plans every pick.\n\n"
    f"## Contact\n\nWrite to {CANARY_EMAIL} or hello@acme-robots.com, call {CANARY_PHONE}.\n"
)


def s3_notification(key: str, bucket: str = BUCKET) -> str:
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key)}}}
    return json.dumps({"Records": [record]})


class _Scraper:
    async def scrape(self, url: str) -> ScrapeResult:
        return ScrapeResult(PAGE_MARKDOWN, {"title": "Acme Robots", "statusCode": 200, "language": "en"}, {})


@dataclass
class Lake:
    store: MemoryObjectStore = field(default_factory=MemoryObjectStore)
    crawl_queue: MemoryQueue = field(default_factory=MemoryQueue)
    profile_queue: MemoryQueue = field(default_factory=MemoryQueue)
    profiles: MemoryProfileRegistry = field(default_factory=MemoryProfileRegistry)
    health_key: str = ""
    page_key: str = ""

    def profile_messages(self, bucket: str = BUCKET) -> list[str]:
        """What reaches ProfileQueue: the page's S3 notification and the gate's direct requests."""
        return [s3_notification(self.page_key, bucket), *(json.dumps(b) for b in self.profile_queue.bodies)]


def build_lake(**company0: Any) -> Lake:
    """company0 (acme-robots.com) passes the gate and is crawled; company1 fails the gate."""
    lake = Lake()
    fields = {
        "primary_domain": "acme-robots.com",
        "name": "Acme Robots",
        "description": f"Warehouse robotics for retail. Press: {CANARY_EMAIL}",
        "phone": CANARY_PHONE,
        **company0,
    }
    bronze = table(row(0, **fields), row(1, keywords=["fintech", "payments"], industries=["Fintech"]))
    lake.store.put(SILVER_KEY, to_parquet(transform(bronze, BRONZE_KEY).silver))
    requests = [HealthRequest(d, d, "h", SILVER_KEY, "run-1") for d in ("acme-robots.com", "company1.com")]
    observations = [
        Observations(
            "acme-robots.com", dns_ok=True, http_status=301, https_status=200, final_status=200, text_chars=900
        ),
        Observations("company1.com"),
    ]
    gate = record_health(
        requests,
        observations,
        store=lake.store,
        crawl_queue=lake.crawl_queue,
        profile_queue=lake.profile_queue,
        min_score=70,
        date=DAY,
        now=NOW,
    )
    lake.health_key = gate.health_key
    breaker = CircuitBreaker(MemoryVersionedStore(), "firecrawl", BreakerConfig(5, 60, 2), "t", NOW.timestamp)
    service = CrawlService(
        store=lake.store,
        cache=MemoryCrawlCache(),
        breaker=breaker,
        scraper=_Scraper(),
        profile_queue=lake.profile_queue,
        recrawl_after_days=30,
        date=DAY,
        clock=NOW.timestamp,
    )
    (crawl,) = lake.crawl_queue.bodies
    lake.page_key = asyncio.run(service.crawl(CrawlRequest.parse(json.dumps(crawl)))).key
    return lake
