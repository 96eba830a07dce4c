"""moto's Step Functions engine as the local runtime drives it: small definitions on the emulator,
Lambda tasks routed to pure-Python fakes, the records read from the history moto writes."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import Aws
from thera_local.stepfunctions import Execution, routed_lambda, run

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
RETRY = [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 1}]
CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Notify"}]


def execute(aws: Aws, machine: dict[str, Any], functions: dict[str, Any], name: str = "local") -> Execution:
    calls: dict[str, int] = {}

    def invoke(arn: str, payload: Any) -> tuple[bool, Any]:
        fn = arn.removeprefix(ARN)
        calls[fn] = calls.get(fn, 0) + 1
        answer: tuple[bool, Any] = functions[fn](payload, calls[fn])
        return answer

    sfn = aws.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/local"
    arn = sfn.create_state_machine(name="small", definition=json.dumps(machine), roleArn=role)["stateMachineArn"]
    with routed_lambda(invoke):
        return run(sfn, arn, name, {"n": 1}, machine, poll=0.05)


def test_a_parallel_and_a_choice_on_moto_give_one_record_per_state_with_branch_names(aws: Aws) -> None:
    machine = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": ARN + "a", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": ARN + "b", "End": True}}},
                ],
                "ResultPath": "$.both",
                "Next": "Big",
            },
            "Big": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.both[0].v", "NumericGreaterThanPath": "$.both[1].v", "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Succeed"},
            "No": {"Type": "Pass", "Result": "no", "ResultPath": "$.verdict", "End": True},
        },
    }
    execution = execute(aws, machine, {"a": lambda p, i: (True, {"v": 1}), "b": lambda p, i: (True, {"v": 2})})
    assert execution.succeeded and execution.output == {"n": 1, "both": [{"v": 1}, {"v": 2}], "verdict": "no"}
    names = [r.name for r in execution.history]
    assert sorted(names[:2]) == ["Fan/A", "Fan/B"] and names[2:] == ["Fan", "Big", "No"]
    assert {r.status for r in execution.history} == {"succeeded"}
    assert execution.history[2].type == "Parallel" and execution.history[2].output["both"][1] == {"v": 2}


def test_a_retried_then_caught_failure_notifies_and_the_fail_state_ends_the_execution(aws: Aws) -> None:
    machine = {
        "StartAt": "Build",
        "States": {
            "Build": {"Type": "Task", "Resource": ARN + "build", "Retry": RETRY, "Catch": CATCH, "Next": "Done"},
            "Done": {"Type": "Succeed"},
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": aws.template.arn("AlarmTopic"),
                    "Subject": "failed",
                    "Message.$": "States.Format('{} failed with {}', $$.Execution.Name, $.failure.Error)",
                },
                "ResultPath": "$.notified",
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "RunFailed", "Cause": "a step failed"},
        },
    }

    def build(payload: Any, attempt: int) -> tuple[bool, Any]:
        error = "Flaky" if attempt == 1 else "TooFewLabels"
        return False, {"errorType": error, "errorMessage": f"attempt {attempt}"}

    execution = execute(aws, machine, {"build": build}, name="run-7")
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "RunFailed", "a step failed")
    by = [(r.name, r.status, r.error, r.attempts) for r in execution.history]
    assert by == [
        ("Build", "retried", "Flaky", 1),
        ("Build", "caught", "TooFewLabels", 2),
        ("Notify", "succeeded", None, 1),
        ("Failed", "failed", "RunFailed", 1),
    ]
    assert json.loads(execution.history[1].cause or "{}")["errorMessage"] == "attempt 2"
    assert execution.published == [
        {"topic": aws.template.arn("AlarmTopic"), "subject": "failed", "message": "run-7 failed with TooFewLabels"}
    ]


def test_an_uncaught_task_failure_is_the_failed_record(aws: Aws) -> None:
    machine = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN + "t", "End": True}}}
    execution = execute(aws, machine, {"t": lambda p, i: (False, {"errorType": "Boom", "errorMessage": "no"})})
    assert (execution.status, execution.error) == ("FAILED", "Boom")
    assert [(r.name, r.status, r.error) for r in execution.history] == [("T", "failed", "Boom")]


def test_a_failing_branch_is_caught_by_its_parallel_state(aws: Aws) -> None:
    branch = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": ARN + "a", "End": True}}}
    machine = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [branch],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Kept"}],
                "End": True,
            },
            "Kept": {"Type": "Pass", "End": True},
        },
    }
    execution = execute(aws, machine, {"a": lambda p, i: (False, {"errorType": "Boom", "errorMessage": "no"})})
    assert execution.succeeded and execution.output["failure"]["Error"] == "Boom"
    assert [(r.name, r.status, r.error) for r in execution.history] == [
        ("Fan/A", "failed", "Boom"),
        ("Fan", "caught", "Boom"),
        ("Kept", "succeeded", None),
    ]
