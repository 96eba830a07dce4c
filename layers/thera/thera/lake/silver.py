"""Bronze → silver for companies: schema, domain normalization, quality rules, dedupe.

Vectorized with pyarrow compute (no pandas, no per-row Python). The wide text
columns are copied once: quality rules and the newest-row choice work on small
columns (reason codes, a mask of the newest rows; reason texts and details only for
the few quarantined rows), and silver is then one ``filter`` of the winning rows (a
filter copies these columns several times faster than a ``take``; given as an
expression, pyarrow runs it over batches on its thread pool and keeps the row order).
Peak memory is about three times the bronze table (``bench/transform.py``), far
within a Lambda for 100-row pages; a multi-million-row backfill wants a bigger box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from thera.kernel import schemas
from thera.kernel.tables import SchemaMismatch, conform, from_parquet

if TYPE_CHECKING:
    from thera.kernel.config import BronzeToSilverSettings

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
_KEEP = "__silver_keep"  # the filter mask, added to bronze as a column for the multi-threaded filter


@dataclass(frozen=True)
class QualityRules:
    max_team_size: int = 2_000_000
    min_founded_year: int = 1800

    @classmethod
    def of(cls, settings: BronzeToSilverSettings) -> QualityRules:
        """The rules the bronze-to-silver stage is configured with (the stage and ``thera replay``)."""
        return cls(max_team_size=settings.max_team_size, min_founded_year=settings.min_founded_year)


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


def _reason_codes(table: pa.Table, domains: pa.Array, rules: QualityRules) -> pa.Array:
    """Per row, the index in ``REASONS`` of the first rule it breaks; null when it passes every rule."""
    names = pc.utf8_trim_whitespace(table["name"])
    team = table["employees"]
    year = table["founded_year"]
    # "the future" is judged against the row's own pull time, so a replay next year decides the same way
    latest_year = pc.add(pc.year(table["pulled_at"]), 1)
    has_domain = pc.is_valid(domains)
    breaks = [  # in the order of REASONS
        pc.greater(pc.fill_null(pc.list_value_length(table["issues"]), 0), 0),
        pc.equal(pc.fill_null(pc.utf8_length(names), 0), 0),
        pc.invert(has_domain),
        pc.and_(has_domain, pc.invert(valid_domain_mask(domains))),
        pc.fill_null(pc.or_(pc.less(team, 1), pc.greater(team, rules.max_team_size)), False),
        pc.fill_null(pc.or_(pc.less(year, rules.min_founded_year), pc.greater(year, latest_year)), False),
    ]
    code = pa.nulls(len(table), pa.int8())
    for i in reversed(range(len(breaks))):
        code = pc.if_else(breaks[i], pa.scalar(i, pa.int8()), code)
    return _contiguous(code)


def _details(quarantined: pa.Table, domains: pa.Array, codes: pa.Array) -> pa.Array:
    """What each quarantined row's reason is about (the rows, their domains and reason codes alike)."""
    by_reason = [  # in the order of REASONS
        pc.binary_join(quarantined["issues"], "; "),
        pa.nulls(quarantined.num_rows, pa.string()),
        pc.cast(quarantined["website_url"], pa.string()),
        domains,
        pc.cast(quarantined["employees"], pa.string()),
        pc.cast(quarantined["founded_year"], pa.string()),
    ]
    return pc.choose(codes, *by_reason)


def _newest_mask(
    domain: pa.Array | pa.ChunkedArray,
    pulled_at: pa.Array | pa.ChunkedArray,
    page: pa.Array | pa.ChunkedArray,
    position: pa.Array | pa.ChunkedArray,
) -> pa.Array:
    """True on the newest row of each (non-null) domain by (pulled_at, page, position).

    Domains are hashed to integer groups once; one stable sort by (group, pulled_at, page,
    position) puts each group's newest row last in its run, so exact ties go to the later row.
    """
    if len(domain) == 0:
        return pa.array([], pa.bool_())
    group = pc.dictionary_encode(_contiguous(domain)).indices
    keys = pa.table({"group": group, "pulled_at": pulled_at, "page": page, "position": position})
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])
    grouped = group.take(order)
    last = pc.not_equal(grouped.slice(0, len(grouped) - 1), grouped.slice(1))
    newest_in_order = pa.concat_arrays([last, pa.array([True])])
    return newest_in_order.take(pc.sort_indices(order))  # order is a permutation: sorting it gives its inverse


def newest_per_domain(table: pa.Table) -> pa.Table:
    """Keep one row per domain: the newest by (pulled_at, source_page, source_position)."""
    if table.num_rows == 0:
        return table
    newest = _newest_mask(table["domain"], table["pulled_at"], table["source_page"], table["source_position"])
    return table if pc.all(newest).as_py() else table.filter(newest)


def transform(bronze: pa.Table, bronze_key: str, rules: QualityRules | None = None) -> SilverResult:
    """Split a bronze table into silver rows (valid, one per domain) and quarantined rows."""
    rules = rules or QualityRules()
    if bronze.num_rows == 0:  # nothing to split (and a column may have no chunks at all)
        return SilverResult(schemas.SILVER_COMPANIES.empty_table(), schemas.QUARANTINE_COMPANIES.empty_table(), 0)
    domains = normalize_domains(bronze["primary_domain"], bronze["website_url"])
    codes = _reason_codes(bronze, domains, rules)
    bad = pc.is_valid(codes)

    # Quarantined rows are few: reason texts and details are built for them alone.
    quarantine_part = bronze.filter(bad)
    bad_codes = codes.filter(bad)
    quarantine = pa.Table.from_arrays(
        [
            pa.array(REASONS).take(bad_codes),
            _details(quarantine_part, domains.filter(bad), bad_codes),
            pa.repeat(bronze_key, quarantine_part.num_rows),
            *quarantine_part.columns,
        ],
        schema=schemas.QUARANTINE_COMPANIES,
    )

    # The newest row per domain is chosen on small columns; the wide ones are copied once, by one filter
    # that pyarrow runs over batches on its thread pool, keeping row order.
    good = pc.invert(bad)
    newest = _newest_mask(
        domains.filter(good),
        bronze["pulled_at"].filter(good),
        bronze["source_page"].filter(good),
        bronze["source_position"].filter(good),
    )
    keep = pc.replace_with_mask(pa.repeat(False, bronze.num_rows), good, newest)
    picked = bronze.append_column(_KEEP, keep).filter(pc.field(_KEEP))
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
    return SilverResult(silver=silver, quarantine=quarantine, duplicates=len(newest) - picked.num_rows)


def current_companies(tables: list[pa.Table]) -> pa.Table:
    """The current silver view: every silver file merged, newest row per domain."""
    if not tables:
        return schemas.SILVER_COMPANIES.empty_table()
    merged = pa.concat_tables([conform(t, schemas.SILVER_COMPANIES) for t in tables])
    return newest_per_domain(merged)
