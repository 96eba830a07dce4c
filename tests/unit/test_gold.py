"""Silver → gold: one profile per domain from company, health and page, built by the real upstream stages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.lake import BUCKET, CANARY_EMAIL, CANARY_PHONE, DAY, SILVER_KEY, Lake, build_lake, s3_notification
from thera.kernel import keys
from thera.kernel.messages import BadMessage
from thera.kernel.tables import from_parquet
from thera.profiles.gold import GoldOutcome, ProfileSources, build_part

BUILT = datetime(2026, 11, 22, 13, tzinfo=UTC)


def gold(lake: Lake, messages: list[str] | None = None) -> tuple[GoldOutcome, dict[str, dict[str, Any]]]:
    sources = ProfileSources(lake.store, BUCKET)
    inputs = [sources.load(r) for body in (messages or lake.profile_messages()) for r in sources.requests(body)]
    outcome = build_part(inputs, lake.store, lake.profiles, DAY, BUILT)
    rows = from_parquet(lake.store.get(outcome.key)).to_pylist()
    return outcome, {r["domain"]: r for r in rows}


def test_crawled_and_uncrawled_companies_both_get_a_profile_with_lineage() -> None:
    lake = build_lake()
    outcome, profiles = gold(lake)
    assert set(profiles) == {"acme-robots.com", "company1.com"}
    crawled, gated = profiles["acme-robots.com"], profiles["company1.com"]
    assert crawled["crawled"] and crawled["content_richness"] and crawled["page_title"] == "Acme Robots"
    assert crawled["health_score"] == 100 and crawled["health_passed"] is True
    assert (crawled["silver_key"], crawled["health_key"], crawled["content_key"]) == (
        SILVER_KEY,
        lake.health_key,
        lake.page_key,
    )
    assert crawled["firecrawl_raw_key"] == keys.raw_firecrawl(DAY, "acme-robots.com")
    assert crawled["raw_key"] == "raw/x" and crawled["correlation_id"] == "run-1"
    # the gate's failure still makes a profile, from what is known, less complete
    assert not gated["crawled"] and gated["health_passed"] is False and gated["health_flags"] == ["dns_unresolved"]
    assert gated["completeness"] <= 75 < crawled["completeness"]
    assert "Fintech" in gated["embedding_text"] and "payments" in gated["embedding_text"]
    assert outcome.written and outcome.key.startswith(f"gold/profiles/date={DAY}/part-")


def test_contacts_go_to_their_columns_and_never_into_texts() -> None:
    _, profiles = gold(build_lake())
    acme = profiles["acme-robots.com"]
    assert CANARY_EMAIL in acme["emails"] and "hello@acme-robots.com" in acme["emails"]
    assert CANARY_PHONE in acme["phones"]
    for column in ("description", "page_excerpt", "embedding_text"):
        text = acme[column]
        assert CANARY_EMAIL not in text and "99876" not in text and "hello@" not in text, column
    assert "Warehouse robots" in acme["embedding_text"]  # the page's words do reach the text


def test_a_profile_already_built_is_not_written_again_whatever_the_batching() -> None:
    lake = build_lake()
    first, _ = gold(lake)
    assert first.written and first.profiles == 2
    puts = lake.store.puts
    sources = ProfileSources(lake.store, BUCKET)
    for body in [*reversed(lake.profile_messages()), *lake.profile_messages()]:  # redelivered, one per batch
        inputs = [sources.load(r) for r in sources.requests(body)]
        again = build_part(inputs, lake.store, lake.profiles, DAY, BUILT)
        assert (again.key, again.written, again.already_built) == ("", False, 1)
    assert lake.store.puts == puts


def test_a_replayed_older_page_does_not_roll_a_profile_back() -> None:
    lake = build_lake()
    gold(lake)
    newest = lake.profiles.built["acme-robots.com"]
    lake.profiles.built["acme-robots.com"] = newest + 1000  # a newer profile was built since
    sources = ProfileSources(lake.store, BUCKET)
    inputs = [sources.load(r) for r in sources.requests(lake.profile_messages()[0])]
    assert build_part(inputs, lake.store, lake.profiles, DAY, BUILT).already_built == 1


def test_a_changed_company_changes_text_hash_and_version_order() -> None:
    _, before = gold(build_lake())
    _, after = gold(build_lake(description="Now building delivery drones."))
    assert after["acme-robots.com"]["text_hash"] != before["acme-robots.com"]["text_hash"]
    assert after["company1.com"]["text_hash"] == before["company1.com"]["text_hash"]


def test_bad_requests_fail_alone_with_a_reason() -> None:
    lake = build_lake()
    sources = ProfileSources(lake.store, BUCKET)
    with pytest.raises(BadMessage, match="no row"):
        sources.load(sources.requests(json.dumps({"domain": "nobody.com", "silver_key": SILVER_KEY}))[0])
    with pytest.raises(BadMessage, match="bucket"):
        sources.requests(s3_notification(lake.page_key, bucket="elsewhere"))
    with pytest.raises(BadMessage, match="not a crawled page"):
        sources.requests(s3_notification(SILVER_KEY))
    with pytest.raises(BadMessage, match="silver_key"):
        sources.requests(json.dumps({"domain": "acme-robots.com", "silver_key": "../etc/passwd"}))
    assert sources.requests(json.dumps({"Event": "s3:TestEvent"})) == []
