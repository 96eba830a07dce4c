"""The local stack in the emulator's CloudFormation, and function logs in its CloudWatch Logs: what
`sam list resources` and `sam logs --stack-name thera-local` read."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from tests.conftest import ROOT
from tests.integration.conftest import Aws
from thera_local.cloudformation import translate
from thera_local.emulator import Emulator, provision, restore, snapshot
from thera_local.function_logs import LogShipper
from thera_local.lambda_env import ExecutionEnvironment, function_environment, invoke_once
from thera_local.template import STACK_NAME, FunctionSpec

STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def test_the_stack_holds_the_templates_resources_under_their_physical_names(aws: Aws) -> None:
    cfn = aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    listed = cfn.list_stack_resources(StackName=STACK_NAME)["StackResourceSummaries"]
    physical = {(r["LogicalResourceId"], r["ResourceType"]): r["PhysicalResourceId"] for r in listed}
    template = aws.template
    for kind, cfn_kind in (
        ("AWS::Serverless::Function", "AWS::Lambda::Function"),
        ("AWS::DynamoDB::Table", "AWS::DynamoDB::Table"),
        ("AWS::S3::Bucket", "AWS::S3::Bucket"),
    ):
        for logical in template.of_type(kind):
            assert physical[(logical, cfn_kind)] == template.physical(logical)
    for logical in template.of_type("AWS::SQS::Queue"):
        assert physical[(logical, "AWS::SQS::Queue")].endswith("/" + template.physical(logical))
    # every function's log group, as the template's LogGroup resources name them
    groups = {g["logGroupName"] for g in aws.client("logs").describe_log_groups()["logGroups"]}
    functions = template.functions().values()
    assert {f"/aws/lambda/{spec.name}" for spec in functions} <= groups
    # the pollers are the event source mappings: moto's would consume the queues
    assert any(spec.sqs_events for spec in functions)
    assert aws.client("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    assert not [r for r in listed if r["ResourceType"] == "AWS::Lambda::EventSourceMapping"]


def fake_function(tmp_path: Path, name: str) -> FunctionSpec:
    """A function that prints a line and answers with its context's log stream."""
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n"
        "    print('handling', event['n'])\n"
        "    return {'stream': context.log_stream_name, 'group': context.log_group_name}\n"
    )
    return FunctionSpec(name, name, tmp_path, "app.handler", timeout=10, memory=128, environment={})


def events(aws: Aws, group: str) -> dict[str, list[str]]:
    logs = aws.client("logs")
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    got = {s: logs.get_log_events(logGroupName=group, logStreamName=s)["events"] for s in streams}
    return {s: [e["message"] for e in found] for s, found in got.items()}


def test_an_environments_lines_reach_its_log_group_in_one_stream_per_environment(
    aws: Aws, emulator: Emulator, tmp_path: Path
) -> None:
    spec = fake_function(tmp_path, "thera-dev-apollo-pull")  # the pull's name: its group is the template's
    shipper = LogShipper(emulator.local_logs())
    log_file = tmp_path / "logs" / "fn.log"
    env = ExecutionEnvironment(spec, function_environment(spec, aws.endpoint), log_file, shipper)
    try:
        answers = [env.invoke({"n": n}).payload for n in (1, 2)]
    finally:
        env.stop()
    shipper.close()

    got = events(aws, "/aws/lambda/thera-dev-apollo-pull")
    assert list(got) == [answers[0]["stream"]] == [answers[1]["stream"]] and STREAM.match(answers[0]["stream"])
    assert answers[0]["group"] == "/aws/lambda/thera-dev-apollo-pull"
    lines = got[answers[0]["stream"]]
    assert [line.split(" RequestId")[0] for line in lines if "RequestId" in line] == ["START", "END", "REPORT"] * 2
    assert [line for line in lines if line.startswith("handling")] == ["handling 1", "handling 2"]
    assert log_file.read_text().splitlines() == lines  # the file `thera logs` reads holds the same lines


def test_an_invocation_outside_the_stack_ships_its_lines_over_http(aws: Aws, tmp_path: Path) -> None:
    spec = fake_function(tmp_path, "not-in-the-template")  # no LogGroup resource: the group is made, as Lambda does
    first = invoke_once(spec, aws.endpoint, tmp_path / "logs", {"n": 7})
    second = invoke_once(spec, aws.endpoint, tmp_path / "logs", {"n": 8})
    got = events(aws, "/aws/lambda/not-in-the-template")
    assert set(got) == {first.payload["stream"], second.payload["stream"]} and len(got) == 2  # a fresh environment each
    assert "handling 7" in got[first.payload["stream"]] and "handling 8" in got[second.payload["stream"]]


def test_the_translation_is_kept_for_the_next_start(tmp_path: Path) -> None:
    template = ROOT / "template.yaml"
    first = translate(template, tmp_path)
    saved = list(tmp_path.glob("translated-*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text()) == first
    saved[0].write_text(json.dumps({**first, "Description": "read from the cache"}))
    assert translate(template, tmp_path)["Description"] == "read from the cache"
    changed = tmp_path / "template.yaml"
    changed.write_text(template.read_text().replace("Thera: discovers", "Thera, changed: discovers", 1))
    assert translate(changed, tmp_path)["Description"] != "read from the cache"  # another template, translated anew
    assert len(list(tmp_path.glob("translated-*.json"))) == 1


def test_function_logs_survive_a_snapshot_and_restore(aws: Aws, emulator: Emulator, tmp_path: Path) -> None:
    shipper = LogShipper(emulator.local_logs())
    for n in range(3):
        shipper.add("/aws/lambda/thera-dev-firecrawl", "2026/12/05/[$LATEST]" + "a" * 32, f"line {n}")
    shipper.add("/aws/lambda/thera-dev-firecrawl", "2026/12/05/[$LATEST]" + "b" * 32, "other environment")
    shipper.close()
    before = events(aws, "/aws/lambda/thera-dev-firecrawl")
    counts = snapshot(tmp_path / "state", aws.endpoint, emulator.in_process())
    assert counts["log_events"] == 4

    req = urllib.request.Request(aws.endpoint + "/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - loopback emulator
    provision(aws.template, aws.endpoint, {"ApolloApiKeySecret": "k", "FirecrawlApiKeySecret": "k"})
    assert events(aws, "/aws/lambda/thera-dev-firecrawl") == {}  # a new stack starts without them
    restore(tmp_path / "state", aws.endpoint)
    assert events(aws, "/aws/lambda/thera-dev-firecrawl") == before
