"""Weekly training, step train: one task of statemachine/weekly_training.asl.json."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera import weekly_wiring
from thera.config import TrainingSettings
from thera.observability import logger, metrics, tracer


@cache
def settings() -> TrainingSettings:
    return TrainingSettings.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_wiring.train(settings(), event)
