"""The Firecrawl consumer through the local runtime: concurrency cap, breaker under an outage, poison messages."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.waiting import wait_until
from thera.kernel.messages import CrawlRequest
from thera_local.cli import wait_for_drain
from thera_local.emulator import aws_client
from thera_local.stack import StackConfig, StackInfo, ensure_stack, http_json, stop_stack

COOLDOWN = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    home = tmp_path_factory.mktemp("enrichment")
    config = StackConfig(
        home=home,
        template=ROOT / "template.yaml",
        data=SAMPLE,
        retry_delay=1,
        overrides={
            "BreakerCooldownSeconds": str(COOLDOWN),
            "BreakerFailureThreshold": "3",
            "FirecrawlMaxAttempts": "1",
            "RetryBaseSeconds": "1",  # a failed message back after 1 s, then 2, 4, ... 64: 8 receives in ~2 min
        },
    )
    info = ensure_stack(config, echo=lambda _: None)
    yield info
    stop_stack(home)


class Domains:
    """Hands out 'ok' sites of the stand-in, each once, so tests never meet the crawl cache."""

    def __init__(self, info: StackInfo) -> None:
        modes = http_json("GET", info.sites + "/__standin/sites")
        self.free = sorted(d for d, m in modes.items() if m == "ok")

    def take(self, n: int) -> list[str]:
        out, self.free = self.free[:n], self.free[n:]
        return out


@pytest.fixture(scope="module")
def domains(stack: StackInfo) -> Domains:
    return Domains(stack)


def send(info: StackInfo, bodies: list[str]) -> None:
    sqs = aws_client("sqs", info.endpoint)
    url = info.template_obj().queue_url("CrawlQueue", info.endpoint)
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])]
        )


def crawl_bodies(names: list[str]) -> list[str]:
    return [json.dumps(CrawlRequest(d, f"https://{d}/", 100, "e2e").body()) for d in names]


def crawled(info: StackInfo) -> set[str]:
    s3 = aws_client("s3", info.endpoint)
    bucket = info.template_obj().physical("DataLakeBucket")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="silver/firecrawl/")
    return {o["Key"].rsplit("/", 1)[1].removesuffix(".parquet") for p in pages for o in p.get("Contents", [])}


def dlq_depth(info: StackInfo) -> int:
    sqs = aws_client("sqs", info.endpoint)
    url = info.template_obj().queue_url("CrawlDLQ", info.endpoint)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def breaker(info: StackInfo) -> dict[str, Any]:
    ddb = aws_client("dynamodb", info.endpoint)
    item = ddb.get_item(TableName=info.template_obj().physical("BreakerTable"), Key={"pk": {"S": "firecrawl"}})
    return json.loads(item["Item"]["doc"]["S"]) if "Item" in item else {"state": "closed", "transitions": []}


def test_never_more_than_two_scrapes_in_flight(stack: StackInfo, domains: Domains) -> None:
    http_json("POST", stack.firecrawl + "/__standin/faults", {"reset": True, "latency": 0.3})
    names = domains.take(24)
    send(stack, crawl_bodies(names))
    assert wait_for_drain(stack, timeout=120, echo=lambda _: None)
    stats = http_json("GET", stack.firecrawl + "/__standin/stats")
    assert stats["max_in_flight"] == 2  # the cap holds, and the consumer does use both slots
    assert set(names) <= crawled(stack)


def test_an_outage_opens_the_breaker_one_probe_per_cooldown_and_nothing_is_dead_lettered(
    stack: StackInfo, domains: Domains
) -> None:
    http_json("POST", stack.firecrawl + "/__standin/faults", {"reset": True, "outage": True})
    names = domains.take(10)
    send(stack, crawl_bodies(names))
    wait_until(
        lambda: breaker(stack)["state"] != "closed", timeout=60, interval=0.2, message="the breaker stayed closed"
    )
    opened_at = time.time()
    requests_at_open = http_json("GET", stack.firecrawl + "/__standin/stats")["requests"]
    time.sleep(3 * COOLDOWN + 1)  # the outage goes on for three cooldowns: the scenario's length, not a wait
    requests_at_lift = http_json("GET", stack.firecrawl + "/__standin/stats")["requests"]
    lifted_at = time.time()
    http_json("POST", stack.firecrawl + "/__standin/faults", {"reset": True})

    assert wait_for_drain(stack, timeout=180, echo=lambda _: None)
    state = breaker(stack)
    probes = [t for t in state["transitions"] if t[1:] == ["open", "half_open"] and opened_at - 1 <= t[0] <= lifted_at]
    assert len(probes) >= 2
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(probes)]
    assert all(gap >= COOLDOWN - 0.1 for gap in gaps), gaps  # never two probes within one cooldown
    # while open, only probes reached Firecrawl (one request each; plus at most the request already in flight)
    assert requests_at_lift - requests_at_open <= len(probes) + 1
    assert state["state"] == "closed"
    assert dlq_depth(stack) == 0  # the outage dead-lettered nothing
    assert set(names) <= crawled(stack)  # and every message was crawled once it cleared


def test_a_poison_message_lands_in_the_dlq_while_its_batch_mates_succeed(stack: StackInfo, domains: Domains) -> None:
    http_json("POST", stack.firecrawl + "/__standin/faults", {"reset": True})
    names = domains.take(3)
    send(stack, ['{"domain": "poison"', *crawl_bodies(names)])
    wait_until(lambda: dlq_depth(stack) > 0, timeout=240, interval=0.5, message="nothing reached CrawlDLQ")
    sqs = aws_client("sqs", stack.endpoint)
    got = sqs.receive_message(
        QueueUrl=stack.template_obj().queue_url("CrawlDLQ", stack.endpoint), MaxNumberOfMessages=10
    )["Messages"]
    assert [m["Body"] for m in got] == ['{"domain": "poison"']
    assert set(names) <= crawled(stack)
