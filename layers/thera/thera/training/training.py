"""Weekly training: the labelled set, the time-based split, and the evaluation metrics (numpy only).

Labels are the accept/reject feedback; features are the ones the matcher logged for that
match in its shortlist (so the model learns on exactly what it will be given). Decisions
imported from before Thera (``thera.training.imported``) join them with the features the
matcher computes for them at training time. The split is
by time: the newest ``validation_share`` of the labels validate, the rest train, as the
model will be judged on feedback it has not seen yet. Metrics are computed here with numpy
(ROC-AUC by the rank statistic, PR-AUC as average precision), so evaluation and the matcher
need no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from thera.matching import FEATURES, Model

Floats = npt.NDArray[np.float64]


class TooFewLabels(ValueError):
    """Not enough accepted and rejected matches in training or validation to learn and judge a model."""


@dataclass
class LabelledSet:
    features: Floats  # n x len(FEATURES)
    labels: npt.NDArray[np.int64]
    at: list[str]  # when each label was given (ISO 8601)
    challenge_ids: list[str]
    domains: list[str]
    imported: int = 0  # how many of the labels are imported decisions

    def split(self, validation_share: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        order = np.argsort(np.array(self.at), kind="stable")
        cut = round(len(order) * (1 - validation_share))
        train = np.zeros(len(order), dtype=bool)
        train[order[:cut]] = True
        return train, ~train


def labelled_set(
    shortlists: list[dict[str, Any]],
    feedback: list[dict[str, Any]],
    imported: list[tuple[dict[str, Any], list[float]]] | None = None,
) -> LabelledSet:
    """Each (challenge, domain) decision joined with the features its latest shortlist logged, and the imported
    decisions (``thera.training.imported.resolve``) with theirs; ordered by when each was decided."""
    shown: dict[tuple[str, str], list[float]] = {}
    for shortlist in sorted(shortlists, key=lambda s: str(s.get("at", ""))):
        for match in shortlist["matches"]:
            if "features" in match:
                shown[(shortlist["challenge_id"], match["domain"])] = [float(match["features"][f]) for f in FEATURES]
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in feedback:
        pair = (record["challenge_id"], record["domain"])
        if pair in shown and (pair not in latest or record["at"] > latest[pair]["at"]):
            latest[pair] = record
    rows = [(latest[p]["at"], p, shown[p], latest[p]["decision"]) for p in latest]
    for record, features in imported or []:
        rows.append(
            (record["decided_at"], (f"text:{record['text_hash']}", record["domain"]), features, record["decision"])
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    return LabelledSet(
        np.array([r[2] for r in rows], dtype=np.float64).reshape(len(rows), len(FEATURES)),
        np.array([1 if r[3] == "accept" else 0 for r in rows], dtype=np.int64),
        [r[0] for r in rows],
        [r[1][0] for r in rows],
        [r[1][1] for r in rows],
        imported=len(imported or []),
    )


def check_labels(labels: npt.NDArray[np.int64], train: npt.NDArray[np.bool_], minimum: int) -> dict[str, int]:
    counts = {
        "train_accepted": int(labels[train].sum()),
        "train_rejected": int((1 - labels[train]).sum()),
        "validation_accepted": int(labels[~train].sum()),
        "validation_rejected": int((1 - labels[~train]).sum()),
    }
    short = {k: v for k, v in counts.items() if v < minimum}
    if short:
        detail = ", ".join(f"{k} {v}" for k, v in short.items())
        raise TooFewLabels(f"need at least {minimum} labels of each class in each split; have {detail}")
    return counts


def roc_auc(labels: npt.NDArray[np.int64], scores: Floats) -> float:
    """Probability that a random accepted match scores above a random rejected one (ties count half)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def curves(labels: npt.NDArray[np.int64], scores: Floats) -> dict[str, list[float]]:
    """ROC (fpr, tpr) and precision-recall points over every threshold, highest score first."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    positives, negatives = max(1, int(hits.sum())), max(1, int((1 - hits).sum()))
    return {
        "fpr": [0.0, *(fp / negatives).tolist()],
        "tpr": [0.0, *(tp / positives).tolist()],
        "recall": [0.0, *(tp / positives).tolist()],
        "precision": [1.0, *(tp / (tp + fp)).tolist()],
    }


def average_precision(labels: npt.NDArray[np.int64], scores: Floats) -> float:
    """PR-AUC as average precision: the mean of the precision at each accepted match's rank."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    if hits.sum() == 0:
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def calibration(labels: npt.NDArray[np.int64], scores: Floats, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.append(
                {
                    "predicted": float(scores[inside].mean()),
                    "observed": float(labels[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return out


def scores_of(model: Model, features: Floats) -> Floats:
    return model.score(features.astype(np.float32)).astype(np.float64)


def metrics(scores: Floats, labels: npt.NDArray[np.int64], threshold: float) -> dict[str, Any]:
    predicted = scores >= threshold
    tp = int((predicted & (labels == 1)).sum())
    return {
        "roc_auc": round(roc_auc(labels, scores), 4),
        "pr_auc": round(average_precision(labels, scores), 4),
        "precision_at_threshold": round(tp / max(1, int(predicted.sum())), 4),
        "recall_at_threshold": round(tp / max(1, int(labels.sum())), 4),
        "brier": round(float(((scores - labels) ** 2).mean()), 4),
        "calibration": calibration(labels, scores),
        "examples": len(labels),
    }
