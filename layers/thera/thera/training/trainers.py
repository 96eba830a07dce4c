"""Fitting the two model kinds with scikit-learn (only the training function imports this).

Both are exported as plain numbers the matcher scores with numpy: the logistic regression
as coefficients and intercept, the random forest as scikit-learn's per-tree node arrays
(children, split feature, threshold, and the share of accepted matches at each node).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from thera.matching import FEATURES

SEED = 7


def train_logistic(features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], c: float = 1.0) -> dict[str, Any]:
    model = LogisticRegression(C=c, max_iter=1000, random_state=SEED).fit(features, labels)
    return {
        "kind": "logistic_regression",
        "features": list(FEATURES),
        "coefficients": {f: round(float(w), 6) for f, w in zip(FEATURES, model.coef_[0], strict=True)},
        "intercept": round(float(model.intercept_[0]), 6),
        "params": {"C": c, "max_iter": 1000, "random_state": SEED},
    }


def train_forest(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    n_estimators: int = 100,
    max_depth: int | None = 6,
    min_samples_leaf: int = 5,
) -> dict[str, Any]:
    model = RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        random_state=SEED,
        n_jobs=1,
    ).fit(features, labels)
    positive = list(model.classes_).index(1)
    trees = []
    for estimator in model.estimators_:
        t = estimator.tree_
        counts = t.value[:, 0, :]
        share = counts[:, positive] / np.maximum(counts.sum(axis=1), 1e-12)
        trees.append(
            {
                "left": t.children_left.tolist(),
                "right": t.children_right.tolist(),
                "feature": [max(0, int(f)) for f in t.feature],
                "threshold": [float(x) for x in t.threshold],  # exact: rounding would move rows across splits
                "value": [round(float(x), 6) for x in share],
            }
        )
    return {
        "kind": "random_forest",
        "features": list(FEATURES),
        "trees": trees,
        "importances": {f: round(float(v), 6) for f, v in zip(FEATURES, model.feature_importances_, strict=True)},
        "params": {
            "n_estimators": n_estimators,
            "max_depth": max_depth,
            "min_samples_leaf": min_samples_leaf,
            "random_state": SEED,
        },
    }
