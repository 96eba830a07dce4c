"""SilverToGoldFunction: ProfileQueue (crawled pages, and domains with no new page) → gold/profiles/."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import SilverToGoldSettings
from thera.observability import logger, metrics, tracer
from thera.wiring import gold_batch


@cache
def settings() -> SilverToGoldSettings:
    return SilverToGoldSettings.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return gold_batch(settings(), event, context)
