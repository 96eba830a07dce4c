"""PublisherFunction: each PublishQueue message (embedded or unchanged gold parts) → PublicStartups, PrivateStartups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoReadModel, S3ObjectStore
from thera.kernel.config import PublisherSettings
from thera.kernel.events import gold_keys
from thera.observability import logger, metrics
from thera.profiles.publish import publish_part
from thera.runtime import client, each_record, settings


def handle(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return each_record(event, context, publish_message)


def publish_message(record: SQSRecord) -> list[dict[str, object]]:
    config = settings(PublisherSettings)
    outcomes = []
    for gold_key in gold_keys(record.body, config.bucket):
        outcome = publish_part(
            gold_key,
            store=S3ObjectStore(client("s3"), config.bucket),
            public=DynamoReadModel(client("dynamodb"), config.public_table),
            private=DynamoReadModel(client("dynamodb"), config.private_table),
            now=lambda: datetime.now(UTC),
            ttl_days=config.ttl_days,
        )
        logger.info("gold part published", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("PublicRowsWritten", MetricUnit.Count, outcome.public_written)
        metrics.add_metric("PrivateRowsWritten", MetricUnit.Count, outcome.private_written)
        metrics.add_metric("RowsKeptNewer", MetricUnit.Count, outcome.stale)
        metrics.add_metric("PublicFieldsDroppedAsPII", MetricUnit.Count, outcome.pii_dropped)
        outcomes.append(outcome.as_dict())
    return outcomes
