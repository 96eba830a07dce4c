"""The models that score candidates: the features, a promoted artefact read without scikit-learn
(logistic regression or random forest), the built-in prior, and champion/challenger traffic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FEATURES = ("similarity", "topic_affinity", "keyword_overlap", "health", "richness", "completeness")

Floats = npt.NDArray[np.float32]


class Model(Protocol):
    """What scores candidates: a promoted model artefact, read without scikit-learn."""

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def score(self, features: Floats) -> Floats: ...

    def contributions(self, features: Floats) -> Floats: ...


def model_from_artifact(doc: dict[str, Any]) -> Model:
    kind = doc.get("kind", "logistic_regression")
    if list(doc.get("features", FEATURES)) != list(FEATURES):
        raise ValueError(f"model {doc.get('version')} was trained on other features: {doc.get('features')}")
    if kind == "logistic_regression":
        return ScoringModel.from_artifact(doc)
    if kind == "random_forest":
        return ForestModel.from_artifact(doc)
    raise ValueError(f"model kind {kind!r} cannot be scored here")


@dataclass(frozen=True)
class ForestModel:
    """A random forest as arrays per tree (scikit-learn's layout): scored with numpy, one level at a time."""

    version: str
    trees: list[dict[str, Any]]  # left, right, feature (int64), threshold, value (float32) per node
    importances: Floats
    kind: str = "random_forest"

    @classmethod
    def from_artifact(cls, doc: dict[str, Any]) -> ForestModel:
        trees: list[dict[str, Any]] = []
        for tree in doc["trees"]:
            trees.append(
                {
                    "left": np.asarray(tree["left"], dtype=np.int64),
                    "right": np.asarray(tree["right"], dtype=np.int64),
                    "feature": np.asarray(tree["feature"], dtype=np.int64),
                    "threshold": np.asarray(tree["threshold"], dtype=np.float64),  # as scikit-learn compares
                    "value": np.asarray(tree["value"], dtype=np.float32),
                }
            )
        importances = np.asarray([doc["importances"][f] for f in FEATURES], dtype=np.float32)
        return cls(str(doc["version"]), trees, importances)

    def score(self, features: Floats) -> Floats:
        total = np.zeros(len(features), dtype=np.float32)
        rows = np.arange(len(features))
        for tree in self.trees:
            node = np.zeros(len(features), dtype=np.int64)
            while True:
                inner = tree["left"][node] >= 0
                if not inner.any():
                    break
                f = tree["feature"][node[inner]]
                go_left = features[rows[inner], f].astype(np.float64) <= tree["threshold"][node[inner]]
                node[inner] = np.where(go_left, tree["left"][node[inner]], tree["right"][node[inner]])
            total += tree["value"][node]
        out: Floats = (total / max(1, len(self.trees))).astype(np.float32)
        return out

    def contributions(self, features: Floats) -> Floats:
        """How much each feature counts here: its importance in the forest times its value."""
        out: Floats = (features * self.importances).astype(np.float32)
        return out


@dataclass(frozen=True)
class ScoringModel:
    """A logistic model over ``FEATURES``: what the weekly training promotes, as plain numbers."""

    version: str
    coefficients: dict[str, float]
    intercept: float
    kind: str = "logistic_regression"

    @classmethod
    def from_artifact(cls, doc: dict[str, Any]) -> ScoringModel:
        if doc.get("kind", "logistic_regression") != "logistic_regression":
            raise ValueError(f"model kind {doc.get('kind')!r} cannot be scored here")
        missing = [f for f in FEATURES if f not in doc.get("coefficients", {})]
        if missing:
            raise ValueError(f"model {doc.get('version')} lacks coefficients for {', '.join(missing)}")
        return cls(str(doc["version"]), {f: float(doc["coefficients"][f]) for f in FEATURES}, float(doc["intercept"]))

    def contributions(self, features: Floats) -> Floats:
        weights = np.array([self.coefficients[f] for f in FEATURES], dtype=np.float32)
        return features * weights

    def score(self, features: Floats) -> Floats:
        z = self.contributions(features).sum(axis=1) + np.float32(self.intercept)
        out: Floats = (1 / (1 + np.exp(-z))).astype(np.float32)
        return out


# The model served until a trained one is promoted: weights set by hand and checked with
# bench/match_quality.py. Similarity, topic affinity and keyword overlap carry the ranking and
# quality breaks ties. Keyword overlap weighs the challenge's words a profile's text uses by their
# squared IDF (thera.matching.rank.Evidence.overlap): rare words weigh, generic ones ("data",
# "services") hardly do.
PRIOR_MODEL = ScoringModel(
    "prior-v1",
    {
        "similarity": 3.0,
        "topic_affinity": 6.0,
        "keyword_overlap": 10.0,
        "health": 0.5,
        "richness": 0.3,
        "completeness": 0.5,
    },
    -6.0,
)


def pick_version(versions: Sequence[tuple[str, float]], draw: float) -> str:
    """Champion/challenger: the version whose cumulative traffic weight first exceeds ``draw`` in [0, 1)."""
    total = sum(w for _, w in versions)
    if not versions or total <= 0:
        raise ValueError("the serving pointer names no version with a positive weight")
    point = draw * total
    for version, weight in versions:
        point -= weight
        if point < 0:
            return version
    return versions[-1][0]
