"""BronzeToSilverFunction: each BronzeQueue message (an S3 notification) → silver and quarantine for its objects."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoDomainRegistry, S3ObjectStore, SqsQueue
from thera.kernel.config import BronzeToSilverSettings
from thera.kernel.events import s3_objects_from_sqs_body
from thera.lake.refine import refine_bronze_object
from thera.lake.silver import QualityRules
from thera.observability import logger, metrics
from thera.runtime import client, each_record, settings


def handle(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return each_record(event, context, refine_message)


def refine_message(record: SQSRecord) -> list[dict[str, object]]:
    """One SQS message (an S3 notification) → silver for each bronze object it names."""
    config = settings(BronzeToSilverSettings)
    rules = QualityRules.of(config)
    store = S3ObjectStore(client("s3"), config.bucket)
    registry = DynamoDomainRegistry(client("dynamodb"), config.domains_table)
    health_queue = SqsQueue(client("sqs"), config.health_queue_url)
    outcomes = []
    for obj in s3_objects_from_sqs_body(record.body, config.bucket):
        outcome = refine_bronze_object(store, obj.key, rules, registry, health_queue)
        logger.info("bronze object refined", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("SilverRows", MetricUnit.Count, outcome.silver_rows)
        metrics.add_metric("QuarantinedRows", MetricUnit.Count, sum(outcome.quarantined.values()))
        metrics.add_metric("DuplicateRows", MetricUnit.Count, outcome.duplicates)
        metrics.add_metric("DomainsSentToHealth", MetricUnit.Count, outcome.sent_to_health)
        if (share := outcome.quarantined_percent) is not None:  # QuarantinedShareAlarm averages it
            metrics.add_metric("QuarantinedShare", MetricUnit.Percent, share)
        outcomes.append(outcome.as_dict())
    return outcomes
