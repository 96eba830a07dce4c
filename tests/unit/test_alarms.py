"""The alarms template.yaml owes issue 20: one per function, table and schedule, on metrics the code emits,
each to the alarm topic and on the dashboard; and the bucket's lifecycle per prefix."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from thera.kernel import keys
from thera_local import alarms_template
from thera_local.template import load_yaml, parse_yaml

TEXT = (ROOT / "template.yaml").read_text()
DOC = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = DOC["Resources"]
STAGES = ROOT / "layers" / "thera" / "thera" / "stages"
FUNCTIONS = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function" and "Condition" not in v]
TABLES = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::DynamoDB::Table"]
SCHEDULES = [
    (logical, name, event["Properties"])
    for logical, res in RESOURCES.items()
    for name, event in (res.get("Properties", {}).get("Events") or {}).items()
    if event["Type"] == "ScheduleV2"
]
ALARMS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
BUCKET = RESOURCES["DataLakeBucket"]["Properties"]


def watching(**match: Any) -> list[dict[str, Any]]:
    """The alarms with a metric (plain or in a metric-math query) whose fields include ``match``."""
    found = []
    for props in ALARMS.values():
        metrics = [props] + [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        if any(all(m.get(k) == v for k, v in match.items()) for m in metrics):
            found.append(props)
    return found


def emitted_by(stage: str) -> set[str]:
    """The metric names a stage module passes to ``metrics.add_metric`` as string literals."""
    tree = ast.parse((STAGES / f"{stage}.py").read_text())
    return {
        str(node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_metric"
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_the_template_holds_the_generators_current_block() -> None:
    assert alarms_template.current_block(TEXT) == alarms_template.render(DOC), "run make alarms"
    assert alarms_template.rewritten(TEXT) == TEXT
    for logical, resource in alarms_template.resources(DOC).items():
        assert RESOURCES[logical] == resource, logical


def test_a_new_function_table_or_schedule_makes_the_block_stale(tmp_path: Path) -> None:
    text = TEXT.replace(
        "\n  QuotaTable:\n",
        "\n  SpareTable:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n"
        "\n  QuotaTable:\n",
        1,
    )
    stale = tmp_path / "template.yaml"
    stale.write_text(text)
    assert alarms_template.main(["--check", "--template", str(stale)]) == 1
    assert alarms_template.main(["--write", "--template", str(stale)]) == 0
    assert "SpareTableThrottleAlarm" in parse_yaml(stale.read_text())["Resources"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_alarms_when_its_p95_duration_passes_80_percent_of_its_timeout(function: str) -> None:
    timeout = RESOURCES[function]["Properties"].get("Timeout", DOC["Globals"]["Function"]["Timeout"])
    (alarm,) = watching(Namespace="AWS/Lambda", MetricName="Duration", Dimensions=[dim("FunctionName", function)])
    assert alarm["ExtendedStatistic"] == "p95"
    assert alarm["Threshold"] == pytest.approx(0.8 * timeout * 1000)  # Duration is in milliseconds
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_keeps_its_error_rate_alarm(function: str) -> None:
    assert len(watching(Namespace="AWS/Lambda", MetricName="Errors", Dimensions=[dim("FunctionName", function)])) == 1


@pytest.mark.parametrize("table", TABLES)
def test_every_table_alarms_on_throttled_reads_and_writes(table: str) -> None:
    reads = watching(Namespace="AWS/DynamoDB", MetricName="ReadThrottleEvents", Dimensions=[dim("TableName", table)])
    writes = watching(Namespace="AWS/DynamoDB", MetricName="WriteThrottleEvents", Dimensions=[dim("TableName", table)])
    assert len(reads) == 1 and reads == writes
    (answer,) = [q for q in reads[0]["Metrics"] if q.get("ReturnData")]
    assert answer["Expression"] == "FILL(reads, 0) + FILL(writes, 0)"
    assert reads[0]["Threshold"] == 0 and reads[0]["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(("target", "event", "props"), SCHEDULES, ids=[s[1] for s in SCHEDULES])
def test_every_schedule_dead_letters_to_an_encrypted_queue_with_an_alarm(
    target: str, event: str, props: dict[str, Any]
) -> None:
    dlq = props["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    queue = RESOURCES[dlq]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    depth = {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    (alarm,) = watching(Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible", Dimensions=[depth])
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    # the role Scheduler runs as may start the target and write the DLQ, through the key it is encrypted with
    role = RESOURCES[props["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    allowed = {
        (a, json.dumps(s["Resource"]))
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    start = (
        ("states:StartExecution", json.dumps({"Ref": target}))
        if RESOURCES[target]["Type"] == "AWS::Serverless::StateMachine"
        else ("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": [target, "Arn"]}))
    )
    assert allowed == {
        start,
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": [dlq, "Arn"]})),
        ("kms:GenerateDataKey", json.dumps({"Fn::GetAtt": ["DataKey", "Arn"]})),
        ("kms:Decrypt", json.dumps({"Fn::GetAtt": ["DataKey", "Arn"]})),
    }


def dim(name: str, logical: str) -> dict[str, Any]:
    return {"Name": name, "Value": {"Ref": logical}}


def test_the_custom_alarms_watch_metrics_their_stages_emit() -> None:
    custom = [a for a in ALARMS.values() if a.get("Namespace") == alarms_template.NAMESPACE]
    for name, stage in (alarms_template.COMPANIES_PULLED, alarms_template.QUARANTINED_SHARE):
        assert name in emitted_by(stage), (name, stage)
        assert [a["MetricName"] for a in custom].count(name) == 1
    every_stage = set().union(*(emitted_by(p.stem) for p in STAGES.glob("*.py")))
    assert {a["MetricName"] for a in custom} <= every_stage
    assert all(
        a["Dimensions"]
        == [
            {
                "Name": "service",
                "Value": DOC["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"],
            }
        ]
        for a in custom
    )
    assert (
        DOC["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        == alarms_template.NAMESPACE
    )


def test_no_companies_counts_a_silent_day_as_a_miss_over_the_parameters_hours() -> None:
    (alarm,) = watching(MetricName=alarms_template.COMPANIES_PULLED[0])
    hours = {"Ref": "NoCompaniesPulledAlarmHours"}
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3600, hours, hours)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert alarm["TreatMissingData"] == "breaching"  # a pull that never ran emits nothing
    assert DOC["Parameters"]["NoCompaniesPulledAlarmHours"]["Default"] > 24  # a daily pull fits in the window
    assert "weekends" in alarm["AlarmDescription"]


def test_the_quarantined_share_alarm_reads_its_threshold_from_a_parameter() -> None:
    (alarm,) = watching(MetricName=alarms_template.QUARANTINED_SHARE[0])
    assert alarm["Threshold"] == {"Ref": "QuarantinedShareAlarmPercent"}
    assert alarm["Statistic"] == "Average" and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert 0 < DOC["Parameters"]["QuarantinedShareAlarmPercent"]["Default"] <= 100


def test_the_bucket_has_request_metrics_for_the_5xx_alarm() -> None:
    (config,) = BUCKET["MetricsConfigurations"]
    assert set(config) == {"Id"}  # no filter: the whole bucket
    dims = [{"Name": "BucketName", "Value": {"Ref": "DataLakeBucket"}}, {"Name": "FilterId", "Value": config["Id"]}]
    (alarm,) = watching(Namespace="AWS/S3", MetricName="5xxErrors", Dimensions=dims)
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 0


def test_every_alarm_notifies_the_topic_and_every_generated_one_is_on_the_dashboard() -> None:
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in ALARMS.values())
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = set(re.findall(r":alarm:(thera-\$\{Stage\}-[\w.-]+)\"", body))
    generated = [
        r["Properties"] for r in alarms_template.resources(DOC).values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert {
        a["AlarmName"]["Fn::Sub"] for a in generated if not a["AlarmName"]["Fn::Sub"].endswith("-error-rate")
    } <= shown
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))  # still a dashboard body


# ---------------------------------------------------------------- lifecycle
RULES = BUCKET["LifecycleConfiguration"]["Rules"]
CURRENT_ACTIONS = ("ExpirationInDays", "ExpirationDate", "Transitions", "Transition")


def test_raw_moves_to_glacier_instant_retrieval_after_the_parameters_days() -> None:
    (rule,) = [r for r in RULES if r.get("Prefix") == "raw/"]
    assert keys.RAW_APOLLO.startswith("raw/") and keys.RAW_FIRECRAWL.startswith("raw/")
    assert rule["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": {"Ref": "RawToGlacierIrDays"}}]
    assert "ExpirationInDays" not in rule  # raw pages are kept to replay: moved, never deleted


def test_query_results_expire() -> None:
    (rule,) = [r for r in RULES if r.get("Prefix") == "athena-results/"]
    assert rule["ExpirationInDays"] == {"Ref": "AthenaResultsRetentionDays"}


@pytest.mark.parametrize("prefix", [keys.SHORTLISTS, keys.FEEDBACK])
def test_no_rule_expires_or_moves_shortlists_or_feedback(prefix: str) -> None:
    covering = [r for r in RULES if prefix.startswith(r.get("Prefix", "")) and any(a in r for a in CURRENT_ACTIONS)]
    assert covering == []


def test_a_versioned_bucket_expires_its_noncurrent_versions() -> None:
    assert BUCKET["VersioningConfiguration"]["Status"] == "Enabled"
    rules = [r for r in RULES if "Prefix" not in r and "NoncurrentVersionExpiration" in r]
    assert len(rules) == 1 and rules[0]["ExpiredObjectDeleteMarker"] is True


def test_the_index_builder_may_tag_index_objects() -> None:
    statements = [
        s for p in RESOURCES["IndexBuilderFunction"]["Properties"]["Policies"] for s in p.get("Statement", [])
    ]
    assert any(
        "s3:PutObjectTagging" in s["Action"] and s["Resource"] == {"Fn::Sub": "${DataLakeBucket.Arn}/index/*"}
        for s in statements
    )
