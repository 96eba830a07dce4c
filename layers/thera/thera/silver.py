"""Bronze → silver for companies: schema, domain normalization, quality rules, dedupe.

Vectorized with pyarrow compute (no pandas, no per-row Python), so one bronze page
and a million-row backfill go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from thera import schemas
from thera.tables import SchemaMismatch, conform, from_parquet

__all__ = ["SchemaMismatch", "current_companies", "normalize_domains", "read_bronze", "transform"]

# scheme, user-info and "www." are dropped; the host ends at the first / ? # or :port.
_HOST = r"^(?:[a-z][a-z0-9+.\-]*://)?(?:[^@/?#]*@)?(?:www\.)?(?P<host>[^/?#:]*)"
# Labels of letters, digits and inner hyphens; a top-level label that starts with a letter.
_VALID_DOMAIN = r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9\-]{0,61}[a-z0-9])$"

REASONS = (
    "malformed_field",
    "missing_name",
    "missing_domain",
    "invalid_domain",
    "implausible_team_size",
    "implausible_founded_year",
)


@dataclass(frozen=True)
class QualityRules:
    max_team_size: int = 2_000_000
    min_founded_year: int = 1800


@dataclass(frozen=True)
class SilverResult:
    silver: pa.Table
    quarantine: pa.Table
    duplicates: int


def normalize_domains(primary_domain: pa.ChunkedArray | pa.Array, website_url: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Lowercase host with no scheme, path, port, ``www.`` or trailing dot; null when there is none."""
    primary = pc.utf8_trim_whitespace(primary_domain)
    source = pc.if_else(
        pc.greater(pc.fill_null(pc.utf8_length(primary), 0), 0), primary, pc.utf8_trim_whitespace(website_url)
    )
    host = pc.struct_field(pc.extract_regex(pc.utf8_lower(source), _HOST), "host")
    host = pc.utf8_rtrim(host, characters=".")
    return pc.if_else(pc.greater(pc.fill_null(pc.utf8_length(host), 0), 0), host, pa.scalar(None, pa.string()))


def normalize_domain(value: str | None, website_url: str | None = None) -> str | None:
    """One value through ``normalize_domains``; for callers outside a table."""
    out = normalize_domains(pa.array([value], pa.string()), pa.array([website_url], pa.string()))
    result: str | None = out[0].as_py()
    return result


def valid_domain_mask(domains: pa.Array | pa.ChunkedArray) -> pa.Array:
    ok = pc.and_(pc.match_substring_regex(domains, _VALID_DOMAIN), pc.less_equal(pc.utf8_length(domains), 253))
    return pc.fill_null(ok, False)


def read_bronze(data: bytes) -> pa.Table:
    """Read a bronze Parquet object as the bronze schema, or raise ``SchemaMismatch``."""
    return conform(from_parquet(data), schemas.BRONZE)


def _reason_columns(table: pa.Table, domains: pa.Array, rules: QualityRules) -> tuple[pa.Array, pa.Array]:
    """Reason code and detail per row; null reason means the row passes every rule."""
    names = pc.utf8_trim_whitespace(table["name"])
    issues = table["issues"]
    year_now = datetime.now(UTC).year
    team = table["employees"]
    year = table["founded_year"]
    has_domain = pc.is_valid(domains)
    checks: list[tuple[str, pa.Array, pa.Array]] = [
        ("malformed_field", pc.greater(pc.fill_null(pc.list_value_length(issues), 0), 0), pc.binary_join(issues, "; ")),
        ("missing_name", pc.equal(pc.fill_null(pc.utf8_length(names), 0), 0), pa.nulls(len(table), pa.string())),
        ("missing_domain", pc.invert(has_domain), pc.cast(table["website_url"], pa.string())),
        ("invalid_domain", pc.and_(has_domain, pc.invert(valid_domain_mask(domains))), domains),
        (
            "implausible_team_size",
            pc.fill_null(pc.or_(pc.less(team, 1), pc.greater(team, rules.max_team_size)), False),
            pc.cast(team, pa.string()),
        ),
        (
            "implausible_founded_year",
            pc.fill_null(pc.or_(pc.less(year, rules.min_founded_year), pc.greater(year, year_now + 1)), False),
            pc.cast(year, pa.string()),
        ),
    ]
    reason = pa.nulls(len(table), pa.string())
    detail = pa.nulls(len(table), pa.string())
    for code, bad, text in reversed(checks):
        reason = pc.if_else(bad, pa.scalar(code), reason)
        detail = pc.if_else(bad, text, detail)
    return reason, detail


def newest_per_domain(table: pa.Table) -> pa.Table:
    """Keep one row per domain: the newest by (pulled_at, source_page, source_position)."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(
        table, sort_keys=[("pulled_at", "ascending"), ("source_page", "ascending"), ("source_position", "ascending")]
    )
    ranked = pa.table({"domain": table["domain"].take(order), "row": order})
    winners = ranked.group_by("domain", use_threads=False).aggregate([("row", "last")])["row_last"]
    if len(winners) == table.num_rows:
        return table
    keep = pc.is_in(pa.array(range(table.num_rows), pa.uint64()), value_set=winners.cast(pa.uint64()))
    return table.filter(keep)


def transform(bronze: pa.Table, bronze_key: str, rules: QualityRules | None = None) -> SilverResult:
    """Split a bronze table into silver rows (valid, one per domain) and quarantined rows."""
    rules = rules or QualityRules()
    domains = normalize_domains(bronze["primary_domain"], bronze["website_url"])
    reason, detail = _reason_columns(bronze, domains, rules)
    bad = pc.is_valid(reason)
    key_col = pa.array([bronze_key] * bronze.num_rows, pa.string()) if bronze.num_rows else pa.array([], pa.string())

    quarantine = bronze.filter(bad)
    quarantine = pa.Table.from_arrays(
        [reason.filter(bad), detail.filter(bad), key_col.filter(bad), *quarantine.columns],
        schema=schemas.QUARANTINE_COMPANIES,
    )

    good = pc.invert(bad)
    valid = bronze.filter(good)
    candidates = pa.Table.from_arrays(
        [
            domains.filter(good),
            pc.utf8_trim_whitespace(valid["name"]),
            valid["website_url"],
            valid["description"],
            valid["industries"],
            valid["keywords"],
            valid["city"],
            valid["state"],
            valid["country"],
            valid["employees"],
            valid["founded_year"],
            valid["apollo_id"],
            valid["linkedin_url"],
            *[valid[f.name] for f in schemas.LINEAGE_FIELDS],
            key_col.filter(good),
        ],
        schema=schemas.SILVER_COMPANIES,
    )
    silver = newest_per_domain(candidates)
    return SilverResult(silver=silver, quarantine=quarantine, duplicates=candidates.num_rows - silver.num_rows)


def current_companies(tables: list[pa.Table]) -> pa.Table:
    """The current silver view: every silver file merged, newest row per domain."""
    if not tables:
        return schemas.SILVER_COMPANIES.empty_table()
    merged = pa.concat_tables([conform(t, schemas.SILVER_COMPANIES) for t in tables])
    return newest_per_domain(merged)
