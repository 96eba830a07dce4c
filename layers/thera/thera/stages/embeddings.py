"""EmbeddingsFunction: each EmbedQueue message → embeddings within the daily budget → PublishQueue.

The daily schedule invokes it too (an event without ``Records``), to release the parts parked while the
budget was spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera.adapters.aws import DynamoEmbeddingIndex, DynamoVersionedStore, S3ObjectStore, SqsQueue
from thera.kernel.config import EmbeddingsSettings
from thera.kernel.events import gold_keys
from thera.observability import logger, metrics
from thera.profiles.embed import EmbedService, SpendLedger, move_messages
from thera.runtime import business_date, client, each_record, embedding_provider, settings


def handle(event: dict[str, Any], context: Any) -> PartialItemFailureResponse | dict[str, int]:
    if "Records" not in event:  # the schedule
        time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
        return {"released": release_parked(settings(EmbeddingsSettings), time_left)}
    return each_record(event, context, embed_message)


def embed_message(record: SQSRecord) -> list[dict[str, object]]:
    config = settings(EmbeddingsSettings)
    provider = embedding_provider(config.embedding)
    service = EmbedService(
        store=S3ObjectStore(client("s3"), config.bucket),
        index=DynamoEmbeddingIndex(client("dynamodb"), config.embeddings_table),
        provider=provider,
        ledger=SpendLedger(
            DynamoVersionedStore(client("dynamodb"), config.quota_table),
            config.budget_usd,
            config.price_per_1k_tokens_usd,
            time.time,
        ),
        wait_queue=SqsQueue(client("sqs"), config.wait_queue_url),
        publish_queue=SqsQueue(client("sqs"), config.publish_queue_url),
        max_tokens=config.max_tokens,
        day=business_date(config.timezone),
        now=lambda: datetime.now(UTC),
    )
    outcomes = []
    for gold_key in gold_keys(record.body, config.bucket):
        outcome = service.embed_part(gold_key)
        log = logger.warning if outcome.parked or outcome.rejected else logger.info
        log("gold part embedded", extra={"outcome": outcome.as_dict(), "model_id": provider.model_id})
        metrics.add_metric("ProfilesEmbedded", MetricUnit.Count, outcome.embedded)
        metrics.add_metric("ProfilesUnchanged", MetricUnit.Count, outcome.unchanged)
        metrics.add_metric("EmbeddingTokens", MetricUnit.Count, outcome.tokens)
        metrics.add_metric("EmbeddingCostMicroUSD", MetricUnit.Count, round(outcome.cost_usd * 1_000_000, 3))
        metrics.add_metric("EmbeddingRejected", MetricUnit.Count, outcome.rejected)
        metrics.add_metric("EmbeddingBudgetExhausted", MetricUnit.Count, int(outcome.parked))
        outcomes.append(outcome.as_dict())
    return outcomes


def release_parked(settings: EmbeddingsSettings, time_left: Callable[[], float]) -> int:
    """The daily schedule: parts parked while the budget was spent go back to EmbedQueue."""
    moved = move_messages(
        SqsQueue(client("sqs"), settings.wait_queue_url), SqsQueue(client("sqs"), settings.embed_queue_url), time_left
    )
    logger.info("parked parts released", extra={"moved": moved})
    metrics.add_metric("EmbeddingPartsReleased", MetricUnit.Count, moved)
    return moved
