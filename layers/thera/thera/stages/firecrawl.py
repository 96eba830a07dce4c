"""FirecrawlFunction: each CrawlQueue message → a Firecrawl scrape behind the shared breaker, or sent again later.

aiohttp and the Firecrawl client are imported when a crawl runs, not at import.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoCrawlCache, DynamoVersionedStore, S3ObjectStore, SqsQueue
from thera.enrichment.breaker import BreakerConfig, CircuitBreaker
from thera.enrichment.crawl import CrawlOutcome, CrawlService, send_again
from thera.kernel.config import FirecrawlSettings
from thera.kernel.messages import CrawlRequest
from thera.observability import logger, metrics
from thera.runtime import api_key, business_date, client, each_record, settings

FIRECRAWL_BREAKER = "firecrawl"


def handle(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return each_record(event, context, crawl_message)


def crawl_message(record: SQSRecord) -> dict[str, object]:
    """One CrawlQueue message: crawl it, or send it again later when the breaker says wait."""
    config = settings(FirecrawlSettings)
    request = CrawlRequest.parse(record.body)
    logger.append_keys(domain=request.domain, correlation_id=request.correlation_id)
    outcome = asyncio.run(_crawl(config, request, owner=record.message_id))
    if outcome.status == "deferred":
        if outcome.open_seconds is not None:  # the alarm "breaker open too long" watches the maximum of this
            metrics.add_metric("BreakerOpenSeconds", MetricUnit.Seconds, outcome.open_seconds)
        send_again(SqsQueue(client("sqs"), config.crawl_queue_url), request, outcome)
    logger.info("crawl finished", extra={"outcome": outcome.as_dict()})
    metrics.add_metric(f"Crawl_{outcome.status}", MetricUnit.Count, 1)
    return outcome.as_dict()


async def _crawl(settings: FirecrawlSettings, request: CrawlRequest, owner: str) -> CrawlOutcome:
    def on_transition(before: str, after: str) -> None:
        logger.warning("circuit breaker transition", extra={"breaker": FIRECRAWL_BREAKER, "from": before, "to": after})
        metrics.add_metric(f"BreakerTo_{after}", MetricUnit.Count, 1)

    breaker = CircuitBreaker(
        DynamoVersionedStore(client("dynamodb"), settings.breaker_table),
        FIRECRAWL_BREAKER,
        BreakerConfig(settings.failure_threshold, settings.cooldown_seconds, settings.success_threshold),
        owner=owner,
        on_transition=on_transition,
    )
    import aiohttp

    from thera.adapters import firecrawl
    from thera.adapters.firecrawl import FirecrawlClient

    async with aiohttp.ClientSession() as session:
        scraper = FirecrawlClient(
            session,
            settings.base_url,
            api_key(settings.secret_id),
            timeout_ms=settings.timeout_ms,
            backoff=replace(firecrawl.BACKOFF, attempts=settings.max_attempts),
        )
        service = CrawlService(
            store=S3ObjectStore(client("s3"), settings.bucket),
            cache=DynamoCrawlCache(client("dynamodb"), settings.cache_table),
            breaker=breaker,
            scraper=scraper,
            profile_queue=SqsQueue(client("sqs"), settings.profile_queue_url),
            recrawl_after_days=settings.recrawl_after_days,
            date=business_date(settings.timezone),
            clock=time.time,
        )
        return await service.crawl(request)
