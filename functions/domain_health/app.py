"""DomainHealthFunction: HealthQueue → concurrent DNS, HTTP, HTTPS, TLS and content checks → CrawlQueue."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import DomainHealthSettings
from thera.observability import logger, metrics, tracer
from thera.wiring import health_batch


@cache
def settings() -> DomainHealthSettings:
    return DomainHealthSettings.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return health_batch(settings(), event, context)
