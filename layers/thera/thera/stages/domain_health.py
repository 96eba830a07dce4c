"""DomainHealthFunction: a HealthQueue batch → concurrent checks → health records, CrawlQueue and ProfileQueue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import S3ObjectStore, SqsQueue
from thera.enrichment.gate import GateOutcome, record_health
from thera.enrichment.health import Observations
from thera.kernel.config import DomainHealthSettings
from thera.kernel.messages import HealthRequest
from thera.observability import logger, metrics
from thera.runtime import business_date, client, process_each, settings


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return health_batch(settings(DomainHealthSettings), event, context)


async def _check(settings: DomainHealthSettings, requests: list[HealthRequest]) -> list[Observations]:
    from thera.adapters.web import HealthChecker, make_resolver, make_ssl_context  # aiohttp: when the batch runs

    resolver = make_resolver(settings.local_dns_url or None)
    ssl_context = make_ssl_context(settings.extra_ca_bundle or None)
    async with HealthChecker(resolver, ssl_context, settings.timeout_seconds, settings.concurrency) as checker:
        return await checker.check_many([r.domain for r in requests])


def health_batch(settings: DomainHealthSettings, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Parse every record (a malformed one fails alone), check all domains concurrently, record, pass on."""

    def parse(record: SQSRecord) -> HealthRequest:
        return HealthRequest.parse(record.body)

    parsed, response = process_each(event, context, parse)
    requests = [result for status, result, _ in parsed if status == "success"]
    observations = asyncio.run(_check(settings, requests)) if requests else []
    outcome: GateOutcome = record_health(
        requests,
        observations,
        store=S3ObjectStore(client("s3"), settings.bucket),
        crawl_queue=SqsQueue(client("sqs"), settings.crawl_queue_url),
        profile_queue=SqsQueue(client("sqs"), settings.profile_queue_url),
        min_score=settings.min_score,
        date=business_date(settings.timezone),
        now=datetime.now(UTC),
    )
    for result in outcome.results:
        logger.info(
            "domain checked",
            extra={
                "domain": result.domain,
                "score": result.score,
                "passed": result.passed,
                "flags": list(result.flags),
            },
        )
    metrics.add_metric("DomainsChecked", MetricUnit.Count, len(outcome.results))
    metrics.add_metric("DomainsPassed", MetricUnit.Count, len(outcome.passed))
    metrics.add_metric("DomainsSentToProfile", MetricUnit.Count, outcome.sent_to_profile)
    return dict(response)
