"""IndexBuilderFunction: on its schedule, a new matcher index version when gold or embeddings parts changed."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import IndexBuilderSettings
from thera.match_wiring import refresh_index
from thera.observability import logger, metrics, tracer


@cache
def settings() -> IndexBuilderSettings:
    return IndexBuilderSettings.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    return refresh_index(settings(), context.aws_request_id, time_left).as_dict()
