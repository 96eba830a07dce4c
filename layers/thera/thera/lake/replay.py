"""Rebuild a day's silver and gold from its raw files alone, and compare them with the lake's.

Raw holds everything the stages received from outside: Apollo's search pages under
``raw/apollo/date=D/`` (with when and by which run they were pulled, in the object
metadata) and Firecrawl's answers under ``raw/firecrawl/`` (with the request each one
answered and when). Domain health results are observations of the web at one moment,
not derived data, so the replay reads them from ``silver/domain_health/`` as they are.
Nothing calls Apollo, Firecrawl, Bedrock or any web site.

The rebuilt objects go under ``replay/date=D/`` with the lake's own layout
(``replay/date=D/silver/companies/...``, ``.../gold/profiles/...``): no S3 notification
fires for that prefix, so the live pipeline does not see them. Each rebuilt silver
object is compared with the lake's, and each domain's rebuilt profile with the newest
profile the lake built for it that day (every column but ``built_at``, the build time).

Selection rules, the same the stages apply: a domain's company row is the newest in the
sweep; its health row the newest checked on or before D; its page the newest crawled
on or before D. A domain whose sweep holds two different rows is reported apart:
the live pipeline profiles whichever row's checks finished last (a known limit).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thera.enrichment.crawl import RawPage
from thera.kernel import keys, schemas
from thera.kernel.ports import ObjectStore
from thera.kernel.tables import from_parquet, from_rows, to_parquet
from thera.lake.companies import Lineage, bronze_record
from thera.lake.ingest import decode_raw_page, pulled_at_of
from thera.lake.silver import QualityRules, read_bronze, transform
from thera.profiles.profiles import build_profiles

REPLAY = "replay/"
IGNORED = ("built_at",)


@dataclass
class ReplayReport:
    date: str
    raw_pages: int = 0
    companies: int = 0
    silver_objects: int = 0
    silver_identical: int = 0
    silver_differing: list[str] = field(default_factory=list)
    health_rows: int = 0
    pages: int = 0
    profiles: int = 0
    compared: int = 0
    identical: int = 0
    differing: dict[str, list[str]] = field(default_factory=dict)  # domain -> columns that differ
    ambiguous: list[str] = field(default_factory=list)  # the sweep holds several rows of the domain
    not_built_live: list[str] = field(default_factory=list)  # no profile built that day (unchanged record)
    written: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        silver = f"{self.silver_identical} of {self.silver_objects} identical to the lake's"
        if self.silver_differing:
            silver += f"; differing: {', '.join(self.silver_differing)}"
        out = [
            f"replay of {self.date} from raw: {self.raw_pages} Apollo page(s), {self.companies} companies, "
            f"{self.pages} Firecrawl page(s), {self.health_rows} health row(s) as observed",
            f"  silver companies  {silver}",
            f"  gold profiles     {self.profiles} rebuilt; {self.identical} of {self.compared} identical to the "
            f"profile the lake built that day (all columns but {', '.join(IGNORED)})",
        ]
        for domain, columns in sorted(self.differing.items()):
            out.append(f"    differs: {domain}: {', '.join(columns)}")
        if self.ambiguous:
            out.append(f"  not compared      {len(self.ambiguous)} domain(s) with several rows in the sweep")
        if self.not_built_live:
            out.append(f"  no live profile   {len(self.not_built_live)} domain(s) (their record did not change)")
        out.append(f"  written under     {REPLAY}date={self.date}/ ({len(self.written)} object(s))")
        return out


def _replay_key(date: str, key: str) -> str:
    return f"{REPLAY}date={date}/{key}"


def _newest(table: pa.Table, column: str) -> dict[str, dict[str, Any]]:
    """Each domain's row with the newest ``column`` (ties: the later row)."""
    out: dict[str, dict[str, Any]] = {}
    for row in table.sort_by([(column, "ascending")]).to_pylist():
        out[row["domain"]] = row
    return out


def replay_from_raw(store: ObjectStore, date: str, rules: QualityRules, built_at: datetime) -> ReplayReport:
    report = ReplayReport(date)
    silver_tables: list[pa.Table] = []
    silver_key_of: dict[str, str] = {}
    for raw_key in sorted(store.list(f"{keys.RAW_APOLLO}date={date}/")):
        parts = keys.raw_apollo_page_parts(raw_key)
        meta = store.metadata(raw_key)
        if parts is None or meta is None:
            continue
        raw_date, sweep, page = parts
        pulled_at = pulled_at_of(meta)
        lineage = Lineage(run_id=meta.get("run-id", ""), sweep=sweep, raw_key=raw_key, page=page, pulled_at=pulled_at)
        organizations = decode_raw_page(store.get(raw_key))
        report.raw_pages += 1
        report.companies += len(organizations)
        if not organizations:
            continue
        bronze_key = keys.bronze_companies_page(raw_date, sweep, page)  # a segment's sweep is <date>.<name>
        bronze = to_parquet(
            from_rows([bronze_record(o, i, lineage) for i, o in enumerate(organizations)], schemas.BRONZE)
        )
        silver = transform(read_bronze(bronze), bronze_key, rules).silver
        silver_key = keys.silver_for_bronze(bronze_key)
        for key, data in ((bronze_key, bronze), (silver_key, to_parquet(silver))):
            store.put(_replay_key(date, key), data)
            report.written.append(_replay_key(date, key))
        report.silver_objects += 1
        if store.metadata(silver_key) is not None and from_parquet(store.get(silver_key)).equals(silver):
            report.silver_identical += 1
        else:
            report.silver_differing.append(silver_key)
        silver_tables.append(silver)
        for domain in silver["domain"].to_pylist():
            silver_key_of[domain] = silver_key
    if not silver_tables:
        return report
    companies = pa.concat_tables(silver_tables)
    counts = Counter(companies["domain"].to_pylist())
    report.ambiguous = sorted(d for d, n in counts.items() if n > 1)
    wanted = pa.array(sorted(counts))

    health, health_key_of = _observed_health(store, date, wanted)
    report.health_rows = health.num_rows if health is not None else 0
    pages, content_key_of = _replayed_pages(store, date, set(counts), report)

    refs = {
        d: {
            "silver_key": silver_key_of[d],
            "health_key": health_key_of.get(d, ""),
            "content_key": content_key_of.get(d, ""),
        }
        for d in counts
    }
    profiles = build_profiles(companies, health, pages, built_at, refs)
    report.profiles = profiles.num_rows
    gold_key = keys.gold_profiles_part(date, "replay")
    store.put(_replay_key(date, gold_key), to_parquet(profiles))
    report.written.append(_replay_key(date, gold_key))
    _compare(store, date, profiles, report)
    return report


def _observed_health(store: ObjectStore, date: str, wanted: pa.Array) -> tuple[pa.Table | None, dict[str, str]]:
    parts = []
    for key in store.list(keys.SILVER_DOMAIN_HEALTH):
        if "" < keys.partition_date(key) <= date:
            table = from_parquet(store.get(key))
            table = table.filter(pc.is_in(table["domain"], wanted))
            parts.append(table.append_column("_key", pa.array([key] * table.num_rows, pa.string())))
    if not parts:
        return None, {}
    newest = _newest(pa.concat_tables(parts, promote_options="permissive"), "checked_at")
    key_of = {d: row.pop("_key") for d, row in newest.items()}
    return pa.Table.from_pylist(list(newest.values()), schema=schemas.DOMAIN_HEALTH), key_of


def _replayed_pages(
    store: ObjectStore, date: str, domains: set[str], report: ReplayReport
) -> tuple[pa.Table | None, dict[str, str]]:
    latest: dict[str, str] = {}  # domain -> newest raw key on or before the date
    for key in sorted(store.list(keys.RAW_FIRECRAWL)):
        domain = key.rsplit("/", 1)[1].removesuffix(".json")
        if domain in domains and "" < keys.partition_date(key) <= date:
            latest[domain] = key  # sorted: later dates come later
    rows, content_key_of = [], {}
    for domain, raw_key in sorted(latest.items()):
        row = RawPage.decode(store.get(raw_key)).silver_row(raw_key)
        silver_key = keys.silver_firecrawl(keys.partition_date(raw_key), domain)
        table = pa.Table.from_pylist([row], schema=schemas.SILVER_FIRECRAWL)
        store.put(_replay_key(date, silver_key), to_parquet(table))
        report.written.append(_replay_key(date, silver_key))
        rows.append(row)
        content_key_of[domain] = silver_key
    report.pages = len(rows)
    return (pa.Table.from_pylist(rows, schema=schemas.SILVER_FIRECRAWL) if rows else None), content_key_of


def _compare(store: ObjectStore, date: str, profiles: pa.Table, report: ReplayReport) -> None:
    live_parts = [from_parquet(store.get(k)) for k in store.list(f"{keys.GOLD_PROFILES}date={date}/")]
    live = _newest(pa.concat_tables(live_parts, promote_options="permissive"), "version") if live_parts else {}
    columns = [c for c in profiles.column_names if c not in IGNORED]
    for replayed in profiles.to_pylist():
        domain = replayed["domain"]
        if domain in report.ambiguous:
            continue
        current = live.get(domain)
        if current is None:
            report.not_built_live.append(domain)
            continue
        report.compared += 1
        differing = [c for c in columns if replayed[c] != current.get(c)]
        if differing:
            report.differing[domain] = differing
        else:
            report.identical += 1
