"""ApolloPullFunction: scheduled daily; pulls company pages from Apollo under the shared quota."""

from __future__ import annotations

import asyncio
import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.config import ApolloPullSettings
from thera.observability import logger, metrics, tracer
from thera.wiring import ScheduleEvent, run_pull


@cache
def settings() -> ApolloPullSettings:
    return ApolloPullSettings.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = ScheduleEvent.parse(event)
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    report = asyncio.run(run_pull(settings(), schedule, context.aws_request_id, time_left))
    return report.as_dict()
