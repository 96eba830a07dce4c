"""Does each physical resource answer its own service's describe call?"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Probe = Callable[[Callable[[str], Any], str], object]

PROBES: dict[str, Probe] = {
    "AWS::S3::Bucket": lambda c, pid: c("s3").head_bucket(Bucket=pid),
    "AWS::SQS::Queue": lambda c, pid: c("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"]),
    "AWS::DynamoDB::Table": lambda c, pid: c("dynamodb").describe_table(TableName=pid),
    "AWS::Lambda::Function": lambda c, pid: c("lambda").get_function(FunctionName=pid),
    "AWS::Lambda::LayerVersion": lambda c, pid: c("lambda").get_layer_version_by_arn(Arn=pid),
    "AWS::Lambda::EventSourceMapping": lambda c, pid: c("lambda").get_event_source_mapping(UUID=pid),
    "AWS::IAM::Role": lambda c, pid: c("iam").get_role(RoleName=pid),
    "AWS::KMS::Key": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::KMS::Alias": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::SNS::Topic": lambda c, pid: c("sns").get_topic_attributes(TopicArn=pid),
    "AWS::SecretsManager::Secret": lambda c, pid: c("secretsmanager").describe_secret(SecretId=pid),
    "AWS::StepFunctions::StateMachine": lambda c, pid: c("stepfunctions").describe_state_machine(stateMachineArn=pid),
    "AWS::Scheduler::Schedule": lambda c, pid: c("scheduler").get_schedule(Name=pid),
    "AWS::Logs::LogGroup": lambda c, pid: _one(
        g for g in c("logs").describe_log_groups(logGroupNamePrefix=pid)["logGroups"] if g["logGroupName"] == pid
    ),
    "AWS::CloudWatch::Alarm": lambda c, pid: _one(c("cloudwatch").describe_alarms(AlarmNames=[pid])["MetricAlarms"]),
}


def _one(items: Iterable[Any]) -> Any:
    found = list(items)
    if not found:
        raise LookupError("not found")
    return found[0]


def probe_resources(
    client: Callable[[str], Any], resources: Iterable[Mapping[str, Any]], faked: set[str]
) -> tuple[int, list[str]]:
    """Describes every resource of a probed type; returns how many answered and the ones that did not."""
    answered, absent = 0, []
    for r in resources:
        probe = PROBES.get(r["ResourceType"])
        if probe is None or r["LogicalResourceId"] in faked:
            continue
        try:
            probe(client, r["PhysicalResourceId"])
            answered += 1
        except Exception as e:  # any client error means the service does not know the resource
            absent.append(f"{r['LogicalResourceId']} ({type(e).__name__})")
    return answered, absent
