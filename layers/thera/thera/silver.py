"""Bronze → silver for companies: schema, domain normalization, quality rules, dedupe.

Vectorized with pyarrow compute (no pandas, no per-row Python). The wide text
columns are copied once: quality rules and the newest-row choice work on small
columns and row indices, and silver is then one ``filter`` of the winning rows
(a filter copies these columns several times faster than a ``take``).
Peak memory is about three times the bronze table (``bench/transform.py``), far
within a Lambda for 100-row pages; a multi-million-row backfill wants a bigger box.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from thera import schemas
from thera.tables import SchemaMismatch, conform, from_parquet

__all__ = ["SchemaMismatch", "current_companies", "normalize_domains", "read_bronze", "transform"]

# scheme (or a bare "//"), user-info and "www." are dropped; the host ends at the first / ? # or :port.
_HOST = r"^(?:(?:[a-z][a-z0-9+.\-]*:)?//)?(?:[^@/?#]*@)?(?:www\.)?(?P<host>[^/?#:]*)"
# What _HOST would return unchanged: no scheme, user-info, port, path, upper case, space or trailing dot.
_BARE_HOST = r"^[a-z0-9.\-]*[a-z0-9\-]$"
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


def _host(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    values = _contiguous(values)
    # Most values are already a bare lowercase host: only the others go through the extracting regex.
    clean = pc.and_(
        pc.fill_null(pc.match_substring_regex(values, _BARE_HOST), False), pc.invert(pc.starts_with(values, "www."))
    )
    messy = pc.invert(pc.fill_null(clean, False))
    source = pc.utf8_lower(pc.utf8_trim_whitespace(pc.filter(values, messy)))
    host = pc.utf8_rtrim(pc.struct_field(pc.extract_regex(source, _HOST), "host"), characters=".")
    host = pc.if_else(pc.greater(pc.fill_null(pc.utf8_length(host), 0), 0), host, pa.scalar(None, pa.string()))
    return pc.replace_with_mask(values, messy, _contiguous(host))


def normalize_domains(primary_domain: pa.ChunkedArray | pa.Array, website_url: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Lowercase host with no scheme, path, port, ``www.`` or trailing dot; the website's when the domain has none."""
    host = _host(primary_domain)
    missing = pc.is_null(host)
    if not pc.any(missing).as_py():
        return host
    fallback = _host(pc.filter(website_url, missing))  # only where the domain gave no host
    return pc.replace_with_mask(host, missing, fallback)


def _contiguous(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


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
    team = table["employees"]
    year = table["founded_year"]
    # "the future" is judged against the row's own pull time, so a replay next year decides the same way
    latest_year = pc.add(pc.year(table["pulled_at"]), 1)
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
            pc.fill_null(pc.or_(pc.less(year, rules.min_founded_year), pc.greater(year, latest_year)), False),
            pc.cast(year, pa.string()),
        ),
    ]
    reason = pa.nulls(len(table), pa.string())
    detail = pa.nulls(len(table), pa.string())
    for code, bad, text in reversed(checks):
        reason = pc.if_else(bad, pa.scalar(code), reason)
        detail = pc.if_else(bad, text, detail)
    return reason, detail


def _newest_rows(domain: pa.Array, pulled_at: pa.Array, page: pa.Array, position: pa.Array, rows: pa.Array) -> pa.Array:
    """Of ``rows`` (indices), the newest per domain by (pulled_at, page, position), in ascending row order.

    Sorting is stable, so exact ties go to the later row.
    """
    small = pa.table({"domain": domain, "pulled_at": pulled_at, "page": page, "position": position, "row": rows})
    order = pc.sort_indices(
        small, sort_keys=[("pulled_at", "ascending"), ("page", "ascending"), ("position", "ascending")]
    )
    ordered = small.select(["domain", "row"]).take(order)
    winners = ordered.group_by("domain", use_threads=False).aggregate([("row", "last")])["row_last"]
    return pc.take(winners, pc.sort_indices(winners))


def newest_per_domain(table: pa.Table) -> pa.Table:
    """Keep one row per domain: the newest by (pulled_at, source_page, source_position)."""
    if table.num_rows == 0:
        return table
    rows = pc.indices_nonzero(pa.repeat(True, table.num_rows))
    winners = _newest_rows(table["domain"], table["pulled_at"], table["source_page"], table["source_position"], rows)
    return table if len(winners) == table.num_rows else table.take(winners)


def transform(bronze: pa.Table, bronze_key: str, rules: QualityRules | None = None) -> SilverResult:
    """Split a bronze table into silver rows (valid, one per domain) and quarantined rows."""
    rules = rules or QualityRules()
    if bronze.num_rows == 0:  # pyarrow 20's indices_nonzero crashes on a chunked array with no chunks
        return SilverResult(schemas.SILVER_COMPANIES.empty_table(), schemas.QUARANTINE_COMPANIES.empty_table(), 0)
    domains = normalize_domains(bronze["primary_domain"], bronze["website_url"])
    reason, detail = _reason_columns(bronze, domains, rules)
    bad = pc.is_valid(reason)

    quarantine_part = bronze.filter(bad)
    quarantine = pa.Table.from_arrays(
        [
            reason.filter(bad),
            detail.filter(bad),
            pa.repeat(bronze_key, quarantine_part.num_rows),
            *quarantine_part.columns,
        ],
        schema=schemas.QUARANTINE_COMPANIES,
    )

    # The newest row per domain is chosen on small columns; the wide ones are copied once, by one filter.
    good_rows = pc.indices_nonzero(pc.invert(bad))
    winners = _newest_rows(
        domains.take(good_rows),
        bronze["pulled_at"].take(good_rows),
        bronze["source_page"].take(good_rows),
        bronze["source_position"].take(good_rows),
        good_rows,
    )
    keep = pc.is_in(pc.indices_nonzero(pa.repeat(True, bronze.num_rows)), value_set=winners)
    picked = bronze.filter(keep)
    silver = pa.Table.from_arrays(
        [
            pc.filter(domains, keep),
            pc.utf8_trim_whitespace(picked["name"]),
            picked["employees"],
            *[picked[f.name] for f in schemas.CARRIED_FIELDS],
            *[picked[f.name] for f in schemas.LINEAGE_FIELDS],
            pa.repeat(bronze_key, picked.num_rows),
        ],
        schema=schemas.SILVER_COMPANIES,
    )
    return SilverResult(silver=silver, quarantine=quarantine, duplicates=len(good_rows) - picked.num_rows)


def current_companies(tables: list[pa.Table]) -> pa.Table:
    """The current silver view: every silver file merged, newest row per domain."""
    if not tables:
        return schemas.SILVER_COMPANIES.empty_table()
    merged = pa.concat_tables([conform(t, schemas.SILVER_COMPANIES) for t in tables])
    return newest_per_domain(merged)
