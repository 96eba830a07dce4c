"""The local ASL interpreter: each feature on a small definition, with pure-Python fake Lambdas and SNS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from thera_local.stepfunctions import (
    LAMBDA_INVOKE,
    SNS_PUBLISH,
    Execution,
    LambdaError,
    StateMachineRunner,
    load_definition,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


class TooFewLabels(Exception):
    """A handler exception: its class name is the error Step Functions sees."""


class Fakes:
    """Fake Lambda functions by name, an SNS topic, and a sleep that only records."""

    def __init__(self, functions: dict[str, Callable[[Any], Any]] | None = None) -> None:
        self.functions = functions or {}
        self.calls: list[tuple[str, Any]] = []
        self.published: list[tuple[str, str, str | None]] = []
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def invoke(self, function: str, payload: Any) -> Any:
        name = function.removeprefix(ARN)
        with self._lock:
            self.calls.append((name, payload))
        return self.functions[name](payload)

    def publish(self, topic: str, message: str, subject: str | None) -> dict[str, Any]:
        self.published.append((topic, message, subject))
        return {"MessageId": f"m-{len(self.published)}"}

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def runner(self, definition: dict[str, Any], **kwargs: Any) -> StateMachineRunner:
        return StateMachineRunner(
            definition, invoke_lambda=self.invoke, publish_sns=self.publish, sleep=self.sleep, **kwargs
        )

    def run(self, definition: dict[str, Any], data: Any = None, **kwargs: Any) -> Execution:
        return self.runner(definition, **kwargs).run({} if data is None else data)


def invoke(function: str, payload_path: str = "$", **extra: Any) -> dict[str, Any]:
    """A Task on the optimized lambda:invoke integration."""
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": ARN + function, "Payload.$": payload_path},
        **extra,
    }


def machine(states: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states}


def flaky(failures: int, error: Exception, result: Any = None) -> Callable[[Any], Any]:
    """A function failing ``failures`` times with ``error`` and then returning ``result``."""
    seen = {"n": 0}

    def handler(event: Any) -> Any:
        seen["n"] += 1
        if seen["n"] <= failures:
            raise error
        return {"ok": True} if result is None else result

    return handler


# ------------------------------------------------------------------------------------------ happy path


PIPELINE = machine(
    {
        "Prepare": invoke(
            "Prepare",
            ResultSelector={"rows.$": "$.Payload.rows", "status.$": "$.StatusCode"},
            ResultPath="$.prepared",
            Next="Train",
        ),
        "Train": {
            "Type": "Parallel",
            "Branches": [
                machine(
                    {
                        "TrainLogisticRegression": {
                            "Type": "Task",
                            "Resource": ARN + "TrainLogistic",
                            "Parameters": {"rows.$": "$.prepared.rows", "model": "logreg"},
                            "End": True,
                        }
                    }
                ),
                machine(
                    {
                        "TrainTree": invoke(
                            "TrainTree", "$.prepared", ResultSelector={"auc.$": "$.Payload.auc"}, End=True
                        )
                    }
                ),
            ],
            "ResultPath": "$.models",
            "Next": "Good enough?",
        },
        "Good enough?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.models[1].auc", "NumericGreaterThanEquals": 0.8, "Next": "Publish"}],
            "Default": "Reject",
        },
        "Publish": {"Type": "Succeed", "OutputPath": "$.models"},
        "Reject": {"Type": "Fail", "Error": "ModelRejected"},
    }
)


def pipeline_fakes(auc: float) -> Fakes:
    return Fakes(
        {
            "Prepare": lambda event: {"rows": event["n"] * 10},
            "TrainLogistic": lambda event: {"model": event["model"], "auc": 0.7, "rows": event["rows"]},
            "TrainTree": lambda event: {"auc": auc, "rows": event["rows"]},
        }
    )


def test_task_parallel_choice_succeed_with_result_selector_and_result_path() -> None:
    fakes = pipeline_fakes(auc=0.9)
    execution = fakes.run(PIPELINE, {"n": 3})

    assert execution.status == "SUCCEEDED", execution
    # Parallel outputs keep branch order; the plain-ARN task is unwrapped, lambda:invoke goes through Payload.
    assert execution.output == [{"model": "logreg", "auc": 0.7, "rows": 30}, {"auc": 0.9}]
    assert fakes.calls[0] == ("Prepare", {"n": 3})
    # ResultSelector kept rows and the integration's StatusCode; ResultPath merged them into the input.
    assert sorted(fakes.calls[1:]) == [
        ("TrainLogistic", {"rows": 30, "model": "logreg"}),
        ("TrainTree", {"rows": 30, "status": 200}),
    ]
    names = [record.name for record in execution.history]
    assert names[0] == "Prepare"
    assert {"Train/TrainLogisticRegression", "Train/TrainTree"} <= set(names)
    assert names[-3:] == ["Train", "Good enough?", "Publish"]
    assert all(record.status == "succeeded" for record in execution.history)
    prepare = execution.history[0]
    assert prepare.type == "Task"
    assert prepare.output == {"n": 3, "prepared": {"rows": 30, "status": 200}}
    assert prepare.attempts == 1


def test_choice_default_leads_to_fail() -> None:
    execution = pipeline_fakes(auc=0.5).run(PIPELINE, {"n": 1})
    assert (execution.status, execution.error, execution.output) == ("FAILED", "ModelRejected", None)
    assert execution.history[-1].name == "Reject"
    assert execution.history[-1].status == "failed"


def test_lambda_invoke_result_is_wrapped_and_plain_arn_is_not() -> None:
    fakes = Fakes({"Echo": lambda event: {"echo": event}})
    wrapped = fakes.run(machine({"A": invoke("Echo", End=True)}), {"x": 1})
    assert wrapped.output == {"ExecutedVersion": "$LATEST", "Payload": {"echo": {"x": 1}}, "StatusCode": 200}
    plain = fakes.run(machine({"A": {"Type": "Task", "Resource": ARN + "Echo", "End": True}}), {"x": 1})
    assert plain.output == {"echo": {"x": 1}}


def test_payloads_and_results_cross_the_boundary_as_json_copies() -> None:
    def mutate(event: Any) -> Any:
        event["x"] = "changed"
        return (1, 2)

    fakes = Fakes({"Mutate": mutate})
    execution = fakes.run(machine({"A": invoke("Mutate", ResultPath="$.r", End=True)}), {"x": 1})
    assert execution.output == {"x": 1, "r": {"ExecutedVersion": "$LATEST", "Payload": [1, 2], "StatusCode": 200}}


# ------------------------------------------------------------------------------------- Retry and Catch


def test_retry_backs_off_then_succeeds() -> None:
    fakes = Fakes({"Flaky": flaky(3, LambdaError("Lambda.TooManyRequestsException", "slow down"))})
    definition = machine(
        {
            "Call": invoke(
                "Flaky",
                Retry=[
                    {
                        "ErrorEquals": ["Lambda.TooManyRequestsException"],
                        "IntervalSeconds": 2,
                        "BackoffRate": 2,
                        "MaxAttempts": 3,
                    }
                ],
                OutputPath="$.Payload",
                End=True,
            )
        }
    )
    execution = fakes.run(definition)

    assert execution.status == "SUCCEEDED"
    assert execution.output == {"ok": True}
    assert fakes.sleeps == [2, 4, 8]
    assert [(r.status, r.attempts, r.error) for r in execution.history] == [
        ("retried", 1, "Lambda.TooManyRequestsException"),
        ("retried", 2, "Lambda.TooManyRequestsException"),
        ("retried", 3, "Lambda.TooManyRequestsException"),
        ("succeeded", 4, None),
    ]


def test_retry_defaults_max_delay_and_zero_attempts() -> None:
    fakes = Fakes({"Down": flaky(99, LambdaError("Boom", "down")), "Never": flaky(99, LambdaError("Never", "no"))})
    defaults = fakes.run(machine({"Call": invoke("Down", Retry=[{"ErrorEquals": ["Boom"]}], End=True)}))
    assert defaults.status == "FAILED"
    assert fakes.sleeps == [1, 2, 4]  # IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3
    assert defaults.history[-1].attempts == 4

    fakes.sleeps.clear()
    capped = {"ErrorEquals": ["Boom"], "IntervalSeconds": 3, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 20}
    fakes.run(machine({"Call": invoke("Down", Retry=[capped], End=True)}))
    assert fakes.sleeps == [3, 9, 20, 20]

    fakes.sleeps.clear()
    zero = fakes.run(machine({"Call": invoke("Never", Retry=[{"ErrorEquals": ["Never"], "MaxAttempts": 0}], End=True)}))
    assert (zero.error, fakes.sleeps, len(zero.history)) == ("Never", [], 1)


def test_first_matching_retrier_decides_even_when_spent() -> None:
    fakes = Fakes({"Down": flaky(99, LambdaError("Boom", "down"))})
    retry = [
        {"ErrorEquals": ["Other"], "IntervalSeconds": 7},
        {"ErrorEquals": ["Boom"], "IntervalSeconds": 5, "MaxAttempts": 1},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 9, "MaxAttempts": 5},
    ]
    execution = fakes.run(machine({"Call": invoke("Down", Retry=retry, End=True)}))
    assert execution.status == "FAILED"
    assert fakes.sleeps == [5]


ALERTING = machine(
    {
        "Score": invoke(
            "Score",
            Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}],
            Next="Done",
        ),
        "Alert": {
            "Type": "Task",
            "Resource": SNS_PUBLISH,
            "Parameters": {
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
                "Subject.$": "States.Format('{} failed in {}', $$.State.Name, $$.Execution.Name)",
                "Message": {"batch.$": "$.batch", "error.$": "$.error.Error", "cause.$": "$.error.Cause"},
            },
            "ResultPath": "$.alert",
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "ScoringFailed", "Cause": "scoring failed; an alert was sent"},
        "Done": {"Type": "Succeed"},
    }
)


def test_retry_exhausted_then_catch_publishes_an_alert_and_fails() -> None:
    fakes = Fakes({"Score": flaky(99, TooFewLabels("only 3 labels"))})
    execution = fakes.run(ALERTING, {"batch": "b-7"}, execution_name="nightly-1")

    assert execution.status == "FAILED"
    assert (execution.error, execution.cause) == ("ScoringFailed", "scoring failed; an alert was sent")
    assert fakes.sleeps == [1, 2]
    assert len(fakes.calls) == 3
    ((topic, message, subject),) = fakes.published
    assert topic == "arn:aws:sns:us-east-1:123456789012:alerts"
    assert subject == "Alert failed in nightly-1"
    body = json.loads(message)
    assert body["batch"] == "b-7"
    assert body["error"] == "TooFewLabels"
    assert json.loads(body["cause"]) == {"errorMessage": "only 3 labels", "errorType": "TooFewLabels"}
    assert [(r.name, r.status) for r in execution.history] == [
        ("Score", "retried"),
        ("Score", "retried"),
        ("Score", "caught"),
        ("Alert", "succeeded"),
        ("Failed", "failed"),
    ]
    caught = execution.history[2]
    assert caught.attempts == 3
    assert caught.output["error"]["Error"] == "TooFewLabels"
    assert caught.output["batch"] == "b-7"
    assert execution.history[3].output["alert"] == {"MessageId": "m-1"}


def test_sns_message_string_is_sent_verbatim() -> None:
    fakes = Fakes()
    state = {"Type": "Task", "Resource": SNS_PUBLISH, "End": True}
    state["Parameters"] = {"TopicArn": "arn:t", "Message.$": "$.text"}
    execution = fakes.run(machine({"Tell": state}), {"text": "plain words"})
    assert fakes.published == [("arn:t", "plain words", None)]
    assert execution.output == {"MessageId": "m-1"}


def test_lambda_error_from_a_function_error_payload() -> None:
    payload = {"errorType": "TooFewLabels", "errorMessage": "need 10", "stackTrace": []}
    fakes = Fakes({"Bad": flaky(99, LambdaError.from_payload(payload))})
    execution = fakes.run(machine({"Call": invoke("Bad", End=True)}))
    assert execution.error == "TooFewLabels"
    assert json.loads(execution.cause or "") == payload


def test_catch_without_result_path_replaces_the_input_with_the_error() -> None:
    fakes = Fakes({"Bad": flaky(99, LambdaError("TooFewLabels", "need 10"))})
    definition = machine(
        {
            "Call": invoke("Bad", Catch=[{"ErrorEquals": ["TooFewLabels"], "Next": "After"}], End=True),
            "After": {"Type": "Pass", "End": True},
        }
    )
    execution = fakes.run(definition, {"keep": "me"})
    assert execution.output == {"Error": "TooFewLabels", "Cause": "need 10"}


@pytest.mark.parametrize(
    ("error", "error_equals", "caught"),
    [
        (LambdaError("TooFewLabels", "x"), ["TooFewLabels"], True),
        (TooFewLabels("x"), ["TooFewLabels"], True),
        (LambdaError("TooFewLabels", "x"), ["TooManyLabels"], False),
        (LambdaError("TooFewLabels", "x"), ["States.TaskFailed"], True),
        (LambdaError("States.Timeout", "x"), ["States.TaskFailed"], False),
        (LambdaError("States.Timeout", "x"), ["States.Timeout"], True),
        (LambdaError("States.Timeout", "x"), ["States.ALL"], True),
        (ValueError("x"), ["TooFewLabels", "ValueError"], True),
    ],
)
def test_error_equals_matches_error_names(error: Exception, error_equals: list[str], caught: bool) -> None:
    fakes = Fakes({"Bad": flaky(99, error)})
    definition = machine(
        {
            "Call": invoke("Bad", Catch=[{"ErrorEquals": error_equals, "Next": "Handled"}], End=True),
            "Handled": {"Type": "Succeed"},
        }
    )
    execution = fakes.run(definition)
    assert execution.status == ("SUCCEEDED" if caught else "FAILED")
    if not caught:
        assert execution.error == (error.error if isinstance(error, LambdaError) else type(error).__name__)


def test_runtime_errors_are_neither_retried_nor_caught() -> None:
    fakes = Fakes({"Echo": lambda event: event})
    definition = machine(
        {
            "Call": invoke(
                "Echo",
                "$.missing",
                Retry=[{"ErrorEquals": ["States.ALL"]}],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                End=True,
            ),
            "Handled": {"Type": "Succeed"},
        }
    )
    execution = fakes.run(definition, {"present": 1})
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert "$.missing" in (execution.cause or "")
    assert fakes.calls == []
    assert fakes.sleeps == []


@pytest.mark.parametrize(
    "state",
    [
        {"Type": "Pass", "InputPath": "$.nope", "End": True},
        {"Type": "Pass", "OutputPath": "$.nope", "End": True},
        {"Type": "Pass", "Parameters": {"x.$": "$.a.b[3]"}, "End": True},
        {"Type": "Choice", "Choices": [{"Variable": "$.nope", "StringEquals": "x", "Next": "X"}], "Default": "X"},
        {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b.c", "End": True},  # $.a.b is a string
    ],
)
def test_missing_paths_fail_the_execution_with_states_runtime(state: dict[str, Any]) -> None:
    states = {"S": state}
    if "Default" in state:
        states["X"] = {"Type": "Succeed"}
    execution = Fakes().run(machine(states, "S"), {"a": {"b": "text"}})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_parallel_branch_failure_is_caught_by_the_parallel_state() -> None:
    fakes = Fakes({"Ok": lambda event: 1, "Bad": flaky(99, LambdaError("TooFewLabels", "3 < 10"))})
    definition = machine(
        {
            "Train": {
                "Type": "Parallel",
                "Branches": [machine({"A": invoke("Ok", End=True)}), machine({"B": invoke("Bad", End=True)})],
                "Catch": [{"ErrorEquals": ["TooFewLabels"], "ResultPath": "$.failure", "Next": "Skip"}],
                "End": True,
            },
            "Skip": {"Type": "Pass", "End": True},
        }
    )
    execution = fakes.run(definition, {"n": 1})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"n": 1, "failure": {"Error": "TooFewLabels", "Cause": "3 < 10"}}
    assert ("Train/B", "failed") in [(r.name, r.status) for r in execution.history]
    assert ("Train", "caught") in [(r.name, r.status) for r in execution.history]


def test_fail_state_inside_a_branch_fails_the_parallel() -> None:
    definition = machine(
        {
            "Both": {
                "Type": "Parallel",
                "Branches": [machine({"Stop": {"Type": "Fail", "Error": "Stopped", "Cause": "by design"}})],
                "End": True,
            }
        }
    )
    execution = Fakes().run(definition)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "Stopped", "by design")


def test_parallel_branches_run_concurrently_and_outputs_keep_branch_order() -> None:
    second_done = threading.Event()

    def first(event: Any) -> Any:
        return {"saw_second_finish": second_done.wait(2)}  # only true if the branches overlap

    def second(event: Any) -> Any:
        second_done.set()
        return "second"

    fakes = Fakes({"First": first, "Second": second})
    branches = [
        machine({"One": {"Type": "Task", "Resource": ARN + "First", "End": True}}),
        machine({"Two": {"Type": "Task", "Resource": ARN + "Second", "End": True}}),
    ]
    execution = fakes.run(machine({"Both": {"Type": "Parallel", "Branches": branches, "End": True}}))
    assert execution.output == [{"saw_second_finish": True}, "second"]
    assert [r.name for r in execution.history] == ["Both/One", "Both/Two", "Both"]


def test_a_failing_branch_cancels_its_siblings() -> None:
    started = threading.Event()

    def slow(event: Any) -> Any:
        started.set()
        time.sleep(0.2)
        return 1

    def bad(event: Any) -> Any:
        started.wait(2)
        raise TooFewLabels("no")

    fakes = Fakes({"Slow": slow, "Bad": bad, "Never": lambda event: 2})
    slow_branch = machine({"S1": invoke("Slow", Next="S2"), "S2": invoke("Never", End=True)})
    definition = machine(
        {"P": {"Type": "Parallel", "Branches": [slow_branch, machine({"B": invoke("Bad", End=True)})], "End": True}}
    )
    execution = fakes.run(definition)
    assert execution.error == "TooFewLabels"
    assert "Never" not in [name for name, _ in fakes.calls]


# ---------------------------------------------------------------------------------------------------- Map


def test_map_respects_max_concurrency_and_keeps_item_order() -> None:
    lock = threading.Lock()
    state = {"running": 0, "peak": 0}

    def score(event: Any) -> Any:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        time.sleep(0.1)
        with lock:
            state["running"] -= 1
        return {"id": event["id"], "score": event["value"] * 2, "index": event["index"]}

    fakes = Fakes({"Score": score})
    definition = machine(
        {
            "ScoreAll": {
                "Type": "Map",
                "ItemsPath": "$.companies",
                "MaxConcurrency": 2,
                "ItemSelector": {
                    "id.$": "$$.Map.Item.Value.id",
                    "value.$": "$$.Map.Item.Value.v",
                    "index.$": "$$.Map.Item.Index",
                    "run.$": "$.run",
                },
                "ItemProcessor": machine({"ScoreOne": invoke("Score", OutputPath="$.Payload", End=True)}),
                "ResultPath": "$.scores",
                "End": True,
            }
        }
    )
    companies = [{"id": f"c{i}", "v": i} for i in range(6)]
    execution = fakes.run(definition, {"companies": companies, "run": "r1"})

    assert execution.status == "SUCCEEDED", execution
    assert execution.output["scores"] == [{"id": f"c{i}", "score": 2 * i, "index": i} for i in range(6)]
    assert state["peak"] == 2
    assert all(payload["run"] == "r1" for _, payload in fakes.calls)
    names = [r.name for r in execution.history]
    assert names == [f"ScoreAll[{i}]/ScoreOne" for i in range(6)] + ["ScoreAll"]


def test_map_without_selector_uses_items_and_legacy_iterator() -> None:
    fakes = Fakes({"Double": lambda event: event * 2})
    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "Iterator": machine({"D": {"Type": "Task", "Resource": ARN + "Double", "End": True}}),
                "End": True,
            }
        }
    )
    assert fakes.run(definition, [1, 2, 3]).output == [2, 4, 6]


def test_map_item_failure_fails_the_map() -> None:
    fakes = Fakes({"Check": lambda event: event if event < 3 else (_ for _ in ()).throw(TooFewLabels(str(event)))})
    definition = machine(
        {"Each": {"Type": "Map", "ItemProcessor": machine({"C": invoke("Check", End=True)}), "End": True}}
    )
    execution = fakes.run(definition, [1, 2, 3], concurrent=False)
    assert (execution.status, execution.error) == ("FAILED", "TooFewLabels")
    assert [(r.name, r.status) for r in execution.history][-2:] == [("Each[2]/C", "failed"), ("Each", "failed")]


# ------------------------------------------------------------------------------------------------- Choice


ROUTER = machine(
    {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.labels", "NumericGreaterThanEquals": 10},
                        {"Not": {"Variable": "$.frozen", "BooleanEquals": True}},
                    ],
                    "Next": "Train",
                },
                {
                    "Or": [
                        {"Variable": "$.labels", "NumericLessThan": 0},
                        {"Variable": "$.note", "IsNull": True},
                    ],
                    "Next": "Broken",
                },
                {"Variable": "$.stage", "StringEqualsPath": "$.expected_stage", "Next": "Same"},
                {"Variable": "$.skip", "IsPresent": True, "Next": "Skip"},
            ],
        },
        "Train": {"Type": "Pass", "Result": "train", "End": True},
        "Broken": {"Type": "Pass", "Result": "broken", "End": True},
        "Same": {"Type": "Pass", "Result": "same", "End": True},
        "Skip": {"Type": "Pass", "Result": "skip", "End": True},
    }
)


@pytest.mark.parametrize(
    ("data", "result"),
    [
        ({"labels": 12, "frozen": False, "note": "", "stage": "a", "expected_stage": "b"}, "train"),
        ({"labels": 12, "frozen": True, "note": "", "stage": "a", "expected_stage": "a"}, "same"),
        ({"labels": -1, "frozen": False, "note": "", "stage": "a", "expected_stage": "b"}, "broken"),
        ({"labels": 5, "frozen": False, "note": None, "stage": "a", "expected_stage": "b"}, "broken"),
        ({"labels": 5, "frozen": False, "note": "", "stage": "a", "expected_stage": "b", "skip": 0}, "skip"),
        ({"labels": "12", "frozen": False, "note": "", "stage": "a", "expected_stage": "b", "skip": 1}, "skip"),
    ],
)
def test_choice_rules(data: dict[str, Any], result: str) -> None:
    execution = Fakes().run(ROUTER, data)
    assert execution.output == result, execution


def test_choice_without_match_or_default_fails_with_no_choice_matched() -> None:
    execution = Fakes().run(ROUTER, {"labels": 5, "frozen": False, "note": "", "stage": "a", "expected_stage": "b"})
    assert (execution.status, execution.error) == ("FAILED", "States.NoChoiceMatched")
    assert execution.history[-1].status == "failed"


@pytest.mark.parametrize(
    ("rule", "matched"),
    [
        ({"Variable": "$.n", "NumericEquals": 3}, True),
        ({"Variable": "$.n", "NumericLessThanEquals": 2}, False),
        ({"Variable": "$.n", "NumericGreaterThanPath": "$.limit"}, False),
        ({"Variable": "$.n", "NumericLessThanPath": "$.limit"}, True),
        ({"Variable": "$.s", "StringEquals": "3"}, True),
        ({"Variable": "$.n", "StringEquals": "3"}, False),
        ({"Variable": "$.s", "StringMatches": "*"}, True),
        ({"Variable": "$.when", "TimestampLessThan": "2026-01-02T00:00:00Z"}, True),
        ({"Variable": "$.gone", "IsPresent": False}, True),
    ],
)
def test_choice_comparators(rule: dict[str, Any], matched: bool) -> None:
    definition = machine(
        {
            "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": True, "End": True},
            "No": {"Type": "Pass", "Result": False, "End": True},
        }
    )
    data = {"n": 3, "s": "3", "limit": 5, "when": "2026-01-01T00:00:00Z"}
    assert Fakes().run(definition, data).output is matched


# ---------------------------------------------------------------------------- input/output, context, Wait


def test_intrinsic_functions() -> None:
    parameters = {
        "greeting.$": "States.Format('Hello {}, you are {} \\{literally\\}', $.name, $.age)",
        "json.$": "States.JsonToString($.obj)",
        "parsed.$": "States.StringToJson($.text)",
        "array.$": "States.Array($.name, 1, true, null)",
        "sum.$": "States.MathAdd($.age, -2)",
        "nested.$": "States.Format('n={}', States.MathAdd(States.ArrayLength($.list), 1))",
        "chunks.$": "States.ArrayPartition($.list, 2)",
        "has.$": "States.ArrayContains($.list, 3)",
        "item.$": "States.ArrayGetItem($.list, 1)",
        "range.$": "States.ArrayRange(1, 5, 2)",
        "unique.$": "States.ArrayUnique(States.Array(1, 1, 2))",
        "merged.$": "States.JsonMerge($.obj, States.StringToJson($.text), false)",
        "split.$": "States.StringSplit('a,b+c', ',+')",
        "b64.$": "States.Base64Decode(States.Base64Encode('hi'))",
        "sha.$": "States.Hash('abc', 'SHA-256')",
        "literal": "kept as is",
    }
    data = {"name": "Ana", "age": 40, "obj": {"a": [1, "x"]}, "text": '{"b": 2}', "list": [1, 2, 3]}
    execution = Fakes().run(machine({"P": {"Type": "Pass", "Parameters": parameters, "End": True}}), data)
    assert execution.status == "SUCCEEDED", execution
    assert execution.output == {
        "greeting": "Hello Ana, you are 40 {literally}",
        "json": '{"a":[1,"x"]}',
        "parsed": {"b": 2},
        "array": ["Ana", 1, True, None],
        "sum": 38,
        "nested": "n=4",
        "chunks": [[1, 2], [3]],
        "has": True,
        "item": 2,
        "range": [1, 3, 5],
        "unique": [1, 2],
        "merged": {"a": [1, "x"], "b": 2},
        "split": ["a", "b", "c"],
        "b64": "hi",
        "sha": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "literal": "kept as is",
    }


def test_bad_intrinsic_arguments_fail_with_states_runtime() -> None:
    definition = machine({"P": {"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.t)"}, "End": True}})
    execution = Fakes().run(definition, {"t": "{not json"})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "States.StringToJson" in (execution.cause or "")


def test_pass_input_path_result_path_output_path() -> None:
    definition = machine(
        {
            "Select": {"Type": "Pass", "InputPath": "$.inner", "Next": "Add"},
            "Add": {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.deep.added", "Next": "Discard"},
            "Discard": {"Type": "Pass", "Result": "ignored", "ResultPath": None, "Next": "Pick"},
            "Pick": {"Type": "Pass", "Parameters": {"both.$": "$['deep']", "first.$": "$.list[0]"}, "Next": "Out"},
            "Out": {"Type": "Pass", "OutputPath": "$.both.added", "End": True},
        }
    )
    execution = Fakes().run(definition, {"inner": {"list": ["a", "b"]}, "other": 1})
    assert [r.output for r in execution.history] == [
        {"list": ["a", "b"]},
        {"list": ["a", "b"], "deep": {"added": {"v": 1}}},
        {"list": ["a", "b"], "deep": {"added": {"v": 1}}},
        {"both": {"added": {"v": 1}}, "first": "a"},
        {"v": 1},
    ]


def test_null_input_and_output_paths_give_empty_objects() -> None:
    definition = machine(
        {
            "A": {"Type": "Pass", "InputPath": None, "Next": "B"},
            "B": {"Type": "Pass", "Result": 1, "ResultPath": "$.r", "OutputPath": None, "End": True},
        }
    )
    execution = Fakes().run(definition, {"x": 1})
    assert [r.output for r in execution.history] == [{}, {}]


def test_context_object() -> None:
    parameters = {
        "id.$": "$$.Execution.Id",
        "name.$": "$$.Execution.Name",
        "input.$": "$$.Execution.Input",
        "start.$": "$$.Execution.StartTime",
        "state.$": "$$.State.Name",
        "machine.$": "$$.StateMachine.Name",
        "retries.$": "$$.State.RetryCount",
    }
    definition = machine({"Where am I": {"Type": "Pass", "Parameters": parameters, "End": True}})
    output = Fakes().run(definition, {"q": 1}, execution_name="e-1", state_machine_name="Pipeline").output
    assert output["id"] == "arn:aws:states:us-east-1:123456789012:execution:Pipeline:e-1"
    assert (output["name"], output["input"], output["state"], output["machine"]) == (
        "e-1",
        {"q": 1},
        "Where am I",
        "Pipeline",
    )
    assert output["start"].endswith("Z")
    assert output["retries"] == 0


def test_wait_uses_the_injected_sleep() -> None:
    fakes = Fakes()
    definition = machine(
        {
            "Fixed": {"Type": "Wait", "Seconds": 5, "Next": "FromInput"},
            "FromInput": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Past"},
            "Past": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": True},
        }
    )
    execution = fakes.run(definition, {"delay": 2.5})
    assert execution.output == {"delay": 2.5}
    assert fakes.sleeps == [5, 2.5, 0]


def test_sequential_mode_gives_a_deterministic_history() -> None:
    fakes = pipeline_fakes(auc=0.9)
    execution = fakes.run(PIPELINE, {"n": 1}, concurrent=False)
    assert [name for name, _ in fakes.calls] == ["Prepare", "TrainLogistic", "TrainTree"]
    assert [r.name for r in execution.history] == [
        "Prepare",
        "Train/TrainLogisticRegression",
        "Train/TrainTree",
        "Train",
        "Good enough?",
        "Publish",
    ]


# ------------------------------------------------------------------------------------------- validation


def _bad(states: dict[str, Any], start: str = "A") -> dict[str, Any]:
    return {"StartAt": start, "States": states}


END = {"Type": "Succeed"}


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        (_bad({"B": END}), "StartAt 'A' is not a state"),
        (_bad({"A": {"Type": "Pass", "Next": "Nowhere"}}), "Next 'Nowhere' is not a state"),
        (_bad({"A": {"Type": "Pass"}}), "exactly one of Next or"),
        (_bad({"A": {"Type": "Pass", "End": True, "Next": "A"}}), "exactly one of Next or"),
        (
            _bad(
                {
                    "A": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}],
                        "Default": "Z",
                    },
                    "B": END,
                }
            ),
            "Default 'Z'",
        ),
        (_bad({"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "Q"}]}}), "Next 'Q'"),
        (_bad({"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "A"}]}}), "comparison operator"),
        (_bad({"A": {**invoke("F"), "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}], "End": True}}), "Next 'Gone'"),
        (
            _bad(
                {"A": {**invoke("F"), "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}], "End": True}}
            ),
            "States.ALL",
        ),
        (
            _bad({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}),
            "unsupported Resource",
        ),
        (_bad({"A": {"Type": "Task", "Resource": LAMBDA_INVOKE, "End": True}}), "Parameters.FunctionName"),
        (_bad({"A": {"Type": "Pass", "End": True}, "B": END}), "unreachable states \\['B'\\]"),
        (_bad({"A": {"Type": "Pass", "ResultsPath": "$.x", "End": True}}), "ResultsPath"),
        (_bad({"A": {"Type": "Pass", "Parameters": {"x.$": "States.Nope(1)"}, "End": True}}), "unknown function"),
        (_bad({"A": {"Type": "Pass", "InputPath": "x", "End": True}}), "must start with"),
        (
            _bad({"A": {"Type": "Parallel", "Branches": [_bad({"X": {"Type": "Pass"}}, "X")], "End": True}}),
            "A/Branches\\[0\\]/X",
        ),
        (_bad({"A": {"Type": "Map", "ItemProcessor": _bad({}, "X"), "End": True}}), "States must be a non-empty"),
        (_bad({"A": {"Type": "Wait", "End": True}}), "exactly one of Seconds"),
        (_bad({"A": {"Type": "Sleep", "End": True}}), "unknown Type"),
    ],
)
def test_bad_definitions_are_rejected(definition: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fakes().runner(definition)


def test_load_definition_fills_sam_substitutions(tmp_path: Path) -> None:
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(machine({"A": {"Type": "Task", "Resource": "${ScoreArn}", "End": True}})))
    definition = load_definition(path, {"ScoreArn": ARN + "Score"})
    assert definition["States"]["A"]["Resource"] == ARN + "Score"
    with pytest.raises(ValueError, match="ScoreArn"):
        load_definition(path, {})
