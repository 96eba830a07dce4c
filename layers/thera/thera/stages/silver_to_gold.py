"""SilverToGoldFunction: a ProfileQueue batch → one gold profiles part (a record whose inputs fail, fails alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoProfileRegistry, S3ObjectStore
from thera.kernel.config import SilverToGoldSettings
from thera.observability import logger, metrics
from thera.profiles.gold import GoldOutcome, ProfileInputs, ProfileSources, build_part
from thera.runtime import business_date, client, process_each, settings


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return gold_batch(settings(SilverToGoldSettings), event, context)


def gold_batch(settings: SilverToGoldSettings, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read each record's inputs on its own (a bad one fails alone), then build and write one gold part."""
    sources = ProfileSources(S3ObjectStore(client("s3"), settings.bucket), settings.bucket)

    def load(record: SQSRecord) -> list[ProfileInputs]:
        return [sources.load(request) for request in sources.requests(record.body)]

    loaded, response = process_each(event, context, load)
    inputs = [i for status, result, _ in loaded if status == "success" for i in result]
    outcome: GoldOutcome = build_part(
        inputs,
        S3ObjectStore(client("s3"), settings.bucket),
        DynamoProfileRegistry(client("dynamodb"), settings.profiles_table),
        business_date(settings.timezone),
        datetime.now(UTC),
    )
    logger.info("gold profiles built", extra={"outcome": outcome.as_dict(), "domains": outcome.domains})
    metrics.add_metric("ProfilesBuilt", MetricUnit.Count, outcome.profiles)
    metrics.add_metric("ProfilesWithPage", MetricUnit.Count, outcome.crawled)
    return dict(response)
