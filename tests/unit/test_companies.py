from __future__ import annotations

from datetime import UTC, datetime

from thera.lake.companies import Lineage, bronze_record

LINEAGE = Lineage(
    run_id="r1",
    sweep="2026-11-22",
    raw_key="raw/apollo/x.jsonl.gz",
    page=2,
    pulled_at=datetime(2026, 11, 22, 4, tzinfo=UTC),
)


def test_organization_is_flattened_with_lineage() -> None:
    org = {
        "id": "abc",
        "name": " Stripe ",
        "primary_domain": "stripe.com",
        "website_url": "https://stripe.com",
        "estimated_num_employees": "7,000",
        "founded_year": 2009,
        "industry": "fintech",
        "keywords": ["payments", "", None],
        "short_description": "Payments infrastructure",
    }
    rec = bronze_record(org, 3, LINEAGE)
    assert rec["name"] == "Stripe"
    assert rec["employees"] == 7000
    assert rec["industries"] == ["fintech"]
    assert rec["keywords"] == ["payments"]
    assert (rec["run_id"], rec["source_page"], rec["source_position"], rec["raw_key"]) == ("r1", 2, 3, LINEAGE.raw_key)
    assert rec["issues"] == []


def test_values_that_cannot_be_coerced_are_named_in_issues() -> None:
    rec = bronze_record({"name": "X", "estimated_num_employees": "lots", "founded_year": True}, 0, LINEAGE)
    assert rec["employees"] is None and rec["founded_year"] is None
    assert rec["issues"] == ["estimated_num_employees: not an integer: 'lots'", "founded_year: not an integer: True"]


def test_a_non_object_organization_becomes_an_empty_row_with_an_issue() -> None:
    rec = bronze_record("garbage", 0, LINEAGE)  # type: ignore[arg-type]
    assert rec["name"] is None
    assert rec["issues"] and rec["issues"][0].startswith("organization: not a JSON object")
