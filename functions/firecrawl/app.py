"""FirecrawlFunction: CrawlQueue (at most 2 concurrent) → Firecrawl scrape behind the shared breaker."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import FirecrawlSettings
from thera.observability import logger, metrics, tracer
from thera.wiring import crawl_message

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def settings() -> FirecrawlSettings:
    return FirecrawlSettings.from_env(os.environ)


def record_handler(record: SQSRecord) -> dict[str, object]:
    return crawl_message(settings(), record.body, owner=record.message_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
