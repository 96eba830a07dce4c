"""Composition root of the weekly training's task functions (numpy; scikit-learn and matplotlib only where used)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from thera import weekly
from thera.adapters.aws import S3ObjectStore
from thera.config import TrainingSettings
from thera.observability import logger, metrics
from thera.runtime import client


def _store(settings: TrainingSettings) -> S3ObjectStore:
    return S3ObjectStore(client("s3"), settings.bucket)


def build_training_set(settings: TrainingSettings, event: dict[str, Any]) -> dict[str, Any]:
    result = weekly.build_training_set(_store(settings), event)
    logger.info("training set built", extra={"counts": result["counts"], "data_range": result["data_range"]})
    metrics.add_metric("TrainingLabels", MetricUnit.Count, sum(result["counts"].values()))
    return result


def _fit(algorithm: str, features: Any, labels: Any, params: dict[str, Any]) -> dict[str, Any]:
    from thera import trainers  # scikit-learn: only this function's layer has it

    if algorithm == "logistic_regression":
        return trainers.train_logistic(features, labels, **params)
    return trainers.train_forest(features, labels, **params)


def train(settings: TrainingSettings, event: dict[str, Any]) -> dict[str, Any]:
    result = weekly.train_candidate(_store(settings), event, _fit)
    logger.info("candidate trained", extra=result)
    return result


def evaluate(settings: TrainingSettings, event: dict[str, Any]) -> dict[str, Any]:
    from thera.report import render  # matplotlib: only this function's layer has it

    result = weekly.evaluate(_store(settings), event, render)
    logger.info("candidates evaluated", extra={"table": result["table"], "beats_by": result["beats_by"]})
    metrics.add_metric("ChallengerValidationPrAuc", MetricUnit.Count, result["challenger_pr_auc"])
    return result


def promote(settings: TrainingSettings, event: dict[str, Any]) -> dict[str, Any]:
    pointer = weekly.promote(_store(settings), event, datetime.now(UTC), settings.code_version)
    logger.info("model promoted", extra={"pointer": pointer})
    metrics.add_metric("ModelPromoted", MetricUnit.Count, 1)
    return pointer
