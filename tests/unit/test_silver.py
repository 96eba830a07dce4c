from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thera.kernel import schemas
from thera.kernel.tables import from_rows, to_parquet
from thera.lake.silver import (
    QualityRules,
    SchemaMismatch,
    current_companies,
    normalize_domain,
    read_bronze,
    transform,
    valid_domain_mask,
)

KEY = "bronze/companies/date=2026-11-22/sweep=2026-11-22/page=00001.parquet"
PULLED = datetime(2026, 11, 22, 4, tzinfo=UTC)


def row(position: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "r1",
        "sweep": "2026-11-22",
        "source": "apollo",
        "raw_key": "raw/x",
        "source_page": 1,
        "source_position": position,
        "pulled_at": PULLED,
        "apollo_id": f"id{position}",
        "name": f"Company {position}",
        "website_url": None,
        "primary_domain": f"company{position}.com",
        "description": "d",
        "industries": ["B2B"],
        "keywords": ["saas"],
        "city": "Recife",
        "state": None,
        "country": "Brazil",
        "employees": 12,
        "founded_year": 2020,
        "linkedin_url": None,
        "issues": [],
    }
    base.update(fields)
    return base


def table(*rows: dict[str, Any]) -> pa.Table:
    return from_rows(rows, schemas.BRONZE)


@pytest.mark.parametrize(
    ("raw", "website", "expected"),
    [
        ("Stripe.com", None, "stripe.com"),
        ("https://www.Stripe.com/about?x=1#top", None, "stripe.com"),
        ("http://user@shop.example.co.uk:8080/p", None, "shop.example.co.uk"),
        ("example.org.", None, "example.org"),
        ("  ", "https://www.fallback.io/path", "fallback.io"),
        (None, "HTTP://WWW.ACME.COM", "acme.com"),
        (None, None, None),
        ("www2.example.com", None, "www2.example.com"),
    ],
)
def test_domains_are_normalized(raw: str | None, website: str | None, expected: str | None) -> None:
    assert normalize_domain(raw, website) == expected


@pytest.mark.parametrize(
    ("domain", "valid"),
    [
        ("stripe.com", True),
        ("xn--bcher-kva.de", True),
        ("a-b.c-d.io", True),
        ("not a domain", False),
        ("-bad.com", False),
        ("bad-.com", False),
        ("nodot", False),
        ("a.b", False),
        ("x" * 64 + ".com", False),
        ("1.2.3.4", False),
    ],
)
def test_domain_syntax(domain: str, valid: bool) -> None:
    assert valid_domain_mask(pa.array([domain])).to_pylist() == [valid]


@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=60)))
def test_normalized_domains_have_no_scheme_www_path_or_uppercase(raw: str, website: str | None) -> None:
    out = normalize_domain(raw, website)
    if out is not None:
        assert out == out.lower()
        assert "://" not in out and "/" not in out and "?" not in out and "#" not in out
        assert not out.startswith("www.") and not out.endswith(".")


def test_each_quality_rule_quarantines_with_its_reason() -> None:
    this_year = datetime.now(UTC).year
    bronze = table(
        row(0),
        row(1, name="  "),
        row(2, primary_domain=None, website_url=None),
        row(3, primary_domain="not a domain"),
        row(4, employees=-5),
        row(5, employees=10**9),
        row(6, founded_year=this_year + 5),
        row(7, founded_year=1500),
        row(8, issues=["estimated_num_employees: not an integer: 'lots'"]),
    )
    result = transform(bronze, KEY, QualityRules())
    assert result.silver["domain"].to_pylist() == ["company0.com"]
    reasons = dict(
        zip(result.quarantine["source_position"].to_pylist(), result.quarantine["reason"].to_pylist(), strict=True)
    )
    assert reasons == {
        1: "missing_name",
        2: "missing_domain",
        3: "invalid_domain",
        4: "implausible_team_size",
        5: "implausible_team_size",
        6: "implausible_founded_year",
        7: "implausible_founded_year",
        8: "malformed_field",
    }
    details = dict(
        zip(result.quarantine["source_position"].to_pylist(), result.quarantine["detail"].to_pylist(), strict=True)
    )
    assert details[3] == "not a domain" and details[8].startswith("estimated_num_employees")
    assert set(result.quarantine["bronze_key"].to_pylist()) == {KEY}


def test_first_failing_rule_names_the_reason() -> None:
    result = transform(table(row(0, name="", primary_domain="bad domain", employees=-1)), KEY)
    assert result.quarantine["reason"].to_pylist() == ["missing_name"]


def test_duplicates_keep_the_newest_row_per_domain() -> None:
    older = row(0, primary_domain="https://dup.com", name="Old", pulled_at=PULLED - timedelta(days=1))
    newer = row(1, primary_domain="www.DUP.com", name="New")
    later_position = row(2, primary_domain="other.com", name="First", source_position=2)
    last_position = row(3, primary_domain="other.com", name="Second", source_position=3)
    result = transform(table(newer, older, last_position, later_position), KEY)
    names = dict(zip(result.silver["domain"].to_pylist(), result.silver["name"].to_pylist(), strict=True))
    assert names == {"dup.com": "New", "other.com": "Second"}
    assert result.duplicates == 2
    assert result.quarantine.num_rows == 0


def test_silver_keeps_lineage() -> None:
    result = transform(table(row(0)), KEY)
    rec = result.silver.to_pylist()[0]
    assert (rec["run_id"], rec["raw_key"], rec["bronze_key"], rec["source_page"]) == ("r1", "raw/x", KEY, 1)


def test_current_view_merges_files_newest_wins() -> None:
    day1 = transform(table(row(0, name="Acme v1", pulled_at=PULLED - timedelta(days=1))), KEY).silver
    day2 = transform(table(row(0, name="Acme v2")), KEY.replace("22/page", "22/page")).silver
    merged = current_companies([day2, day1])
    assert merged["name"].to_pylist() == ["Acme v2"]


def test_bronze_with_a_missing_column_is_a_schema_mismatch() -> None:
    broken = table(row(0)).drop_columns(["name"])
    with pytest.raises(SchemaMismatch, match="missing column"):
        read_bronze(to_parquet(broken))


def test_bronze_that_is_not_parquet_is_a_schema_mismatch() -> None:
    with pytest.raises(SchemaMismatch, match="not a readable Parquet"):
        read_bronze(b"this is not parquet")


def test_empty_bronze_gives_empty_outputs() -> None:
    result = transform(schemas.BRONZE.empty_table(), KEY)
    assert result.silver.num_rows == 0 and result.quarantine.num_rows == 0
