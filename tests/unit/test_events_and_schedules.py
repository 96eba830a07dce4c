from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import load_event
from thera.kernel.events import BadEvent, ScheduleEvent, s3_objects_from_sqs_body
from thera_local.schedules import ScheduleError, next_fire, scheduler_input


def test_sample_bronze_event_decodes_the_url_encoded_key() -> None:
    body = load_event("bronze_to_silver_sqs.json")["Records"][0]["body"]
    (obj,) = s3_objects_from_sqs_body(body)
    assert obj.key == "bronze/companies/date=2026-11-22/sweep=2026-11-22/page=00001.parquet"
    assert obj.bucket == "thera-dev-lake-123456789012-us-east-1"


def test_s3_test_event_carries_no_objects() -> None:
    assert s3_objects_from_sqs_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Records": []}', "no S3 Records"),
        ('{"Records": [{"s3": {}}]}', "missing a field"),
    ],
)
def test_malformed_bodies_are_bad_events(body: str, message: str) -> None:
    with pytest.raises(BadEvent, match=message):
        s3_objects_from_sqs_body(body)


def test_daily_pull_fires_at_one_in_sao_paulo() -> None:
    fire = next_fire("cron(0 1 * * ? *)", "America/Sao_Paulo", datetime(2026, 11, 22, 5, tzinfo=UTC))
    assert fire == datetime(2026, 11, 23, 4, tzinfo=UTC)


def test_weekly_cron_names_the_day() -> None:
    fire = next_fire("cron(0 3 ? * MON *)", "America/Sao_Paulo", datetime(2026, 11, 22, 0, tzinfo=UTC))
    assert fire == datetime(2026, 11, 23, 6, tzinfo=UTC)  # Monday 03:00 at UTC-3


def test_cron_with_both_day_fields_is_refused() -> None:
    with pytest.raises(ScheduleError, match="must be '\\?'"):
        next_fire("cron(0 1 * * MON *)", "UTC", datetime(2026, 1, 1, tzinfo=UTC))


def test_schedule_input_fills_scheduler_context_and_business_date_follows_the_time_zone() -> None:
    event = scheduler_input(
        '{"scheduled_time": "<aws.scheduler.scheduled-time>"}', datetime(2026, 11, 22, 2, 30, tzinfo=UTC), "arn"
    )
    assert event == {"scheduled_time": "2026-11-22T02:30:00Z"}
    assert ScheduleEvent.parse(event).business_date("America/Sao_Paulo") == "2026-11-21"
    assert (
        ScheduleEvent.parse(load_event("apollo_pull_schedule.json")).business_date("America/Sao_Paulo") == "2026-11-22"
    )


def test_bad_schedule_time_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601"):
        ScheduleEvent.parse({"scheduled_time": "yesterday"})


def test_sample_events_carry_the_messages_their_functions_parse() -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from thera.kernel.messages import CrawlRequest, GoldPartRequest, HealthRequest, ProfileRequest

    assert [HealthRequest.parse(r["body"]).domain for r in load_event("domain_health_sqs.json")["Records"]] == [
        "circuithub.com",
        "icracked.com",
    ]
    (crawl,) = load_event("firecrawl_sqs.json")["Records"]
    assert CrawlRequest.parse(crawl["body"]).health_key.startswith("silver/domain_health/")
    page, request = load_event("silver_to_gold_sqs.json")["Records"]
    assert [o.key for o in s3_objects_from_sqs_body(page["body"])] == [
        "silver/firecrawl/date=2026-11-22/circuithub.com.parquet"
    ]
    assert ProfileRequest.parse(request["body"]).domain == "icracked.com"
    (embed,) = load_event("embeddings_sqs.json")["Records"]
    assert s3_objects_from_sqs_body(embed["body"])[0].key.startswith("gold/profiles/")
    (publish,) = load_event("publisher_sqs.json")["Records"]
    assert GoldPartRequest.parse(publish["body"]).gold_key.startswith("gold/profiles/")
    http = APIGatewayProxyEventV2(load_event("matcher_http_match.json"))
    assert (http.http_method, http.path, http.json_body["top_k"]) == ("POST", "/match", 5)
