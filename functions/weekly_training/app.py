"""The weekly training's task functions: one handler per state of statemachine/weekly_training.asl.json.

Four functions share this file (Handler app.build_training_set, app.train, app.evaluate,
app.promote) and differ in their layers: only TrainFunction carries scikit-learn, only
EvaluateFunction matplotlib.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import weekly_training


@entry
def build_training_set(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_training.build_training_set(event)


@entry
def train(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_training.train(event)


@entry
def evaluate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_training.evaluate(event)


@entry
def promote(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly_training.promote(event)
