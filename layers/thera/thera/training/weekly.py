"""The weekly training's steps, as the state machine's tasks call them (I/O through an ObjectStore).

BuildTrainingSet → Train (one call per algorithm) → Evaluate → Promote. Steps hand each
other keys under ``training/<run id>/``; the decision itself is the state machine's Choice
on the numbers Evaluate returns (how much the challenger beats the champion on validation
PR-AUC, and its train/validation PR-AUC gap).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from thera.kernel import keys
from thera.kernel.ports import ObjectStore
from thera.matching import FEATURES, PRIOR_MODEL, Model, model_from_artifact
from thera.training import imported
from thera.training.imported import Featurizer
from thera.training.training import LabelledSet, check_labels, curves, labelled_set, metrics, scores_of

ALGORITHMS = ("logistic_regression", "random_forest")
SHORT = {"logistic_regression": "lr", "random_forest": "rf"}
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def _run_id(event: dict[str, Any]) -> str:
    run_id = str(event.get("run_id", ""))
    if not _RUN_ID.match(run_id):
        raise ValueError(f"'run_id' must be letters, digits, _ . - (at most 80), got {run_id[:100]!r}")
    return run_id


def _json(store: ObjectStore, key: str) -> Any:
    return json.loads(store.get(key))


def _dataset(store: ObjectStore, key: str) -> dict[str, Any]:
    with np.load(io.BytesIO(store.get(key)), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def build_training_set(
    store: ObjectStore, event: dict[str, Any], featurizer: Callable[[], Featurizer | None] = lambda: None
) -> dict[str, Any]:
    """The labelled set of the feedback and the imported decisions (their features from ``featurizer``: the
    current index and embedding provider, loaded only when there are imported decisions)."""
    run_id = _run_id(event)
    shortlists = [_json(store, k) for k in store.list(keys.SHORTLISTS)]
    feedback = [_json(store, k) for k in store.list(keys.FEEDBACK)]
    resolved = imported.resolve(list(imported.stored(store)), featurizer)
    labelled: LabelledSet = labelled_set(shortlists, feedback, resolved.decisions)
    train, _ = labelled.split(float(event.get("validation_share", 0.25)))
    counts = check_labels(labelled.labels, train, int(event.get("min_labels_per_class", 20)))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, features=labelled.features, labels=labelled.labels, train=train)
    dataset_key = keys.training_object(run_id, "dataset.npz")
    store.put(dataset_key, buffer.getvalue())
    return {
        "run_id": run_id,
        "dataset_key": dataset_key,
        "counts": counts,
        "data_range": {"from": min(labelled.at), "to": max(labelled.at)},
        "features": list(FEATURES),
        "imported": resolved.counts(),
    }


def train_candidate(
    store: ObjectStore, event: dict[str, Any], fit: Callable[[str, Any, Any, dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Fit one algorithm on the training split; ``fit`` is ``thera.training.trainers`` (kept out of
    this module's imports)."""
    run_id, algorithm = _run_id(event), str(event.get("algorithm"))
    if algorithm not in ALGORITHMS:
        raise ValueError(f"'algorithm' must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    data = _dataset(store, str(event["dataset_key"]))
    train = data["train"]
    artifact = fit(algorithm, data["features"][train], data["labels"][train], dict(event.get("params") or {}))
    artifact["version"] = f"{SHORT[algorithm]}-{run_id}"
    key = keys.training_object(run_id, f"candidates/{algorithm}.json")
    store.put(key, json.dumps(artifact).encode())
    return {"algorithm": algorithm, "version": artifact["version"], "candidate_key": key}


def _champion(store: ObjectStore) -> Model:
    if store.metadata(keys.SERVING_POINTER) is None:
        return PRIOR_MODEL
    first = _json(store, keys.SERVING_POINTER)["versions"][0]["version"]
    if first == PRIOR_MODEL.version:
        return PRIOR_MODEL
    return model_from_artifact(_json(store, keys.model_artifact(first)))


def evaluate(
    store: ObjectStore,
    event: dict[str, Any],
    render: Callable[[dict[str, Any], dict[str, Any]], dict[str, bytes]],
    day: str,
) -> dict[str, Any]:
    """Score the champion and the candidates on both splits; the report, and one row per model for the lake's
    ``model_metrics`` table under ``day``."""
    run_id = _run_id(event)
    data = _dataset(store, str(event["dataset_key"]))
    features, labels, train = data["features"], data["labels"], data["train"]
    threshold = float(event.get("threshold", 0.5))
    candidates = {c["version"]: model_from_artifact(_json(store, c["candidate_key"])) for c in event["candidates"]}
    champion = _champion(store)
    table: dict[str, Any] = {}
    plot: dict[str, Any] = {}
    for name, model in [(f"champion {champion.version}", champion), *candidates.items()]:
        on_train = metrics(scores_of(model, features[train]), labels[train], threshold)
        validation_scores = scores_of(model, features[~train])
        on_validation = metrics(validation_scores, labels[~train], threshold)
        gap = round(on_train["pr_auc"] - on_validation["pr_auc"], 4)
        table[name] = {"kind": model.kind, "train": on_train, "validation": on_validation, "gap": gap}
        plot[name] = curves(labels[~train], validation_scores)
    best = max(candidates, key=lambda v: table[v]["validation"]["pr_auc"])
    runner_up = next((v for v in candidates if v != best), "")
    champion_pr = table[f"champion {champion.version}"]["validation"]["pr_auc"]
    margin, max_gap = float(event.get("margin", 0.01)), float(event.get("max_gap", 0.1))
    beats_by = round(table[best]["validation"]["pr_auc"] - champion_pr, 4)
    evaluation = {
        "run_id": run_id,
        "counts": event.get("counts", {}),
        "models": table,
        "decision": (
            f"challenger {best}: validation PR-AUC {table[best]['validation']['pr_auc']} vs champion "
            f"{champion.version} {champion_pr} (beats it by {beats_by}, margin {margin}); "
            f"train/validation gap {table[best]['gap']} (limit {max_gap})"
        ),
    }
    for name, data_bytes in render(evaluation, plot).items():
        store.put(keys.model_report(best, name), data_bytes)
    store.put(keys.model_report(best, "evaluation.json"), json.dumps(evaluation, indent=2).encode())
    store.put(keys.model_metrics(day, run_id), _metric_rows(run_id, table, best, event.get("counts", {})))
    return {
        "run_id": run_id,
        "challenger": next(c for c in event["candidates"] if c["version"] == best),
        "runner_up": next((c for c in event["candidates"] if c["version"] == runner_up), None),
        "runner_up_gap": table[runner_up]["gap"] if runner_up else None,
        "champion": champion.version,
        "champion_pr_auc": champion_pr,
        "challenger_pr_auc": table[best]["validation"]["pr_auc"],
        "beats_by": beats_by,
        "gap": table[best]["gap"],
        "margin": margin,
        "max_gap": max_gap,
        "report_key": keys.model_report(best, "index.html"),
        "table": {
            name: {
                "train_roc_auc": m["train"]["roc_auc"],
                "train_pr_auc": m["train"]["pr_auc"],
                "validation_roc_auc": m["validation"]["roc_auc"],
                "validation_pr_auc": m["validation"]["pr_auc"],
                "gap": m["gap"],
            }
            for name, m in table.items()
        },
    }


def _metric_rows(run_id: str, table: dict[str, Any], best: str, counts: dict[str, Any]) -> bytes:
    """JSON lines, one per model evaluated (``thera.lake.catalog.MODEL_METRICS``)."""
    labels = sum(int(v) for v in counts.values()) if counts else None
    rows = [
        {
            "run_id": run_id,
            "model": name,
            "kind": m["kind"],
            "role": "champion" if name.startswith("champion ") else "challenger" if name == best else "candidate",
            "train_roc_auc": m["train"]["roc_auc"],
            "train_pr_auc": m["train"]["pr_auc"],
            "validation_roc_auc": m["validation"]["roc_auc"],
            "validation_pr_auc": m["validation"]["pr_auc"],
            "gap": m["gap"],
            "labels": labels,
        }
        for name, m in table.items()
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def promote(store: ObjectStore, event: dict[str, Any], now: datetime, code_version: str) -> dict[str, Any]:
    """Write the challenger's artefact and move the serving pointer; the runner-up may serve a small share."""
    evaluation, training = event["evaluation"], event["training_set"]
    challenger = evaluation["challenger"]
    weight = float(event.get("challenger_weight", 0.0))
    versions = [(challenger, 1.0)]
    runner = evaluation.get("runner_up")
    runner_gap = evaluation.get("runner_up_gap")
    if runner and weight > 0 and runner_gap is not None and runner_gap < evaluation["max_gap"]:
        versions = [(challenger, 1.0 - weight), (runner, weight)]
    pointer: dict[str, Any] = {"versions": [], "promoted_at": now.isoformat(), "run_id": evaluation["run_id"]}
    for candidate, share in versions:
        artifact = _json(store, candidate["candidate_key"])
        artifact.update(
            trained_on={**training["data_range"], "counts": training["counts"], "imported": training.get("imported")},
            metrics=evaluation["table"].get(candidate["version"], {}),
            code_version=code_version,
            promoted_at=now.isoformat(),
        )
        store.put(keys.model_artifact(candidate["version"]), json.dumps(artifact).encode())
        pointer["versions"].append({"version": candidate["version"], "weight": round(share, 4)})
    store.put(keys.SERVING_POINTER, json.dumps(pointer, indent=2).encode())
    return pointer
