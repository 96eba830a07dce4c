"""DomainHealthFunction against the emulator and the local web sites: every failure site gets its flags."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeContext, load_handler_module
from tests.integration.conftest import Aws
from thera.kernel import keys
from thera.kernel.messages import HealthRequest
from thera.kernel.tables import from_parquet
from thera_local.standins.sites import SitesStandIn

MODES = {
    "good.com": "ok",
    "nowhere.com": "dns_miss",
    "closed.com": "refused",
    "broken.com": "http_500",
    "slow.com": "timeout",
    "selfsigned.com": "self_signed",
    "stale.com": "expired",
    "otherhost.com": "wrong_host",
    "forsale.com": "parked",
    "loop.com": "redirect_loop",
}
EXPECTED = {
    "good.com": (100, []),
    "nowhere.com": (0, ["dns_unresolved"]),
    "closed.com": (15, ["http_refused", "https_refused", "no_page"]),
    "broken.com": (40, ["http_status_500", "https_status_500", "final_status_500"]),
    "slow.com": (15, ["http_timeout", "https_timeout", "no_page"]),
    "selfsigned.com": (65, ["tls_self_signed"]),
    "stale.com": (65, ["tls_expired"]),
    "otherhost.com": (65, ["tls_hostname_mismatch"]),
    "forsale.com": (50, ["parked_page"]),
    "loop.com": (60, ["redirect_loop"]),
}
LONG = "Acme builds warehouse robots. " * 20


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[SitesStandIn]:
    companies = [
        {"name": d.split(".")[0].title(), "domain": d, "website": f"https://{d}", "long_description": LONG}
        for d in MODES
    ]
    server = SitesStandIn(companies, modes=MODES, slow_seconds=5)
    server.start()
    yield server
    server.stop()


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": "h",
                "body": b,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:health",
                "awsRegion": "us-east-1",
            }
            for i, b in enumerate(bodies)
        ]
    }


def test_every_failure_site_gets_the_right_score_and_flags(
    aws: Aws, handler_env: Any, sites: SitesStandIn, tmp_path: Path
) -> None:
    handler_env(
        "DomainHealthFunction",
        LOCAL_DNS_URL=sites.dns_url,
        EXTRA_CA_BUNDLE=str(sites.write_ca(tmp_path / "ca.pem")),
        HEALTH_CHECK_TIMEOUT_SECONDS="1",
    )
    bodies = [json.dumps(HealthRequest(d, d, f"hash-{d}", "silver/x", "run-1").body()) for d in MODES]
    bodies.insert(3, "{not json")
    module = load_handler_module("domain_health")
    result = module.handler(sqs_event(bodies), FakeContext("domain-health"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}]}  # the malformed record fails alone

    s3 = aws.client("s3")
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket, Prefix=keys.SILVER_DOMAIN_HEALTH)["Contents"]]
    rows = from_parquet(s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()).to_pylist()
    got = {r["domain"]: (r["score"], r["flags"]) for r in rows}
    assert got == EXPECTED

    sqs = aws.client("sqs")
    crawl = sqs.receive_message(QueueUrl=aws.queue_url("CrawlQueue"), MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["domain"] for m in crawl] == ["good.com"]
    assert json.loads(crawl[0]["Body"])["url"] == "https://good.com/"
