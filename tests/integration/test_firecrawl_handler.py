"""FirecrawlFunction against the emulator and the Firecrawl stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FakeContext, load_handler_module
from tests.integration.conftest import FIRECRAWL_KEY, Aws
from tests.integration.test_domain_health_handler import sqs_event
from tests.waiting import wait_until
from thera.kernel import keys
from thera.kernel.messages import CrawlRequest
from thera.kernel.tables import from_parquet
from thera.runtime import business_date
from thera_local.standins.firecrawl import FirecrawlStandIn
from thera_local.standins.sites import SitesStandIn

DOMAINS = [f"site{i}.com" for i in range(6)]


@pytest.fixture
def firecrawl() -> Iterator[FirecrawlStandIn]:
    companies = [
        {
            "name": f"Site {i}",
            "domain": d,
            "website": f"https://{d}",
            "long_description": "Warehouse robots for grocers. " * 30,
        }
        for i, d in enumerate(DOMAINS)
    ]
    sites = SitesStandIn(companies, modes=dict.fromkeys(DOMAINS, "ok"))
    sites.start()
    server = FirecrawlStandIn(sites, FIRECRAWL_KEY)
    server.start()
    yield server
    server.stop()
    sites.stop()


def crawl(
    handler_env: Any, firecrawl: FirecrawlStandIn, domains: list[str], extra: list[str] | None = None, **env: str
) -> dict[str, Any]:
    handler_env(
        "FirecrawlFunction",
        FIRECRAWL_BASE_URL=firecrawl.url,
        BREAKER_FAILURE_THRESHOLD="2",
        BREAKER_COOLDOWN_SECONDS="60",
        FIRECRAWL_MAX_ATTEMPTS="1",
        **env,
    )
    bodies = [json.dumps(CrawlRequest(d, f"https://{d}/", 100, "run-1").body()) for d in domains] + (extra or [])
    module = load_handler_module("firecrawl")
    result: dict[str, Any] = module.handler(sqs_event(bodies), FakeContext("firecrawl"))
    return result


def test_a_crawl_lands_raw_and_silver_and_redelivery_writes_nothing_twice(
    aws: Aws, handler_env: Any, firecrawl: FirecrawlStandIn
) -> None:
    assert crawl(handler_env, firecrawl, DOMAINS[:2]) == {"batchItemFailures": []}
    s3, date = aws.client("s3"), business_date("America/Sao_Paulo")
    page = from_parquet(s3.get_object(Bucket=aws.bucket, Key=keys.silver_firecrawl(date, DOMAINS[0]))["Body"].read())
    row = page.to_pylist()[0]
    assert row["domain"] == DOMAINS[0] and "Warehouse robots" in row["text"] and row["richness"] > 0
    raw = json.loads(s3.get_object(Bucket=aws.bucket, Key=keys.raw_firecrawl(date, DOMAINS[0]))["Body"].read())
    assert raw["response"]["success"] is True and raw["request"]["domain"] == DOMAINS[0]
    versions = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=aws.bucket)["Versions"]}
    calls = firecrawl.stats()["calls"]

    assert crawl(handler_env, firecrawl, DOMAINS[:2]) == {"batchItemFailures": []}
    assert firecrawl.stats()["calls"] == calls  # the recent-crawl cache answered
    assert {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=aws.bucket)["Versions"]} == versions


def test_a_poison_message_fails_alone(aws: Aws, handler_env: Any, firecrawl: FirecrawlStandIn) -> None:
    result = crawl(handler_env, firecrawl, [DOMAINS[2]], extra=['{"domain": "x.com", "url": "ftp://elsewhere"}'])
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_402_is_recorded_with_its_reason_and_not_retried(
    aws: Aws, handler_env: Any, firecrawl: FirecrawlStandIn
) -> None:
    firecrawl.set_faults(status=402, count=1)
    assert crawl(handler_env, firecrawl, [DOMAINS[3]]) == {"batchItemFailures": []}
    record = aws.client("s3").get_object(
        Bucket=aws.bucket, Key=keys.quarantine_firecrawl(business_date("America/Sao_Paulo"), DOMAINS[3])
    )
    doc = json.loads(record["Body"].read())
    assert (doc["status"], doc["reason"]) == ("rejected", "http_402")
    assert "credits" in doc["detail"].lower()


def test_an_outage_opens_the_breaker_and_defers_messages_instead_of_failing_them(
    aws: Aws, handler_env: Any, firecrawl: FirecrawlStandIn
) -> None:
    firecrawl.outage = True
    first = crawl(handler_env, firecrawl, [DOMAINS[4], DOMAINS[1]])
    # closed: ordinary retries for both; the second failure reaches the threshold and is deferred instead
    assert first == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    calls_when_open = firecrawl.stats()["requests"]
    third = crawl(handler_env, firecrawl, [DOMAINS[0]])
    assert third == {"batchItemFailures": []}
    assert firecrawl.stats()["requests"] == calls_when_open  # open: nothing reached Firecrawl
    sqs = aws.client("sqs")
    deferred = []
    for _ in range(3):
        deferred += sqs.receive_message(
            QueueUrl=aws.queue_url("CrawlQueue"), MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
    assert deferred == []  # sent again with a delay: not visible yet
    attrs = sqs.get_queue_attributes(
        QueueUrl=aws.queue_url("CrawlQueue"), AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "2"
    breaker = aws.client("dynamodb").get_item(
        TableName=aws.template.physical("BreakerTable"), Key={"pk": {"S": "firecrawl"}}
    )["Item"]
    assert json.loads(breaker["doc"]["S"])["state"] == "open"


def test_a_deferred_request_keeps_its_keys_so_its_profile_can_still_be_built(
    aws: Aws, handler_env: Any, firecrawl: FirecrawlStandIn
) -> None:
    firecrawl.outage = True
    request = CrawlRequest(
        DOMAINS[2],
        f"https://{DOMAINS[2]}/",
        100,
        "run-1",
        0,
        "silver/companies/date=2026-11-22/sweep=s/page=00001.parquet",
        "silver/domain_health/date=2026-11-22/part-x.parquet",
    )
    handler_env(
        "FirecrawlFunction",
        FIRECRAWL_BASE_URL=firecrawl.url,
        BREAKER_FAILURE_THRESHOLD="1",
        BREAKER_COOLDOWN_SECONDS="1",
        FIRECRAWL_MAX_ATTEMPTS="1",
    )
    module = load_handler_module("firecrawl")
    assert module.handler(sqs_event([json.dumps(request.body())]), FakeContext("firecrawl")) == {
        "batchItemFailures": []
    }
    sqs, url = aws.client("sqs"), aws.queue_url("CrawlQueue")

    def deferred() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return messages

    # back on the queue after the deferral's delay (the breaker's cooldown, rounded up)
    (message,) = wait_until(deferred, timeout=10, message="the deferred request never came back to CrawlQueue")
    again = CrawlRequest.parse(message["Body"])
    assert again == CrawlRequest(**{**request.body(), "deferrals": 1})
