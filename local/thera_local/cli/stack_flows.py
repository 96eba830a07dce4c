"""``thera --stack NAME run daily|weekly``: the flows on a deployed stack, through AWS APIs only.

``run daily`` does what the daily schedules do: it invokes each schedule's function asynchronously
(InvocationType Event) with the schedule's input, as EventBridge Scheduler would, then waits while
the queues drain and prints the funnel, read from the stack's lake and tables as the local
``thera run daily`` reads it. An invocation has ended when its function's log group holds its
REPORT line. The schedules are read from the stack's template (GetTemplate), which names each
one's target and input. ``run weekly`` starts the training state machine and waits for its
execution to end.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from thera_local.cli.common import UsageError, _err
from thera_local.cli.flows import wait_for_queues
from thera_local.cli.resources import StackResources
from thera_local.cli.status import report_lines
from thera_local.schedules import scheduler_input
from thera_local.summary import read_funnel, render

STATE_MACHINE = "WeeklyTrainingStateMachine"


def schedules(resources: StackResources, prefix: str) -> list[tuple[str, str, str]]:
    """(schedule logical id, target function logical id, input) of the stack's schedules whose event name
    (the logical id after the function's) starts with ``prefix``."""
    body = resources.client("cloudformation").get_template(StackName=resources.name, TemplateStage="Processed")
    doc = body["TemplateBody"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    found = []
    for logical, res in doc.get("Resources", {}).items():
        if res.get("Type") != "AWS::Scheduler::Schedule":
            continue
        target = res["Properties"]["Target"]
        arn = target.get("Arn")
        function = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        if function and logical.startswith(function) and logical[len(function) :].startswith(prefix):
            found.append((logical, function, str(target.get("Input") or "{}")))
    return sorted(found)


def fire(resources: StackResources, prefix: str, now: datetime) -> list[str]:
    """Invoke each matching schedule's function asynchronously; the functions invoked."""
    lam = resources.client("lambda")
    fired = []
    for logical, function, raw in schedules(resources, prefix):
        arn = lam.get_function_configuration(FunctionName=resources.physical[function])["FunctionArn"]
        event = scheduler_input(raw, now, f"arn:aws:scheduler:::schedule/default/{logical}")
        print(f"invoking {function} as schedule {logical} does", flush=True)
        lam.invoke(FunctionName=arn, InvocationType="Event", Payload=json.dumps(event).encode())
        fired.append(function)
    return fired


def wait_for_invocations(
    resources: StackResources, functions: list[str], since: datetime, timeout: float, poll: float = 2.0
) -> bool:
    """True once each function has logged a REPORT line (an invocation's end) since ``since``."""
    start, deadline = int(since.timestamp() * 1000), time.monotonic() + timeout
    waiting = set(functions)
    while waiting and time.monotonic() < deadline:
        waiting = {f for f in waiting if not report_lines(resources, f, start)}
        if waiting:
            time.sleep(poll)
    return not waiting


def run_daily(resources: StackResources, timeout: float) -> int:
    """Fire the Daily schedules, wait for their invocations to end and the queues to drain, then IndexRefresh."""
    started = datetime.now(UTC)
    pulled = fire(resources, "Daily", started)
    if not pulled:
        raise UsageError(f"stack {resources.name} has no Daily schedule")
    deadline = time.monotonic() + timeout
    drained = wait_for_invocations(resources, pulled, started, timeout) and wait_for_queues(
        resources, max(0.0, deadline - time.monotonic())
    )
    if drained:  # the index builder runs every few minutes; here as soon as the flow is done
        fire(resources, "IndexRefresh", datetime.now(UTC))
    print(render(read_funnel(resources), None, None), flush=True)
    if not drained:
        _err(f"thera: the daily flow did not finish within {timeout:.0f}s")
        return 1
    return 0


def run_weekly(resources: StackResources, timeout: float, poll: float = 2.0) -> int:
    sfn = resources.client("stepfunctions")
    machine = resources.physical.get(STATE_MACHINE) or resources.outputs.get(STATE_MACHINE + "Arn")
    if not machine:
        raise UsageError(f"stack {resources.name} has no {STATE_MACHINE}")
    name = "weekly-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    execution = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    print(f"started {execution}", flush=True)
    deadline = time.monotonic() + timeout
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(poll)
        described = sfn.describe_execution(executionArn=execution)
    print(f"execution {name}: {described['status']}", flush=True)
    output = json.loads(described.get("output") or "null")
    evaluation = output.get("evaluation") if isinstance(output, dict) else None
    if evaluation:
        print(
            f"challenger {evaluation['challenger']['version']} beats {evaluation['champion']} by "
            f"{evaluation['beats_by']:+.4f} PR-AUC: {'promoted' if 'serving' in output else 'kept the champion'}"
        )
    if described["status"] == "RUNNING":
        _err(f"thera: {name} still running after {timeout:.0f}s")
        return 1
    if described["status"] != "SUCCEEDED":
        reason = ": ".join(x for x in (described.get("error"), described.get("cause")) if x)
        _err(f"thera: the weekly training {described['status'].lower()}: {reason}")
        return 1
    return 0
