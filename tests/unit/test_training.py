"""Training: metrics agree with scikit-learn, exported models score as scikit-learn does, labels join and split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from thera.matching import FEATURES, model_from_artifact
from thera.training.trainers import SEED, train_forest, train_logistic
from thera.training.training import TooFewLabels, average_precision, check_labels, labelled_set, roc_auc

RNG = np.random.default_rng(3)
X = RNG.random((400, len(FEATURES)))
Y = ((X[:, 0] + 0.5 * X[:, 1] + RNG.normal(0, 0.3, 400)) > 0.9).astype(np.int64)


def test_roc_auc_and_average_precision_match_scikit_learn_ties_included() -> None:
    scores = np.round(RNG.random(400), 1)  # many ties
    assert roc_auc(Y, scores) == pytest.approx(roc_auc_score(Y, scores), abs=1e-9)
    assert average_precision(Y, X[:, 0]) == pytest.approx(average_precision_score(Y, X[:, 0]), abs=1e-9)


def test_exported_models_score_exactly_like_scikit_learn_without_it() -> None:
    lr = model_from_artifact({"version": "lr", **train_logistic(X, Y)})
    reference = LogisticRegression(C=1.0, max_iter=1000, random_state=SEED).fit(X, Y)
    assert np.allclose(lr.score(X.astype(np.float32)), reference.predict_proba(X)[:, 1], atol=1e-4)
    rf = model_from_artifact({"version": "rf", **train_forest(X, Y, n_estimators=25, max_depth=5)})
    forest = RandomForestClassifier(n_estimators=25, max_depth=5, min_samples_leaf=5, random_state=SEED, n_jobs=1).fit(
        X, Y
    )
    assert np.allclose(rf.score(X.astype(np.float32)), forest.predict_proba(X)[:, 1], atol=1e-4)


def test_labels_join_the_features_the_matcher_logged_and_split_by_time() -> None:
    features = {f: 0.5 for f in FEATURES}
    shortlists = [
        {"challenge_id": "c1", "at": "2026-11-01", "matches": [{"domain": "a.io", "features": features}]},
        {
            "challenge_id": "c2",
            "at": "2026-11-02",
            "matches": [{"domain": "b.io", "features": {**features, "health": 1}}],
        },
    ]
    feedback = [
        {"challenge_id": "c1", "domain": "a.io", "decision": "reject", "at": "2026-11-03"},
        {"challenge_id": "c1", "domain": "a.io", "decision": "accept", "at": "2026-11-05"},  # the later decision wins
        {"challenge_id": "c2", "domain": "b.io", "decision": "reject", "at": "2026-11-04"},
        {"challenge_id": "c9", "domain": "z.io", "decision": "accept", "at": "2026-11-04"},  # never shown: ignored
    ]
    data = labelled_set(shortlists, feedback)
    assert data.domains == ["b.io", "a.io"] and data.labels.tolist() == [0, 1]
    assert data.features[0][FEATURES.index("health")] == 1
    train, validation = data.split(0.5)
    assert train.tolist() == [True, False] and validation.tolist() == [False, True]  # the newest label validates


def test_too_few_labels_of_a_class_is_a_clear_error() -> None:
    labels = np.array([1, 1, 0, 1, 1, 0])
    with pytest.raises(TooFewLabels, match="validation_rejected 0"):
        check_labels(labels, np.array([True, True, True, False, False, False]) | (labels == 0), 1)
    assert check_labels(labels, np.array([True, False, True, True, False, False]), 1)["train_accepted"] == 2
