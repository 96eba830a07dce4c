"""`thera run weekly`: the weekly training state machine, run from its ASL file against the local stack.

The definition is read from the template's ``AWS::Serverless::StateMachine`` (its
``DefinitionUri``) with the ``DefinitionSubstitutions`` resolved as CloudFormation would;
Lambda tasks run the real handlers in Lambda-like execution environments, and the failure
notification is published to the emulator's SNS topic.

For a demo there must be labels: ``synthetic_feedback`` asks the local matcher about the
dataset's most common tags (one challenge per tag) and answers each match as a user who
wants that tag would (accept when the company carries it), with a share of answers flipped
at random, through the same ``POST /feedback`` the explorer page uses.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from thera_local.emulator import aws_client
from thera_local.lambda_env import invoke_once
from thera_local.stack import StackInfo, http_call
from thera_local.stepfunctions import Execution, LambdaError, StateMachineRunner, load_definition
from thera_local.template import Template

STATE_MACHINE = "WeeklyTrainingStateMachine"


def definition(template: Template, logical: str = STATE_MACHINE) -> dict[str, Any]:
    props = template.resources[logical]["Properties"]
    substitutions = {k: str(template.resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
    return load_definition(template.root / props["DefinitionUri"], substitutions)


class LocalTasks:
    """Lambda tasks by function ARN, each in its own execution environment; SNS through the emulator."""

    def __init__(self, template: Template, endpoint: str, logs: Path) -> None:
        self._specs = {template.arn(logical): spec for logical, spec in template.functions().items()}
        self._endpoint, self._logs = endpoint, logs
        self.published: list[dict[str, Any]] = []

    def invoke(self, arn: str, payload: Any) -> Any:
        spec = self._specs.get(arn)
        if spec is None:
            raise LambdaError("Lambda.ResourceNotFoundException", f"no function {arn} in the template")
        result = invoke_once(spec, self._endpoint, self._logs, payload)
        if not result.ok:
            error = result.payload if isinstance(result.payload, dict) else {}
            name = "States.Timeout" if error.get("errorType") == "Sandbox.Timedout" else error.get("errorType")
            raise LambdaError(str(name or "Lambda.Unknown"), str(error.get("errorMessage", result.payload)))
        return result.payload

    def publish(self, topic_arn: str, message: str, subject: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
        if subject:
            args["Subject"] = subject
        answer = aws_client("sns", self._endpoint).publish(**args)
        self.published.append({"topic": topic_arn, "subject": subject, "message": message})
        return {"MessageId": answer["MessageId"]}


def run_weekly(info: StackInfo, execution_name: str) -> tuple[Execution, LocalTasks]:
    template = info.template_obj()
    tasks = LocalTasks(template, info.endpoint, Path(info.home) / "logs")
    runner = StateMachineRunner(
        definition(template),
        invoke_lambda=tasks.invoke,
        publish_sns=tasks.publish,
        execution_name=execution_name,
        state_machine_name=template.physical(STATE_MACHINE),
    )
    return runner.run({}), tasks


def synthetic_feedback(
    info: StackInfo, companies: list[dict[str, Any]], challenges: int = 40, noise: float = 0.1, seed: int = 7
) -> dict[str, int]:
    """Ask the matcher about the ``challenges`` most common tags and answer every match; counts by decision."""
    rng = random.Random(seed)
    tags = Counter(t for c in companies for t in c.get("tags") or [])
    decided: Counter[str] = Counter()
    for tag, _ in tags.most_common(challenges):
        text = f"We are looking for startups that can help us with {tag.lower()}."
        status, answer = http_call("POST", info.api + "/match", {"challenge_text": text, "top_k": 20})
        if status != 200:
            raise RuntimeError(f"POST /match answered {status}: {answer}")
        carriers = {c.get("domain") for c in companies if tag in (c.get("tags") or [])}
        for match in answer["matches"]:
            wanted = match["domain"] in carriers
            if rng.random() < noise:
                wanted = not wanted
            decision = "accept" if wanted else "reject"
            body = {
                "challenge_id": answer["challenge_id"],
                "domain": match["domain"],
                "decision": decision,
                "model_version": answer["model_version"],
            }
            status, stored = http_call("POST", info.api + "/feedback", body)
            if status != 201:
                raise RuntimeError(f"POST /feedback answered {status}: {stored}")
            decided[decision] += 1
    return dict(decided)
