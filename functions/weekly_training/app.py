"""The weekly training's task functions: one handler per state of statemachine/weekly_training.asl.json.

Four functions share this file (Handler app.build_training_set, app.train, app.evaluate,
app.promote) and differ in their layers: only TrainFunction carries scikit-learn, only
EvaluateFunction matplotlib.
"""

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
def build_training_set(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_wiring.build_training_set(settings(), event)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def train(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_wiring.train(settings(), event)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def evaluate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_wiring.evaluate(settings(), event)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def promote(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_wiring.promote(settings(), event)
