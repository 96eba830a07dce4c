"""The cost model on a hand-computed example, and the measurements it is fed from log lines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from thera_local.cost import (
    GB,
    IDLE_RECEIVES_PER_MAPPING_MONTH,
    Fixed,
    Measured,
    Plan,
    Price,
    PriceTable,
    estimate,
    firecrawl_plan,
    monthly,
)
from thera_local.emulator.counting import TOOL_APP_ID, RequestCounts, request_name
from thera_local.template import FunctionSpec
from thera_local.usage import custom_metrics, function_usage

# Round prices, so every line below can be worked out by hand.
TABLE = PriceTable(
    date="2000-01-01",
    region="test-region-1",
    prices={
        "lambda_gb_s_x86_64": Price(0.001, 1, "GB-s", "test", free=1_000),
        "lambda_gb_s_arm64": Price(0.0005, 1, "GB-s", "test"),
        "lambda_requests": Price(1.0, 1_000, "requests", "test"),
        "sqs_requests": Price(1.0, 1_000_000, "requests", "test"),
        "dynamodb_write_units": Price(1.0, 1_000, "WRU", "test"),
        "dynamodb_read_units": Price(1.0, 10_000, "RRU", "test"),
        "s3_tier1_requests": Price(1.0, 1_000, "tier 1", "test"),
        "s3_tier2_requests": Price(1.0, 10_000, "tier 2", "test"),
        "s3_storage": Price(1.0, 1, "GB-month", "test"),
        "logs_ingestion": Price(0.5, 1, "GB", "test", free=5),
        "logs_storage": Price(0.1, 1, "GB-month", "test"),
        "custom_metrics": Price(1.0, 1, "metric", "test", free=10),
        "alarms": Price(0.1, 1, "alarm", "test"),
        "dashboards": Price(3.0, 1, "dashboard", "test"),
        "state_transitions": Price(1.0, 1_000, "transitions", "test"),
        "http_api_requests": Price(1.0, 100, "requests", "test"),
        "scheduler_invocations": Price(1.0, 1_000, "invocations", "test"),
        "secrets": Price(0.4, 1, "secret", "test"),
        "secrets_api": Price(1.0, 100, "calls", "test"),
        "kms_keys": Price(1.0, 1, "key", "test"),
        "kms_requests": Price(1.0, 10_000, "requests", "test"),
        "bedrock_titan_v2_tokens": Price(1.0, 1_000, "tokens", "test"),
    },
    firecrawl_plans=(Plan("Small", 10.0, 2_000), Plan("Big", 50.0, 10_000)),
    firecrawl_source="test",
    apollo_seat_month=100.0,
    apollo_seats=2,
    apollo_source="test",
)

# A daily run of 100 companies.
RUN = Measured(
    units=100,
    gb_seconds=50,
    invocations=200,
    requests={
        "sqs": {"SendMessageBatch": 20, "ReceiveMessage": 30, "DeleteMessageBatch": 30},
        "dynamodb": {"PutItem": 100, "GetItem": 40, "BatchWriteItem": 5, "BatchWriteItem:items": 50, "Query": 10},
        "s3": {"PUT": 120, "GET": 60, "LIST": 10, "DELETE": 5, "HEAD": 20},
        "secretsmanager": {"GetSecretValue": 1},
    },
    log_bytes=0.1 * GB,
    s3_added_bytes=0.05 * GB,
    bedrock_tokens=1_000,
    firecrawl_credits=50,
    apollo_calls=1,
)
# Four matches.
MATCHES = Measured(
    units=4, gb_seconds=2, invocations=4, requests={"dynamodb": {"GetItem": 8}, "s3": {"GET": 4}},
    bedrock_tokens=40, api_requests=4,
)  # fmt: skip
FIXED = Fixed(alarms=30, dashboards=1, secrets=2, kms_keys=1, sqs_mappings=2, custom_metrics=12,
              schedule_invocations=9_000)  # fmt: skip


def test_a_month_worked_out_by_hand() -> None:
    # 200 companies a day for 30 days is 60 runs of 100; 10 challenges a day is 300 matches, 75 x the four.
    month = monthly(RUN, 200, MATCHES, 10)
    result = estimate(month, FIXED, TABLE)
    lines = {line.service: round(line.usd, 4) for line in result.lines}
    assert lines == {
        # 50 x 60 + 2 x 75 = 3,150 GB-s, 1,000 free: 2,150 x $0.001
        "Lambda compute": 2.15,
        # 200 x 60 + 4 x 75 = 12,300 invocations at $1 per 1,000
        "Lambda requests": 12.30,
        # 80 x 60 = 4,800 + 2 mappings x 648,000 idle polls = 1,300,800 at $1 per million
        "SQS": 1.3008,
        # writes (100 puts + 50 batch items) x 60 = 9,000 at $1/1,000 = $9; reads (40 + 10) x 60 + 8 x 75 = 3,600
        # at $1/10,000 = $0.36
        "DynamoDB": 9.36,
        # PUT+LIST 130 x 60 = 7,800 at $1/1,000 = $7.80; GET+HEAD 80 x 60 + 4 x 75 = 5,100 at $1/10,000 = $0.51;
        # DELETE free
        "S3 requests": 8.31,
        # 0.05 GB x 60 = 3 GB at the month's end, $1 a GB
        "S3 storage": 3.00,
        # 0.1 GB x 60 = 6 GB: ingestion (6 - 5 free) x $0.5 = $0.50, storage 6 x $0.1 = $0.60
        "CloudWatch Logs": 1.10,
        # 12 metrics, 10 free, $1 each
        "CloudWatch metrics": 2.00,
        # 30 alarms x $0.1 + 1 dashboard x $3
        "CloudWatch alarms, dashboard": 6.00,
        "Step Functions": 0.0,
        # 4 x 75 = 300 requests at $1 per 100
        "API Gateway (HTTP API)": 3.00,
        # 9,000 at $1 per 1,000
        "EventBridge Scheduler": 9.00,
        # 2 x $0.4 + 60 calls at $1 per 100
        "Secrets Manager": 1.40,
        "KMS": 1.00,
        # 1,000 x 60 + 40 x 75 = 63,000 tokens at $1 per 1,000
        "Bedrock (Titan V2)": 63.00,
        # 50 x 60 = 3,000 credits: more than Small's 2,000, so Big
        "Firecrawl": 50.00,
        # 2 seats x $100
        "Apollo plan": 200.00,
    }
    assert round(result.aws_usd, 4) == 122.9208
    assert round(result.total_usd, 4) == 372.9208
    assert month.apollo_calls == 60


def test_without_the_free_tiers_the_free_units_are_charged() -> None:
    result = estimate(monthly(RUN, 200, MATCHES, 10), FIXED, TABLE, free_tier=False)
    lines = {line.service: round(line.usd, 4) for line in result.lines}
    assert lines["Lambda compute"] == 3.15  # 3,150 GB-s x $0.001
    assert lines["CloudWatch metrics"] == 12.0
    assert lines["CloudWatch Logs"] == 3.60  # 6 x 0.5 + 6 x 0.1


def test_arm64_prices_the_same_seconds_at_its_own_rate() -> None:
    result = estimate(monthly(RUN, 100, None, 0), FIXED, TABLE, architecture="arm64")
    assert result.lines[0].usd == pytest.approx(50 * 30 * 0.0005)


def test_no_challenges_and_no_companies_leave_only_the_fixed_costs() -> None:
    result = estimate(monthly(RUN, 0, MATCHES, 0), FIXED, TABLE)
    lines = {line.service: round(line.usd, 4) for line in result.lines}
    assert lines["Lambda compute"] == 0 and lines["Bedrock (Titan V2)"] == 0 and lines["Firecrawl"] == 0
    assert lines["SQS"] == round(2 * IDLE_RECEIVES_PER_MAPPING_MONTH / 1e6, 4)
    assert lines["Apollo plan"] == 200.0


def test_firecrawl_past_the_largest_plan_pays_its_price_per_credit() -> None:
    assert firecrawl_plan(25_000, TABLE.firecrawl_plans) == ("Big x2.50", 125.0)
    assert firecrawl_plan(2_000, TABLE.firecrawl_plans) == ("Small", 10.0)
    assert firecrawl_plan(0, TABLE.firecrawl_plans) == ("none", 0.0)


def test_a_measured_record_round_trips() -> None:
    doc = dataclasses.asdict(RUN)
    assert Measured.from_doc({**doc, "unknown": 1}) == RUN
    assert Fixed.from_doc({**dataclasses.asdict(FIXED), "later_field": 3}) == FIXED


SPEC = FunctionSpec("F", "f", Path("."), "app.handler", timeout=60, memory=512, environment={})


def test_report_lines_give_billed_gb_seconds() -> None:
    text = "\n".join(
        [
            "START RequestId: a Version: $LATEST",
            "REPORT RequestId: a\tDuration: 100.20 ms\tMemory Size: 512 MB\tInit Duration: 250.50 ms",
            "REPORT RequestId: b\tDuration: 1000.00 ms\tMemory Size: 1024 MB",
            "REPORT RequestId: c\tStatus: timeout",
            '{"level": "INFO", "message": "REPORT RequestId: not a report line"}',
        ]
    )
    invocations, gb_s = function_usage(text, SPEC)
    # ceil(100.2 + 250.5) = 351 ms x 0.5 GB + 1 s x 1 GB + the 60 s timeout x 0.5 GB
    assert invocations == 3
    assert gb_s == pytest.approx(0.1755 + 1.0 + 30.0)


def test_custom_metrics_are_counted_once_per_name_and_dimensions() -> None:
    emf = (
        '{"_aws": {"CloudWatchMetrics": [{"Namespace": "Thera", "Dimensions": [["service"]], '
        '"Metrics": [{"Name": "Pulled"}, {"Name": "Pages"}]}]}, "service": "%s", "Pulled": 1, "Pages": 2}'
    )
    text = "\n".join([emf % "pull", emf % "pull", emf % "crawl", "not json {", '{"_aws": 1'])
    assert custom_metrics(text) == {
        ("Thera", "Pulled", "service=pull"),
        ("Thera", "Pages", "service=pull"),
        ("Thera", "Pulled", "service=crawl"),
        ("Thera", "Pages", "service=crawl"),
    }


def _environ(service: str, **extra: str) -> dict[str, str]:
    auth = f"AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host"
    return {"HTTP_AUTHORIZATION": auth, "REQUEST_METHOD": "GET", **extra}


def test_requests_are_named_by_service_and_action() -> None:
    assert request_name(_environ("dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.PutItem")) == ("dynamodb", "PutItem")
    assert request_name(_environ("s3", PATH_INFO="/bucket")) == ("s3", "LIST")
    assert request_name(_environ("s3", PATH_INFO="/bucket/raw/a.json")) == ("s3", "GET")
    assert request_name(_environ("s3", PATH_INFO="/bucket/a", REQUEST_METHOD="PUT")) == ("s3", "PUT")
    assert request_name(_environ("sts", QUERY_STRING="Action=GetCallerIdentity")) == ("sts", "GetCallerIdentity")
    assert request_name({"REQUEST_METHOD": "GET"}) == ("unknown", "GET")


def test_batch_items_are_counted_and_the_tools_calls_apart() -> None:
    counts = RequestCounts()
    body = b'{"RequestItems": {"T": [{"PutRequest": {}}, {"PutRequest": {}}], "U": [{"DeleteRequest": {}}]}}'
    counts.add_request(_environ("dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.BatchWriteItem"), body)
    gets = b'{"RequestItems": {"T": {"Keys": [{}, {}, {}]}}}'
    counts.add_request(_environ("dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.BatchGetItem"), gets)
    counts.add_request(_environ("s3", HTTP_USER_AGENT=f"Boto3/1 app/{TOOL_APP_ID}", PATH_INFO="/b"))
    assert counts.snapshot() == {
        "dynamodb": {"BatchGetItem": 1, "BatchGetItem:items": 3, "BatchWriteItem": 1, "BatchWriteItem:items": 3}
    }
    assert counts.tool == 1


def test_cost_without_a_measured_run_is_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thera_local.cli.main import main

    assert main(["cost", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "thera run daily" in err


def test_cost_scales_a_recorded_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thera_local.cli.main import main
    from thera_local.usage import write_record

    write_record(tmp_path, "daily", RUN, FIXED, {"data": "companies.jsonl"})
    assert main(["cost", "--home", str(tmp_path), "--companies-per-day", "1000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lines = {line["service"]: line["detail"] for line in doc["lines"]}
    assert lines["Lambda compute"] == "15,000 GB-s (x86_64)"  # 50 GB-s per 100 companies x 1,000 x 30 days
    assert lines["Firecrawl"] == "15,000 credits: plan Standard"
    assert doc["basis"]["companies_in_run"] == 100 and doc["basis"]["matches_measured"] == 0
    assert doc["total_usd"] == round(doc["aws_usd"] + doc["third_party_usd"], 2)


def test_the_weekly_training_counts_thirty_sevenths_of_a_run_a_month() -> None:
    weekly = Measured(units=1, gb_seconds=70, invocations=7, state_transitions=700)
    month = monthly(RUN, 0, None, 0, weekly)
    # 30 days / 7 = 4.2857 runs: 300 GB-s, 3,000 transitions ($1 per 1,000), 30 invocations ($1 per 1,000)
    result = estimate(month, Fixed(), TABLE, free_tier=False)
    lines = {line.service: round(line.usd, 4) for line in result.lines}
    assert lines["Step Functions"] == 3.0
    assert lines["Lambda compute"] == 0.3
    assert lines["Lambda requests"] == 0.03
