"""The SAM CLI against LocalStack: credentials that reach only it, deploys, checks and deletes of a stack."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resource_probes import probe_resources, read_api_auth, read_lake
from stack_checks import (
    RehearsalError,
    StackPlan,
    api_auth_problems,
    api_auth_summary,
    compare_resources,
    declared_lake,
    expected_resources,
    fallback_resources,
    first_failure,
    lake_problems,
    lake_summary,
    monitoring_gaps,
)

ROOT = Path(__file__).resolve().parents[2]


def sam_env(port: int, root: Path) -> dict[str, str]:
    """Credentials and endpoint that can only reach the local LocalStack, never a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",  # noqa: S106 LocalStack's documented dummy key
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(root / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "aws-credentials"),
        SAM_CLI_TELEMETRY="0",
    )
    return env


def run_logged(cmd: list[str], log: Path, env: Mapping[str, str], what: str) -> None:
    with log.open("wb") as out:
        code = subprocess.call(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
        raise RehearsalError(f"{what} failed (exit {code}): {tail[0].strip() if tail else 'no output'} [{log}]")


def transform(packaged: Path, parameters: Mapping[str, str]) -> dict[str, Any]:
    """The CloudFormation template SAM's own translator makes of the packaged template."""
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    # its metrics object warns when collected unpublished: nothing is published here
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            raise RehearsalError("the template names an AWS managed policy SAM cannot resolve offline")

    result: dict[str, Any] = sam_transform(yaml_parse(packaged.read_text()), dict(parameters), NoManagedPolicies())
    return result


def all_pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


@dataclass
class StackReport:
    plan: StackPlan
    resources: int
    probed: int
    faked: list[tuple[str, str]]
    auth: str  # how the matcher API signs callers in, as deployed
    lake: str  # the lake's catalog and workgroup, as deployed


def verify_stack(boto: Any, plan: StackPlan, packaged: Path) -> StackReport:
    cfn = boto.client("cloudformation")
    name = plan.stack_name
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=name)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        reason = first_failure(events) or stack.get("StackStatusReason", "no reason given")
        raise RehearsalError(f"{name} is {stack['StackStatus']}: {reason}")
    transformed = transform(packaged, plan.parameters)
    gaps = monitoring_gaps(transformed)
    if gaps:
        raise RehearsalError(f"{name}'s template leaves {len(gaps)} unwatched: {'; '.join(gaps[:5])}")
    expected, conditional = expected_resources(transformed)
    deployed = all_pages(cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
    comparison = compare_resources(expected, conditional, deployed)
    if not comparison.ok:
        raise RehearsalError(f"{name} does not match its transformed template: {comparison.describe()}")
    faked = fallback_resources(events)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto.client(service)
        return clients[service]

    probed, absent = probe_resources(client, deployed, {logical for logical, _ in faked})
    if absent:
        raise RehearsalError(f"{name}: {len(absent)} resources do not answer their service: {', '.join(absent[:5])}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    auth = read_api_auth(client, deployed, outputs)
    problems = api_auth_problems(plan.api_auth, auth, boto.region_name)
    if problems:
        raise RehearsalError(f"{name}'s API sign-in: {'; '.join(problems[:5])}")
    lake = read_lake(client, deployed)
    bucket = next(r["PhysicalResourceId"] for r in deployed if r["LogicalResourceId"] == "DataLakeBucket")
    problems = lake_problems(declared_lake(transformed), lake, bucket)
    if problems:
        raise RehearsalError(f"{name}'s lake catalog: {'; '.join(problems[:5])}")
    return StackReport(plan, len(deployed), probed, faked, api_auth_summary(plan.api_auth, auth), lake_summary(lake))


def delete_stack(boto: Any, name: str) -> None:
    cfn = boto.client("cloudformation")
    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED":
            events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=stack_id)
            raise RehearsalError(f"{name} is DELETE_FAILED: {first_failure(events) or 'no reason given'}")
        time.sleep(1)
    raise RehearsalError(f"{name} was not deleted within 300 s")


def stack_failure(boto: Any, name: str) -> str | None:
    """The first failed resource of a stack whose deploy failed, when CloudFormation knows one."""
    try:
        cfn = boto.client("cloudformation")
        events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=name)
    except Exception:  # the stack may not exist: sam deploy failed before creating it
        return None
    failure = first_failure(events)
    return f"{name}: {failure}" if failure else None
