"""`thera cost` reads what a real daily run used (and measures a few matches on the running stack)."""

from __future__ import annotations

import json

from tests.e2e.conftest import TheraCli
from thera_local.cost import DAYS_PER_MONTH


def test_cost_prices_the_measured_daily_run_and_matches(demo: tuple[TheraCli, str]) -> None:
    cli, _ = demo
    record = json.loads((cli.home / "usage" / "daily.json").read_text())
    run = record["measured"]
    assert run["units"] > 0 and run["invocations"] > 0 and run["gb_seconds"] > 0
    assert run["firecrawl_credits"] > 0 and run["apollo_calls"] > 0 and run["bedrock_tokens"] > 0
    for service in ("sqs", "dynamodb", "s3"):
        assert sum(run["requests"][service].values()) > 0, service
    assert record["fixed"]["alarms"] > 0 and record["fixed"]["sqs_mappings"] > 0

    done = cli.run("cost", "--companies-per-day", str(run["units"] * 10), "--challenges-per-day", "20", "--json")
    doc = json.loads(done.stdout)
    lines = {line["service"]: line for line in doc["lines"]}
    credits = run["firecrawl_credits"] * 10 * DAYS_PER_MONTH
    assert lines["Firecrawl"]["detail"].startswith(f"{credits:,} credits")
    assert doc["basis"]["matches_measured"] == 3
    assert lines["API Gateway (HTTP API)"]["detail"] == f"{20 * DAYS_PER_MONTH:,} requests"
    assert doc["total_usd"] == round(doc["aws_usd"] + doc["third_party_usd"], 2) and doc["aws_usd"] > 0
    match = json.loads((cli.home / "usage" / "match.json").read_text())["measured"]
    assert match["units"] == 3 and match["gb_seconds"] > 0
