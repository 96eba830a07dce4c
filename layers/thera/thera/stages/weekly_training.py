"""The weekly training's task functions, one per state of the machine (each is a Lambda handler once wrapped in
``entry``; numpy, and scikit-learn and matplotlib only in the steps that use them)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from thera.adapters.aws import S3ObjectStore
from thera.kernel.config import TrainingSetSettings, TrainingSettings
from thera.observability import logger, metrics
from thera.runtime import client, embedding_provider, settings
from thera.training import weekly
from thera.training.imported import Featurizer


def _store() -> S3ObjectStore:
    return S3ObjectStore(client("s3"), settings(TrainingSettings).bucket)


def _featurizer() -> Featurizer | None:
    """The current index and the matcher's embedding provider, for imported decisions (pyarrow: this function's
    layers have it); None while no index is built."""
    from thera.matching.index_store import load_index, read_pointer
    from thera.matching.serving import embed_all

    store = _store()
    pointer = read_pointer(store)
    if pointer is None:
        return None
    provider = embedding_provider(settings(TrainingSetSettings).embedding)
    return Featurizer(load_index(store, pointer), partial(embed_all, provider), provider.model_id)


def build_training_set(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = weekly.build_training_set(_store(), event, _featurizer)
    logger.info(
        "training set built",
        extra={"counts": result["counts"], "imported": result["imported"], "data_range": result["data_range"]},
    )
    metrics.add_metric("TrainingLabels", MetricUnit.Count, sum(result["counts"].values()))
    metrics.add_metric("TrainingLabelsImported", MetricUnit.Count, result["imported"]["labels"])
    return result


def _fit(algorithm: str, features: Any, labels: Any, params: dict[str, Any]) -> dict[str, Any]:
    from thera.training import trainers  # scikit-learn: only this function's layer has it

    if algorithm == "logistic_regression":
        return trainers.train_logistic(features, labels, **params)
    return trainers.train_forest(features, labels, **params)


def train(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = weekly.train_candidate(_store(), event, _fit)
    logger.info("candidate trained", extra=result)
    return result


def evaluate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from thera.training.report import render  # matplotlib: only this function's layer has it

    result = weekly.evaluate(_store(), event, render, datetime.now(UTC).date().isoformat())
    logger.info("candidates evaluated", extra={"table": result["table"], "beats_by": result["beats_by"]})
    metrics.add_metric("ChallengerValidationPrAuc", MetricUnit.Count, result["challenger_pr_auc"])
    return result


def promote(event: dict[str, Any], context: Any) -> dict[str, Any]:
    pointer = weekly.promote(_store(), event, datetime.now(UTC), settings(TrainingSettings).code_version)
    logger.info("model promoted", extra={"pointer": pointer})
    metrics.add_metric("ModelPromoted", MetricUnit.Count, 1)
    return pointer
