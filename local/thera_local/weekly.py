"""`thera run weekly`: the weekly training state machine, run from its ASL file against the local stack.

The definition is read from the template's ``AWS::Serverless::StateMachine`` (its
``DefinitionUri``) with the ``DefinitionSubstitutions`` resolved as CloudFormation would;
it runs on the stack's emulator (moto's Step Functions engine, see ``thera_local.stepfunctions``):
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
from typing import Any

from thera_local.emulator import aws_client
from thera_local.stack import StackInfo, http_call
from thera_local.stepfunctions import Execution, run, state_machine_arn
from thera_local.stepfunctions import definition as machine_definition
from thera_local.template import Template

STATE_MACHINE = "WeeklyTrainingStateMachine"


def definition(template: Template, logical: str = STATE_MACHINE) -> dict[str, Any]:
    return machine_definition(template, logical)


def run_weekly(info: StackInfo, execution_name: str) -> Execution:
    """One execution on the stack's Step Functions (moto's engine); its Lambda tasks run in the stack."""
    template = info.template_obj()
    sfn = aws_client("stepfunctions", info.endpoint)
    return run(sfn, state_machine_arn(template, STATE_MACHINE), execution_name, {}, definition(template))


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
