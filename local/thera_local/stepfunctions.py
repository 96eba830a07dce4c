"""The template's state machines on moto's own Step Functions engine, with the real task handlers.

Why: the Docker-free local runtime has no Step Functions service of its own, yet the pipeline's
control flow (retries, catches, fan-out, choices, alerts) lives in the ASL file. moto executes
ASL (its ``stepfunctions.parser``, LocalStack's interpreter) once the emulator's config has
``{"stepfunctions": {"execute_state_machine": true}}``; measured with moto 5.2.5 it runs the
weekly training as written: Pass with intrinsic functions and ``$$``, Lambda tasks by function
ARN, Parallel, Choice with ``And`` and ``...Path`` comparators, Retry, Catch with ResultPath,
``arn:aws:states:::sns:publish`` (to the emulator's topic, subscribers included), Succeed, Fail.

What moto leaves out, supplied here:

- Its CloudFormation drops a state machine's ``DefinitionUri``/``DefinitionSubstitutions`` and
  creates it in the backend that does not execute: ``deploy`` creates each template state
  machine in the executing backend from its ASL file, substitutions filled as CloudFormation would.
- Its Lambda (no Docker) only echoes payloads: ``route_lambda`` sends its ``Invoke`` to the
  runtime's execution environments (or, in tests, to the handlers in process). This patches
  ``LambdaBackend.invoke``, which is moto's internal API.
- Its engine calls Lambda and SNS through ``localhost:$MOTO_PORT``: ``deploy`` sets that to the
  emulator it provisions (this process's moto: the engine runs inside the emulator).
- ``run`` starts an execution, waits, and turns ``GetExecutionHistory`` into one record per state
  visit (``Train/TrainRandomForest`` for a branch's state), the shape ``thera run weekly`` prints.

A function error's ``errorType`` becomes the ASL error name, as on AWS. moto refuses custom error
names starting with ``States.`` (``CustomErrorName``), so a timed-out task function reaches the
engine as ``Sandbox.Timedout`` (the runtime's errorType), no longer mapped to ``States.Timeout``
as the hand-written interpreter this module replaced did: a Retry on ``States.Timeout`` matches
only a Task's own ``TimeoutSeconds``, as on AWS.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from thera_local.template import ACCOUNT_ID, PARTITION, REGION, Template

ExecutionStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
RecordStatus = Literal["succeeded", "failed", "caught", "retried"]
# (function ARN, event) -> (ok, payload); None when the function is not the runtime's
LambdaRoute = Callable[[str, Any], tuple[bool, Any] | None]

_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
_ROLE = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/thera-local-stepfunctions"


@dataclass
class StateRecord:
    """One state visit (or one retried attempt); a branch's states are named ``Parallel/State``."""

    name: str
    type: str
    status: RecordStatus
    seconds: float
    output: Any = None
    error: str | None = None
    cause: str | None = None
    attempts: int = 1


@dataclass
class Execution:
    """What DescribeExecution and GetExecutionHistory say about one finished execution."""

    status: ExecutionStatus
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[StateRecord] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)  # SNS tasks: topic, subject, message

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def load_definition(path: str | Path, substitutions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read an ASL file and fill SAM ``DefinitionSubstitutions`` (``${Name}``), so the file stays the only copy."""
    text = Path(path).read_text(encoding="utf-8")
    subs = dict(substitutions or {})
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in subs:
            missing.append(key)
            return match.group(0)
        return json.dumps(subs[key])[1:-1]  # escaped for the JSON string it sits in

    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", fill, text)
    if missing:
        raise ValueError(f"{path}: no substitution for {', '.join(sorted(set(missing)))}")
    definition = json.loads(text)
    if not isinstance(definition, dict):
        raise ValueError(f"{path}: a state machine definition must be a JSON object")
    return definition


def definition(template: Template, logical: str) -> dict[str, Any]:
    """The ASL of a template's ``AWS::Serverless::StateMachine``, substitutions resolved."""
    props = template.resources[logical]["Properties"]
    substitutions = {k: str(template.resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
    return load_definition(template.root / props["DefinitionUri"], substitutions)


def state_machine_arn(template: Template, logical: str) -> str:
    return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{template.physical(logical)}"


def deploy(template: Template, endpoint: str, sfn: Any) -> None:
    """Switch the emulator to moto's executing engine and create the template's state machines in it."""
    os.environ["MOTO_PORT"] = str(urllib.parse.urlsplit(endpoint).port)
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        endpoint + "/moto-api/config", data=json.dumps(_CONFIG).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    existing = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    for logical in template.of_type("AWS::Serverless::StateMachine"):
        name, asl = template.physical(logical), json.dumps(definition(template, logical))
        if name in existing:
            sfn.update_state_machine(stateMachineArn=state_machine_arn(template, logical), definition=asl)
        else:
            sfn.create_state_machine(name=name, definition=asl, roleArn=_ROLE)


# ------------------------------------------------------------------------------------- Lambda tasks

_route_lock = threading.Lock()
_route: LambdaRoute | None = None


def route_lambda(route: LambdaRoute | None) -> None:
    """Send moto's Lambda ``Invoke`` (the engine's Lambda tasks, and ``thera --stack`` invoking a stack
    function with InvocationType Event, run in a thread) to ``route``; None restores moto's."""
    global _route
    from moto.awslambda.models import LambdaBackend

    with _route_lock:
        if not getattr(LambdaBackend.invoke, "_thera_routed", False):
            original = LambdaBackend.invoke

            def invoke(
                self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
            ) -> Any:
                route = _route
                if route is not None and headers.get("X-Amz-Invocation-Type") == "Event":
                    # asynchronous, as Lambda queues it: accepted (202) now, the handler runs in the stack
                    event = json.loads(body or "{}")
                    threading.Thread(target=route, args=(function_name, event), daemon=True).start()
                    return b""
                answer = route(function_name, json.loads(body or "{}")) if route else None
                if answer is None:
                    return original(self, function_name, qualifier, body, headers, response_headers)
                ok, payload = answer
                if not ok:  # what Lambda says of a handler's exception; the engine reads errorType
                    response_headers["x-amz-function-error"] = "Unhandled"
                data = json.dumps(payload).encode()
                response_headers["Content-Length"] = str(len(data))
                return data

            invoke._thera_routed = True  # type: ignore[attr-defined]
            LambdaBackend.invoke = invoke  # type: ignore[method-assign]
        _route = route


@contextmanager
def routed_lambda(route: LambdaRoute) -> Iterator[None]:
    route_lambda(route)
    try:
        yield
    finally:
        route_lambda(None)


# ---------------------------------------------------------------------------------------- executions


def run(sfn: Any, arn: str, name: str, input: Any, machine: Mapping[str, Any], poll: float = 0.2) -> Execution:
    """Start an execution, wait for its end, and read its history (``machine`` names the branches)."""
    execution_arn = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(input))["executionArn"]
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        time.sleep(poll)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    output = json.loads(described["output"]) if described.get("output") else None
    history, published = records(events, machine)
    return Execution(described["status"], output, described.get("error"), described.get("cause"), history, published)


def labels(machine: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """State name -> the name it is reported under: ``Parallel/State`` inside a branch (names are unique)."""
    out: dict[str, str] = {}
    for name, state in machine["States"].items():
        out[name] = prefix + name
        for branch in state.get("Branches", []):
            out.update(labels(branch, f"{prefix}{name}/"))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            out.update(labels(processor, f"{prefix}{name}/"))
    return out


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


@dataclass
class _Visit:
    name: str
    type: str
    entered: datetime
    attempt_started: datetime
    attempts: int = 1
    failure: dict[str, Any] | None = None


def _failed(visit: _Visit, at: datetime, failure: Mapping[str, Any]) -> StateRecord:
    failure = visit.failure or failure
    seconds = (at - visit.entered).total_seconds()
    return StateRecord(
        visit.name, visit.type, "failed", seconds, None, failure.get("error"), failure.get("cause"), visit.attempts
    )


def records(events: list[dict[str, Any]], machine: Mapping[str, Any]) -> tuple[list[StateRecord], list[dict[str, Any]]]:
    """One record per state visit in the order the visits ended (a retried attempt is a record of its own);
    states still open when the execution failed come last, as ``failed``. Also the SNS messages published."""
    label = labels(machine)
    owner: dict[int, str] = {}  # event id -> the state it belongs to (events chain by previousEventId)
    open_: dict[str, _Visit] = {}
    out: list[StateRecord] = []
    published: list[dict[str, Any]] = []
    scheduled: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, details, at = event["type"], _details(event), event["timestamp"]
        state = owner.get(event.get("previousEventId") or 0)
        if kind.endswith("StateEntered"):
            state = details["name"]
            open_[state] = _Visit(label.get(state, state), kind[: -len("StateEntered")], at, at)
        elif kind.endswith("StateExited"):
            state = details["name"]
            if state not in open_:  # a branch that went on after its Parallel had failed
                continue
            visit = open_.pop(state)
            failure = visit.failure
            out.append(
                StateRecord(
                    visit.name,
                    visit.type,
                    "caught" if failure else "succeeded",
                    (at - visit.entered).total_seconds(),
                    json.loads(details["output"]) if details.get("output") else None,
                    failure.get("error") if failure else None,
                    failure.get("cause") if failure else None,
                    visit.attempts,
                )
            )
        elif kind == "ExecutionFailed":
            out.extend(_failed(visit, at, details) for visit in open_.values())
            open_.clear()
        elif kind.startswith(("Parallel", "Map")) and kind.endswith("Failed") and state is not None:
            # a branch failed: its failed states end there, and the failure is the Parallel's (or Map's)
            failure = (open_[state].failure if state in open_ else None) or details
            parent = label.get(state, state).rsplit("/", 1)[0].rsplit("/", 1)[-1]
            if parent in open_:
                within = open_[parent].name + "/"
                inside = [n for n, v in open_.items() if v.name.startswith(within) and (n == state or v.failure)]
                out.extend(_failed(open_.pop(n), at, failure) for n in inside)
                open_[parent].failure = failure
                state = parent
        elif state in open_:
            visit = open_[state]
            if kind.endswith(("Failed", "TimedOut")):
                visit.failure = details
            elif kind.endswith("Scheduled"):
                if visit.failure is not None:  # the previous attempt failed and a retrier took it
                    out.append(
                        StateRecord(
                            visit.name,
                            visit.type,
                            "retried",
                            (at - visit.attempt_started).total_seconds(),
                            None,
                            visit.failure.get("error"),
                            visit.failure.get("cause"),
                            visit.attempts,
                        )
                    )
                    visit.attempts += 1
                    visit.failure = None
                visit.attempt_started = at
                if details.get("resourceType") == "sns" and details.get("resource") == "publish":
                    scheduled[state] = json.loads(details.get("parameters") or "{}")
            elif kind == "TaskSucceeded" and state in scheduled:
                params = scheduled.pop(state)
                published.append(
                    {
                        "topic": params.get("TopicArn"),
                        "subject": params.get("Subject"),
                        "message": params.get("Message"),
                    }
                )
        if state is not None:
            owner[event["id"]] = state
    return out, published
