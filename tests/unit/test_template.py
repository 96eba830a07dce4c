"""Invariants of template.yaml that every later stage relies on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT
from thera_local.template import Template

TEMPLATE = Template(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.functions()


def props(logical: str) -> dict[str, Any]:
    return dict(TEMPLATE.resources[logical].get("Properties", {}))


@pytest.mark.parametrize("spec", [f for f in FUNCTIONS.values() if f.sqs_events], ids=lambda f: f.logical_id)
def test_every_sqs_consumer_reports_partial_failures_and_its_queue_has_dlq_and_long_enough_visibility(
    spec: Any,
) -> None:
    for event in spec.sqs_events:
        assert event.report_failures, f"{spec.logical_id}.{event.name} lacks ReportBatchItemFailures"
        queue = props(event.queue)
        assert int(queue["VisibilityTimeout"]) >= 6 * spec.timeout
        redrive = queue["RedrivePolicy"]
        assert int(redrive["maxReceiveCount"]) >= 5
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert TEMPLATE.resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_apollo_pull_runs_daily_at_one_in_sao_paulo() -> None:
    (schedule,) = FUNCTIONS["ApolloPullFunction"].schedules
    assert schedule.expression == "cron(0 1 * * ? *)"
    assert schedule.timezone == "America/Sao_Paulo"
    assert props("ApolloPullFunction")["Events"]["DailyPull"]["Type"] == "ScheduleV2"


def test_apollo_key_comes_from_secrets_manager_never_a_literal() -> None:
    env = props("ApolloPullFunction")["Environment"]["Variables"]
    assert env["APOLLO_SECRET_ID"] == {"Ref": "ApolloApiKeySecret"}
    secret = props("ApolloApiKeySecret")
    assert "SecretString" not in secret
    assert not any("api_key" in k.lower() for k in env if k != "APOLLO_SECRET_ID")


def test_buckets_are_encrypted_private_and_tls_only() -> None:
    for logical, res in TEMPLATE.of_type("AWS::S3::Bucket").items():
        p = res["Properties"]
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(p["PublicAccessBlockConfiguration"].values())
        policies = [
            r
            for r in TEMPLATE.of_type("AWS::S3::BucketPolicy").values()
            if r["Properties"]["Bucket"] == {"Ref": logical}
        ]
        statements = [s for pol in policies for s in pol["Properties"]["PolicyDocument"]["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements
        )


def test_tables_have_ttl_and_encryption() -> None:
    for res in TEMPLATE.of_type("AWS::DynamoDB::Table").values():
        p = res["Properties"]
        assert p["TimeToLiveSpecification"]["Enabled"] is True
        assert p["SSESpecification"]["SSEEnabled"] is True


def test_pyarrow_ships_in_its_own_layer_only() -> None:
    core = (ROOT / "layers" / "thera" / "requirements.txt").read_text()
    assert "pyarrow" not in core
    assert "pyarrow" in (ROOT / "layers" / "pyarrow" / "requirements.txt").read_text()


def test_bronze_notifications_feed_the_bronze_queue() -> None:
    (config,) = props("DataLakeBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Queue"] == {"Fn::GetAtt": ["BronzeQueue", "Arn"]}
    rules = {r["Name"]: r["Value"] for r in config["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "bronze/companies/", "suffix": ".parquet"}


def test_every_queue_event_and_schedule_has_a_sample_event() -> None:
    names = {p.name for p in (ROOT / "events").glob("*.json")}
    assert "apollo_pull_schedule.json" in names and "bronze_to_silver_sqs.json" in names
