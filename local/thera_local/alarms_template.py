"""template.yaml's repeated alarms, generated from the resources they watch.

Every function gets an error-rate alarm and a duration alarm (p95 above 80 % of its own timeout), every
DynamoDB table a throttling alarm, every ScheduleV2 a dead-letter queue, the role that may deliver to it, and
an alarm on its depth. The pipeline alarms on custom metrics (no companies pulled, quarantined share) and on
the bucket's 5xx errors sit here too, so that one test reads them against the code that emits the metrics.
The resources watched are read from the hand-written part of template.yaml: a new function, table or
schedule is covered after ``make alarms``, and tests/unit/test_alarms.py fails until it is.

A function with a Condition (the explorer's custom resource) runs only while CloudFormation deploys, and
CloudFormation reports its failure: it gets no alarm.

    python -m thera_local.alarms_template --write   # rewrite the block (make alarms)
    python -m thera_local.alarms_template --check   # exit 1 if template.yaml differs
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thera_local import template_block
from thera_local.template import load_yaml, parse_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BEGIN = "  # BEGIN generated alarms: python -m thera_local.alarms_template --write"
END = "  # END generated alarms"
TOPIC = "AlarmTopic"
KEY = "DataKey"
BUCKET = "DataLakeBucket"
NAMESPACE = "Thera"  # Globals' POWERTOOLS_METRICS_NAMESPACE; Powertools adds the service dimension
SERVICE = "thera"
DURATION_SHARE = 0.8  # of the timeout: a p95 above it leaves little room before invocations time out
BUCKET_METRICS_FILTER = "EntireBucket"  # the DataLakeBucket's MetricsConfigurations Id
# custom metrics and the stage module that emits each (tests/unit/test_alarms.py reads the module)
COMPANIES_PULLED = ("CompaniesPulled", "apollo_pull")
QUARANTINED_SHARE = ("QuarantinedShare", "bronze_to_silver")
# the template parameters these alarms read
QUARANTINED_SHARE_PARAMETER = "QuarantinedShareAlarmPercent"
NO_COMPANIES_HOURS_PARAMETER = "NoCompaniesPulledAlarmHours"


@dataclass(frozen=True)
class Function:
    logical_id: str
    timeout: int  # seconds


@dataclass(frozen=True)
class Schedule:
    event: str  # the ScheduleV2 event's name, unique in the template
    target: str  # the function's or state machine's logical ID
    target_type: str
    name: str  # the schedule's Name, a Fn::Sub text


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def functions(template: dict[str, Any]) -> list[Function]:
    default = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    return [
        Function(logical, int(res["Properties"].get("Timeout", default)))
        for logical, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function" and "Condition" not in res
    ]


def tables(template: dict[str, Any]) -> list[str]:
    return [logical for logical, res in template["Resources"].items() if res["Type"] == "AWS::DynamoDB::Table"]


def schedules(template: dict[str, Any]) -> list[Schedule]:
    out = []
    for logical, res in template["Resources"].items():
        for event, spec in (res.get("Properties", {}).get("Events") or {}).items():
            if spec["Type"] == "ScheduleV2":
                out.append(Schedule(event, logical, res["Type"], spec["Properties"]["Name"]["Fn::Sub"]))
    events = [s.event for s in out]
    if len(events) != len(set(events)):
        raise SystemExit(f"two ScheduleV2 events share a name: {sorted(events)}")
    return out


def _alarm(name: str, description: str, body: dict[str, Any], missing: str = "notBreaching") -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": _sub(f"thera-${{Stage}}-{name}"),
            "AlarmDescription": description,
            **body,
            "TreatMissingData": missing,
            "AlarmActions": [_ref(TOPIC)],
        },
    }


def _sum_of(metric_id: str, namespace: str, name: str, dimension: str, resource: str) -> dict[str, Any]:
    """A 5-minute Sum of one AWS metric of one resource (its ``Ref``), as a metric-math input."""
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": dimension, "Value": _ref(resource)}],
            },
            "Period": 300,
            "Stat": "Sum",
        },
    }


def _lambda_metric(metric_id: str, name: str, function: str) -> dict[str, Any]:
    return _sum_of(metric_id, "AWS/Lambda", name, "FunctionName", function)


def error_rate_alarm(fn: Function) -> dict[str, Any]:
    f = fn.logical_id
    return _alarm(
        f"{f}-error-rate",
        f"More than 5 % of {f}'s invocations failed in two 5-minute periods in a row.",
        {
            "Metrics": [
                _lambda_metric("errors", "Errors", f),
                _lambda_metric("invocations", "Invocations", f),
                {
                    "Id": "rate",
                    "Expression": "100 * errors / MAX([errors, invocations])",
                    "Label": "error rate (%)",
                    "ReturnData": True,
                },
            ],
            "EvaluationPeriods": 2,
            "Threshold": 5,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def duration_threshold_ms(fn: Function) -> int:
    return round(fn.timeout * 1000 * DURATION_SHARE)


def duration_alarm(fn: Function) -> dict[str, Any]:
    f = fn.logical_id
    return _alarm(
        f"{f}-duration-near-timeout",
        f"{f}'s p95 duration over 5 minutes passed {round(DURATION_SHARE * 100)} % of its {fn.timeout} s timeout: "
        "its invocations are about to time out (a bigger batch, a slower dependency, a grown input).",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "Dimensions": [{"Name": "FunctionName", "Value": _ref(f)}],
            "ExtendedStatistic": "p95",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": duration_threshold_ms(fn),
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def _table_metric(metric_id: str, name: str, table: str) -> dict[str, Any]:
    return _sum_of(metric_id, "AWS/DynamoDB", name, "TableName", table)


def throttle_alarm(table: str) -> dict[str, Any]:
    return _alarm(
        f"{table}-throttled",
        f"{table} throttled reads or writes in two 5-minute periods in a row (on demand: a hot key, or a burst "
        "past twice the previous peak).",
        {
            "Metrics": [
                _table_metric("reads", "ReadThrottleEvents", table),
                _table_metric("writes", "WriteThrottleEvents", table),
                {
                    "Id": "throttled",
                    "Expression": "FILL(reads, 0) + FILL(writes, 0)",
                    "Label": "throttled requests",
                    "ReturnData": True,
                },
            ],
            "EvaluationPeriods": 2,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def schedule_dlq_id(s: Schedule) -> str:
    return f"{s.event}ScheduleDLQ"


def schedule_role_id(s: Schedule) -> str:
    return f"{s.event}ScheduleRole"


def schedule_dlq(s: Schedule) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": _sub(f"{s.name}-schedule-dlq"),
            "MessageRetentionPeriod": 1209600,
            "KmsMasterKeyId": _ref(KEY),
            "KmsDataKeyReusePeriodSeconds": 900,
        },
    }


def schedule_role(s: Schedule) -> dict[str, Any]:
    """What SAM would generate, plus the data key: Scheduler writes to the encrypted DLQ as this role."""
    if s.target_type == "AWS::Serverless::StateMachine":
        start = {
            "Sid": "StartTheTarget",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": _ref(s.target),
        }
    else:
        start = {
            "Sid": "InvokeTheTarget",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": _arn(s.target),
        }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": _sub(
                f"Thera ${{Stage}}: the {s.event} schedule starts {s.target} or dead-letters the event"
            ),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "scheduler.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "start-the-target",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            start,
                            {
                                "Sid": "DeadLetter",
                                "Effect": "Allow",
                                "Action": "sqs:SendMessage",
                                "Resource": _arn(schedule_dlq_id(s)),
                            },
                            {
                                "Sid": "EncryptTheDeadLetter",
                                "Effect": "Allow",
                                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                                "Resource": _arn(KEY),
                                "Condition": {
                                    "StringEquals": {"kms:ViaService": _sub("sqs.${AWS::Region}.amazonaws.com")}
                                },
                            },
                        ],
                    },
                }
            ],
        },
    }


def _depth_alarm(name: str, description: str, queue: str) -> dict[str, Any]:
    return _alarm(
        name,
        description,
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "Statistic": "Maximum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def schedule_dlq_alarm(s: Schedule) -> dict[str, Any]:
    return _depth_alarm(
        f"{s.event}-schedule-dlq-not-empty",
        f"The {s.event} schedule could not start {s.target} after its retries (target missing, role refused, "
        "throttled): the event waits in its DLQ. A run that started and failed goes to AsyncFailuresDLQ instead.",
        schedule_dlq_id(s),
    )


def _custom_metric(name: str) -> dict[str, Any]:
    return {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": "service", "Value": SERVICE}]}


def no_companies_alarm() -> dict[str, Any]:
    return _alarm(
        "no-companies-pulled",
        "No company was pulled from Apollo for NoCompaniesPulledAlarmHours hours (26 by default). The pull runs "
        "on every day of ApolloPullSchedule, weekends and holidays included (Apollo's search does not rest), so "
        "a calendar of business days would only hide a missed day; the hours are a day plus the pull's "
        "15-minute run and slack for its start. A schedule on weekdays only wants 74 (Friday to Monday plus 2). "
        "Missing data counts as a miss: a pull that failed or never ran emits nothing. Zero companies from a run "
        "that ran means an exhausted search or a refused key.",
        {
            **_custom_metric(COMPANIES_PULLED[0]),
            "Statistic": "Sum",
            "Period": 3600,
            "EvaluationPeriods": _ref(NO_COMPANIES_HOURS_PARAMETER),
            "DatapointsToAlarm": _ref(NO_COMPANIES_HOURS_PARAMETER),
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
        },
        missing="breaching",
    )


def quarantined_share_alarm() -> dict[str, Any]:
    return _alarm(
        "quarantined-share",
        "Bronze objects refined in the last hour quarantined on average more than QuarantinedShareAlarmPercent "
        "% of their rows (each object is one Apollo page, so the average weighs pages alike): Apollo's data or "
        "the quality rules changed.",
        {
            **_custom_metric(QUARANTINED_SHARE[0]),
            "Statistic": "Average",
            "Period": 3600,
            "EvaluationPeriods": 1,
            "Threshold": _ref(QUARANTINED_SHARE_PARAMETER),
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def s3_errors_alarm() -> dict[str, Any]:
    return _alarm(
        "lake-5xx-errors",
        "The lake bucket answered 5xx errors in 2 of the last 3 5-minute periods (the SDKs retry a lone 503 "
        "SlowDown; a run of them means S3 is degraded or a prefix is over its request rate).",
        {
            "Namespace": "AWS/S3",
            "MetricName": "5xxErrors",
            "Dimensions": [
                {"Name": "BucketName", "Value": _ref(BUCKET)},
                {"Name": "FilterId", "Value": BUCKET_METRICS_FILTER},
            ],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def resources(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The generated resources by logical ID, as template.yaml parses (short tags as Fn:: mappings)."""
    template = template if template is not None else load_yaml(TEMPLATE)
    fns = functions(template)
    out = {f"{fn.logical_id}ErrorRateAlarm": error_rate_alarm(fn) for fn in fns}
    out.update({f"{fn.logical_id}DurationAlarm": duration_alarm(fn) for fn in fns})
    out.update({f"{table}ThrottleAlarm": throttle_alarm(table) for table in tables(template)})
    for s in schedules(template):
        out[schedule_dlq_id(s)] = schedule_dlq(s)
        out[schedule_role_id(s)] = schedule_role(s)
        out[f"{s.event}ScheduleDLQDepthAlarm"] = schedule_dlq_alarm(s)
    out["LakeServerErrorsAlarm"] = s3_errors_alarm()
    out["NoCompaniesPulledAlarm"] = no_companies_alarm()
    out["QuarantinedShareAlarm"] = quarantined_share_alarm()
    return out


def render(template: dict[str, Any] | None = None) -> str:
    note = "From the functions, tables and schedules above and below; run make alarms, do not edit these lines."
    return template_block.render_block(BEGIN, note, END, resources(template))


def current_block(text: str) -> str:
    return template_block.current_block(text, BEGIN, END)


def rewritten(text: str) -> str:
    return text.replace(current_block(text), render(parse_yaml(text)), 1)


def main(argv: list[str] | None = None) -> int:
    return template_block.main(argv, __doc__.splitlines()[0], TEMPLATE, rewritten, "alarms", "make alarms")


if __name__ == "__main__":
    sys.exit(main())
