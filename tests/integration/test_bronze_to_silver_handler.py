"""BronzeToSilverFunction on the emulator: real S3 notifications in, silver and quarantine out."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import FakeContext, emitted_metrics, load_event, load_handler_module
from tests.integration.conftest import Aws
from tests.unit.test_silver import row, table
from thera.kernel import keys
from thera.kernel.tables import from_parquet, to_parquet
from thera_local.pollers import lambda_sqs_event

KEY = "bronze/companies/date=2026-11-22/sweep=2026-11-22/page=00001.parquet"


def notifications(aws: Aws) -> list[dict[str, Any]]:
    """Messages S3 put on BronzeQueue (the s3:TestEvent included), as the poller receives them."""
    sqs, got = aws.client("sqs"), []
    for _ in range(5):
        got += sqs.receive_message(
            QueueUrl=aws.queue_url("BronzeQueue"), MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
    return got


def run(handler_env: Any, event: dict[str, Any]) -> dict[str, Any]:
    handler_env("BronzeToSilverFunction")
    module = load_handler_module("bronze_to_silver")
    result: dict[str, Any] = module.handler(event, FakeContext("bronze-to-silver"))
    return result


def put_bronze(aws: Aws, key: str = KEY, *rows: dict[str, Any]) -> None:
    bronze = table(*(rows or (row(0), row(1, primary_domain="WWW.Company0.com/about"), row(2, name=""))))
    aws.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=to_parquet(bronze))


def read(aws: Aws, key: str) -> Any:
    return from_parquet(aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read())


def test_a_bronze_page_becomes_silver_and_quarantine(aws: Aws, handler_env: Any) -> None:
    put_bronze(aws)
    event = lambda_sqs_event(notifications(aws), aws.template.arn("BronzeQueue"))
    assert run(handler_env, event) == {"batchItemFailures": []}
    silver = read(aws, keys.silver_for_bronze(KEY))
    assert silver["domain"].to_pylist() == ["company0.com"]  # row 1 is a newer duplicate of row 0
    assert silver["source_position"].to_pylist() == [1]
    quarantine = read(aws, keys.quarantine_for_bronze(KEY))
    assert quarantine["reason"].to_pylist() == ["missing_name"]


def test_each_refined_object_reports_its_quarantined_share_and_a_replay_none(
    aws: Aws, handler_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_bronze(aws)  # three rows: one silver, one duplicate, one quarantined
    event = lambda_sqs_event(notifications(aws), aws.template.arn("BronzeQueue"))
    run(handler_env, event)
    assert emitted_metrics(capsys.readouterr().out)["QuarantinedShare"] == [33.33]
    run(handler_env, copy.deepcopy(event))
    assert "QuarantinedShare" not in emitted_metrics(capsys.readouterr().out)


def test_the_sample_event_file_drives_the_handler(aws: Aws, handler_env: Any) -> None:
    put_bronze(aws)
    assert run(handler_env, load_event("bronze_to_silver_sqs.json")) == {"batchItemFailures": []}
    assert read(aws, keys.silver_for_bronze(KEY)).num_rows == 1


def test_a_replayed_message_writes_nothing_twice(aws: Aws, handler_env: Any) -> None:
    put_bronze(aws)
    event = lambda_sqs_event(notifications(aws), aws.template.arn("BronzeQueue"))
    run(handler_env, event)
    s3 = aws.client("s3")
    before = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=aws.bucket)["Versions"]}
    assert run(handler_env, copy.deepcopy(event)) == {"batchItemFailures": []}
    after = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=aws.bucket)["Versions"]}
    assert after == before  # the bucket is versioned: no key got a second version


def test_poison_messages_fail_alone_and_good_records_in_the_batch_succeed(aws: Aws, handler_env: Any) -> None:
    put_bronze(aws)
    good = load_event("bronze_to_silver_sqs.json")["Records"][0]
    not_json = {**copy.deepcopy(good), "messageId": "not-json", "body": "{oops"}
    wrong_key_body = json.loads(good["body"])
    wrong_key_body["Records"][0]["s3"]["object"]["key"] = "bronze/unknown/thing.parquet"
    unknown_key = {**copy.deepcopy(good), "messageId": "unknown-key", "body": json.dumps(wrong_key_body)}
    result = run(handler_env, {"Records": [not_json, good, unknown_key]})
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["not-json", "unknown-key"]
    assert read(aws, keys.silver_for_bronze(KEY)).num_rows == 1


def test_a_bronze_file_with_the_wrong_schema_is_quarantined_whole(
    aws: Aws, handler_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = table(row(0)).drop_columns(["name"])
    aws.client("s3").put_object(Bucket=aws.bucket, Key=KEY, Body=to_parquet(broken))
    assert run(handler_env, load_event("bronze_to_silver_sqs.json")) == {"batchItemFailures": []}
    rejected_key = keys.rejected_bronze(KEY)
    assert rejected_key.startswith("quarantine/bronze/date=") and rejected_key.endswith(".json")
    rejected = json.loads(aws.client("s3").get_object(Bucket=aws.bucket, Key=rejected_key)["Body"].read())
    assert rejected["reason"] == "schema_mismatch" and "name" in rejected["detail"]
    assert emitted_metrics(capsys.readouterr().out)["QuarantinedShare"] == [100.0]  # the whole object


def test_a_missing_bronze_object_fails_its_record_so_it_is_retried(aws: Aws, handler_env: Any) -> None:
    event = load_event("bronze_to_silver_sqs.json")
    with pytest.raises(Exception, match="All records failed"):
        run(handler_env, event)
