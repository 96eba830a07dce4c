"""PublisherFunction: each PublishQueue message (embedded or unchanged gold parts) → PublicStartups, PrivateStartups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoReadModel, S3ObjectStore
from thera.config import PublisherSettings
from thera.events import gold_keys
from thera.observability import logger, metrics
from thera.publish import PublishOutcome, publish_part
from thera.runtime import client, settings

processor = BatchProcessor(event_type=EventType.SQS)


def handle(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


def record_handler(record: SQSRecord) -> list[dict[str, object]]:
    return [outcome.as_dict() for outcome in publish_message(settings(PublisherSettings), record.body)]


def publish_message(settings: PublisherSettings, body: str) -> list[PublishOutcome]:
    outcomes = []
    for gold_key in gold_keys(body, settings.bucket):
        outcome = publish_part(
            gold_key,
            store=S3ObjectStore(client("s3"), settings.bucket),
            public=DynamoReadModel(client("dynamodb"), settings.public_table),
            private=DynamoReadModel(client("dynamodb"), settings.private_table),
            now=lambda: datetime.now(UTC),
            ttl_days=settings.ttl_days,
        )
        logger.info("gold part published", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("PublicRowsWritten", MetricUnit.Count, outcome.public_written)
        metrics.add_metric("PrivateRowsWritten", MetricUnit.Count, outcome.private_written)
        metrics.add_metric("RowsKeptNewer", MetricUnit.Count, outcome.stale)
        metrics.add_metric("PublicFieldsDroppedAsPII", MetricUnit.Count, outcome.pii_dropped)
        outcomes.append(outcome)
    return outcomes
