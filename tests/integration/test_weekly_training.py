"""The weekly training state machine, run from its ASL file by the emulator's Step Functions engine
with the real task handlers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROOT, FakeContext, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_matcher_handlers import CHALLENGE, build_index, call, lake, matcher_env  # noqa: F401
from thera.adapters.aws import S3ObjectStore
from thera.kernel import keys
from thera.matching import FEATURES, PRIOR_MODEL
from thera_local.stepfunctions import Execution, routed_lambda, state_machine_arn
from thera_local.stepfunctions import run as execute
from thera_local.template import Template
from thera_local.weekly import STATE_MACHINE, definition

STEPS = {
    "BuildTrainingSetFunction": "build_training_set",
    "TrainFunction": "train",
    "EvaluateFunction": "evaluate",
    "PromoteFunction": "promote",
}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def labelled(store: S3ObjectStore, label: Any, n_challenges: int = 60, per: int = 10, seed: int = 5) -> None:
    """Shortlists with logged features, and a decision for each match from ``label(features, rng)``."""
    rng = np.random.default_rng(seed)
    for c in range(n_challenges):
        at = (T0 + timedelta(hours=c)).isoformat()
        matches = []
        for d in range(per):
            features = {f: round(float(rng.random()), 4) for f in FEATURES}
            matches.append({"rank": d + 1, "domain": f"d{c}-{d}.io", "score": 0.5, "features": features})
            decision = "accept" if label(features, rng) else "reject"
            record = {"challenge_id": f"c{c}", "domain": f"d{c}-{d}.io", "decision": decision, "at": at}
            store.put(keys.feedback(at[:10], f"c{c}", f"d{c}-{d}.io"), json.dumps(record).encode())
        shortlist = {"challenge_id": f"c{c}", "at": at, "model_version": "prior-v1", "matches": matches}
        store.put(keys.shortlist(at[:10], f"r{c}"), json.dumps(shortlist).encode())


def inbox(aws: Aws) -> str:
    """An SQS queue subscribed to the alarm topic: what a subscriber of the failure notification receives."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=aws.template.arn("AlarmTopic"), Protocol="sqs", Endpoint=arn)
    return str(url)


def run(aws: Aws, handler_env: Any, name: str, **parameters: str) -> Execution:
    """One execution on the emulator's Step Functions (moto's engine); Lambda tasks call the handlers here."""
    template = Template(ROOT / "template.yaml", {"ApolloBaseUrl": "http://127.0.0.1:9/api/v1", **parameters})
    handler_env("PromoteFunction", CODE_VERSION="test-commit")
    by_arn = {template.arn(logical): stage for logical, stage in STEPS.items()}

    def invoke(arn: str, payload: Any) -> tuple[bool, Any] | None:
        if arn not in by_arn:
            return None
        try:
            step = getattr(load_handler_module("weekly_training"), by_arn[arn])
            return True, step(payload, FakeContext(by_arn[arn]))
        except Exception as exc:  # as Lambda reports a handler's exception
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}

    sfn = aws.client("stepfunctions")
    machine = definition(template)
    arn = state_machine_arn(template, STATE_MACHINE)
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(machine))  # these parameters
    with routed_lambda(invoke):
        return execute(sfn, arn, name, {}, machine)


def store_of(aws: Aws) -> S3ObjectStore:
    return S3ObjectStore(aws.client("s3"), aws.bucket)


@pytest.mark.slow  # trains the models: 7-11 s alone, 18-27 s beside other tests
def test_a_better_model_is_promoted_with_its_report_and_the_matcher_serves_it(
    aws: Aws,
    handler_env: Any,
    lake: dict[str, Any],  # noqa: F811
) -> None:
    store = store_of(aws)
    # users accept healthy, well-matched startups: more weight on health than the prior gives it
    labelled(store, lambda f, rng: f["health"] + 0.5 * f["similarity"] + rng.normal(0, 0.15) > 0.9)
    execution = run(aws, handler_env, "weekly-promote")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    states = [r.name for r in execution.history]
    assert "Promote" in states and "KeepChampion" not in states
    evaluation = execution.output["evaluation"]
    assert evaluation["beats_by"] >= 0.01 and evaluation["gap"] < 0.10
    pointer = json.loads(store.get(keys.SERVING_POINTER))
    promoted = pointer["versions"][0]["version"]
    assert promoted == evaluation["challenger"]["version"]
    artifact = json.loads(store.get(keys.model_artifact(promoted)))
    assert artifact["code_version"] == "test-commit" and artifact["features"] == list(FEATURES)
    assert artifact["trained_on"]["from"].startswith("2026-11-01") and artifact["metrics"]["validation_pr_auc"] > 0
    for name in ("index.html", "roc.png", "pr.png", "train_vs_validation.png"):
        assert store.metadata(keys.model_report(promoted, name)) is not None
    assert store.get(keys.model_report(promoted, "roc.png"))[:4] == b"\x89PNG"
    # the matcher picks up the moved pointer and scores with the promoted model
    build_index(handler_env)
    matcher_env(handler_env, lake)
    status, answer = call("POST", "/match", {"challenge_text": CHALLENGE, "top_k": 3})
    assert status == 200 and answer["model_version"] in {v["version"] for v in pointer["versions"]}
    assert call("GET", "/models")[1]["serving"][0]["version"] == promoted


@pytest.mark.slow  # trains the models: 7-11 s alone, 18-27 s beside other tests
def test_the_champion_stays_when_no_challenger_beats_it_by_the_margin(aws: Aws, handler_env: Any) -> None:
    store = store_of(aws)
    weights = np.array([PRIOR_MODEL.coefficients[f] for f in FEATURES])
    # the prior is right: uniform features put half of the matches above half the weights' sum
    labelled(store, lambda f, rng: float(np.dot(weights, [f[k] for k in FEATURES])) > weights.sum() / 2)
    execution = run(aws, handler_env, "weekly-keep")
    assert execution.status == "SUCCEEDED"
    assert [r.name for r in execution.history][-1] == "KeepChampion"
    assert execution.output["evaluation"]["beats_by"] < 0.01
    assert store.metadata(keys.SERVING_POINTER) is None  # nothing moved: the built-in prior still serves


@pytest.mark.slow  # trains the models: 7-11 s alone, 18-27 s beside other tests
def test_the_overfitting_guard_rejects_a_forest_that_memorizes(aws: Aws, handler_env: Any) -> None:
    store = store_of(aws)
    # an interaction only trees can learn, with 15 % of the answers flipped: a forest grown until its leaves
    # are pure learns the flips too (train PR-AUC 1.0) and does worse on the newest labels
    labelled(
        store,
        lambda f, rng: ((f["similarity"] > 0.5) != (f["health"] > 0.5)) != (rng.random() < 0.15),
    )
    execution = run(aws, handler_env, "weekly-overfit", ForestMaxDepth="null", ForestMinSamplesLeaf="1")
    assert execution.status == "SUCCEEDED"
    evaluation = execution.output["evaluation"]
    assert evaluation["challenger"]["algorithm"] == "random_forest"
    assert evaluation["beats_by"] >= 0.01  # it does beat the champion on validation ...
    assert evaluation["gap"] >= 0.10  # ... but memorized the training labels
    assert [r.name for r in execution.history][-1] == "KeepChampion"
    assert store.metadata(keys.SERVING_POINTER) is None


def test_too_few_labels_fails_the_execution_and_notifies(aws: Aws, handler_env: Any) -> None:
    store = store_of(aws)
    labelled(store, lambda f, rng: f["health"] > 0.5, n_challenges=3, per=4)
    url = inbox(aws)
    execution = run(aws, handler_env, "weekly-few")
    assert execution.status == "FAILED" and execution.error == "WeeklyTrainingFailed"
    failed = {r.name: r for r in execution.history}
    assert failed["BuildTrainingSet"].status in {"failed", "caught"}
    messages = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    note = json.loads(messages[0]["Body"])
    assert note["Subject"] == "Thera weekly training failed"
    assert "TooFewLabels" in note["Message"] and "weekly-few" in note["Message"]
    assert store.list("training/weekly-few/") == []  # nothing half-built


@pytest.mark.slow  # trains the models: 7-11 s alone, 18-27 s beside other tests
def test_the_task_sample_events_run_the_four_steps_in_order(aws: Aws, handler_env: Any) -> None:
    """events/*_task*.json are one real execution's inputs: replayed through the handlers, each step finds
    what the one before stored (the keys derive from the run id), and the pointer moves at the end."""
    from tests.conftest import load_event

    store = store_of(aws)
    labelled(store, lambda f, rng: f["health"] + 0.5 * f["similarity"] + rng.normal(0, 0.15) > 0.9)
    handler_env("PromoteFunction", CODE_VERSION="test-commit")
    steps = load_handler_module("weekly_training")
    built = steps.build_training_set(load_event("build_training_set_task.json"), FakeContext("build"))
    evaluate_event = load_event("evaluate_task.json")
    assert built["dataset_key"] == evaluate_event["dataset_key"] and built["counts"] == evaluate_event["counts"]
    candidates = [
        steps.train(load_event(f"train_task_{algorithm}.json"), FakeContext("train"))
        for algorithm in ("logistic_regression", "random_forest")
    ]
    assert candidates == evaluate_event["candidates"]
    evaluation = steps.evaluate(evaluate_event, FakeContext("evaluate"))
    promote_event = load_event("promote_task.json")
    assert set(evaluation) == set(promote_event["evaluation"]) and set(built) == set(promote_event["training_set"])
    assert store.metadata(evaluation["report_key"]) is not None
    pointer = steps.promote(promote_event, FakeContext("promote"))
    challenger = promote_event["evaluation"]["challenger"]["version"]
    assert pointer["versions"][0]["version"] == challenger
    assert json.loads(store.get(keys.SERVING_POINTER)) == pointer
    assert json.loads(store.get(keys.model_artifact(challenger)))["code_version"] == "test-commit"
