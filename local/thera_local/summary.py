"""The funnel summary printed after a run: what each stage holds, read back from the lake and tables."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thera.adapters.aws import DynamoStateStore, DynamoVersionedStore, S3ObjectStore
from thera.kernel import keys
from thera.kernel.config import ApolloPullSettings, EmbeddingsSettings, FirecrawlSettings, PublisherSettings
from thera.kernel.tables import from_parquet
from thera.lake.ingest import cursor_key
from thera.lake.quota import TokenBucket
from thera.lake.segments import segment_of_sweep
from thera.lake.silver import current_companies
from thera.profiles.embed import SPEND_KEY_PREFIX, Spend
from thera.stages.apollo_pull import APOLLO_BUCKET
from thera.stages.firecrawl import FIRECRAWL_BREAKER

if TYPE_CHECKING:
    from thera_local.cli.resources import StackResources


@dataclass
class Funnel:
    sweeps: dict[str, dict[str, Any]] = field(default_factory=dict)  # segment -> its cursor
    bronze_by_segment: Counter[str] = field(default_factory=Counter)
    silver_by_segment: Counter[str] = field(default_factory=Counter)
    quota: dict[str, tuple[int, int]] = field(default_factory=dict)
    bronze_files: int = 0
    bronze_rows: int = 0
    silver_files: int = 0
    silver_rows: int = 0
    silver_current: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    silver_table: pa.Table | None = None
    health_scores: list[int] = field(default_factory=list)
    health_passed: int = 0
    health_flags: dict[str, int] = field(default_factory=dict)
    crawled: int = 0
    crawl_failures: dict[str, int] = field(default_factory=dict)
    cache_skips: int = 0
    breaker: dict[str, Any] = field(default_factory=dict)
    gold_parts: int = 0
    profiles: int = 0
    profiles_with_page: int = 0
    mean_completeness: float = 0.0
    embedding_parts: int = 0
    embedded: int = 0
    embedding_models: list[str] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    public_rows: int = 0
    private_rows: int = 0

    @property
    def duplicates_dropped(self) -> int:
        return self.bronze_rows - sum(self.quarantined.values()) - self.silver_current


def read_funnel(resources: StackResources) -> Funnel:
    """Every stage's counts, read from the stack's lake and tables (local, or deployed: the same AWS calls)."""
    env = resources.environment
    settings = ApolloPullSettings.from_env(env("ApolloPullFunction"))
    s3, ddb = resources.client("s3"), resources.client("dynamodb")
    store = S3ObjectStore(s3, settings.bucket)
    funnel = Funnel()
    cursors = DynamoStateStore(ddb, settings.state_table)
    funnel.sweeps = {s.name: cursors.get(cursor_key(s.name)) or {} for s in settings.segments}
    funnel.quota = TokenBucket(DynamoVersionedStore(ddb, settings.quota_table), APOLLO_BUCKET, settings.windows).usage()

    bronze = store.list(keys.BRONZE_COMPANIES)
    funnel.bronze_files = len(bronze)
    for key in bronze:
        table = from_parquet(store.get(key))
        funnel.bronze_rows += table.num_rows
        funnel.bronze_by_segment.update(segment_of_sweep(s) for s in table["sweep"].to_pylist())
    silver_tables = [from_parquet(store.get(k)) for k in store.list(keys.SILVER_COMPANIES)]
    funnel.silver_files = len(silver_tables)
    funnel.silver_rows = sum(t.num_rows for t in silver_tables)
    current = current_companies(silver_tables)
    funnel.silver_table = current
    funnel.silver_current = current.num_rows
    if current.num_rows:
        funnel.silver_by_segment.update(segment_of_sweep(s) for s in current["sweep"].to_pylist())
    reasons: Counter[str] = Counter()
    for key in store.list(keys.QUARANTINE_COMPANIES):
        reasons.update(from_parquet(store.get(key))["reason"].to_pylist())
    for key in store.list(keys.QUARANTINE_BRONZE):
        reasons[json.loads(store.get(key))["reason"]] += 1
    funnel.quarantined = dict(reasons.most_common())

    health = [from_parquet(store.get(k)) for k in store.list(keys.SILVER_DOMAIN_HEALTH)]
    if health:
        latest = pa.concat_tables(health).sort_by([("checked_at", "descending")]).to_pylist()
        per_domain: dict[str, dict[str, Any]] = {}
        for rec in latest:
            per_domain.setdefault(rec["domain"], rec)
        funnel.health_scores = [r["score"] for r in per_domain.values()]
        funnel.health_passed = sum(1 for r in per_domain.values() if r["passed"])
        funnel.health_flags = dict(Counter(f for r in per_domain.values() for f in r["flags"]).most_common())
    funnel.crawled = len(store.list(keys.SILVER_FIRECRAWL))
    funnel.crawl_failures = dict(
        Counter(json.loads(store.get(k))["reason"] for k in store.list(keys.QUARANTINE_FIRECRAWL)).most_common()
    )
    crawl = FirecrawlSettings.from_env(env("FirecrawlFunction"))
    funnel.cache_skips = sum(int(item.get("skips", {"N": "0"})["N"]) for item in _scan(ddb, crawl.cache_table))
    breaker = DynamoVersionedStore(ddb, crawl.breaker_table).load(FIRECRAWL_BREAKER)
    funnel.breaker = breaker.doc if breaker else {"state": "closed", "transitions": []}

    gold = [from_parquet(store.get(k)) for k in store.list(keys.GOLD_PROFILES)]
    funnel.gold_parts = len(gold)
    if gold:
        newest = pa.concat_tables(gold, promote_options="permissive").sort_by([("version", "descending")]).to_pylist()
        profiles: dict[str, dict[str, Any]] = {}
        for profile in newest:
            profiles.setdefault(profile["domain"], profile)
        funnel.profiles = len(profiles)
        funnel.profiles_with_page = sum(1 for p in profiles.values() if p["crawled"])
        funnel.mean_completeness = sum(p["completeness"] for p in profiles.values()) / len(profiles)
    vectors = store.list(keys.EMBEDDINGS)
    funnel.embedding_parts = len(vectors)
    models: Counter[str] = Counter()
    for key in vectors:
        part = from_parquet(store.get(key)).select(["model_id"])
        funnel.embedded += part.num_rows
        models.update(part["model_id"].to_pylist())
    funnel.embedding_models = [f"{m} ×{n}" for m, n in models.most_common()]
    embed = EmbeddingsSettings.from_env(env("EmbeddingsFunction"))
    for item in _scan(ddb, embed.quota_table):
        day = DynamoVersionedStore.decode(item) if item["pk"]["S"].startswith(SPEND_KEY_PREFIX) else None
        if day:
            funnel.spend = funnel.spend.plus(Spend(**day.doc))
    publish = PublisherSettings.from_env(env("PublisherFunction"))
    funnel.public_rows = _count(ddb, publish.public_table)
    funnel.private_rows = _count(ddb, publish.private_table)

    from thera_local.cli.status import dead_letter_queues, queue_depths  # as the status command reads them

    dlqs = dead_letter_queues(resources)
    for logical, counts in queue_depths(resources).items():
        (funnel.dead_letters if logical in dlqs else funnel.queues)[logical] = counts["ApproximateNumberOfMessages"]
    return funnel


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    return [item for page in ddb.get_paginator("scan").paginate(TableName=table) for item in page.get("Items", [])]


def _count(ddb: Any, table: str) -> int:
    return sum(page["Count"] for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"))


def histogram(scores: list[int], width: int = 40) -> list[str]:
    """Scores in bins of ten (90–100 together), one text bar each."""
    bins = [0] * 10
    for value in scores:
        bins[min(9, value // 10)] += 1
    top = max(bins) or 1
    labels = [f"{10 * i:>3}–{10 * i + 9:<3}" for i in range(9)] + [" 90–100"]
    return [f"{labels[i]} {'#' * round(width * n / top):<{width}} {n}" for i, n in enumerate(bins)]


def render(funnel: Funnel, pull: dict[str, Any] | None, apollo: dict[str, Any] | None) -> str:
    lines = []
    sweeps = funnel.sweeps
    if len(sweeps) > 1:
        lines.append("Funnel — per segment (ApolloSearchSegments)")
    for name, sweep in sweeps.items():
        state = "complete" if sweep.get("complete") else f"in progress, next page {sweep.get('next_page')}"
        landed = f"{sweep.get('companies', 0)} of {sweep.get('total_entries', '?')} companies landed"
        if len(sweeps) == 1:
            lines.append(f"Funnel — sweep {sweep.get('sweep', '-')} ({state}; {landed})")
        else:
            lines.append(
                f"  Segment {name:<14} sweep {sweep.get('sweep', '-')} ({state}; {landed}; "
                f"{funnel.bronze_by_segment[name]} bronze rows, {funnel.silver_by_segment[name]} in silver)"
            )
    if pull:
        lines.append(
            f"  Apollo pull        {pull.get('companies', 0)} companies pulled this run in "
            f"{pull.get('pages_fetched', 0)} page(s) fetched + {pull.get('pages_from_raw', 0)} rebuilt from raw; "
            f"status {pull.get('status')}{': ' + pull['stop_reason'] if pull.get('stop_reason') else ''}"
        )
        parts = pull.get("segments") or []
        split = f" ({', '.join(f'{p["segment"]} {p["api_calls"]}' for p in parts)})" if len(parts) > 1 else ""
        lines.append(f"  API calls          {pull.get('api_calls', 0)} this run{split}")
    quota = " · ".join(f"{w} {used}/{limit}" for w, (used, limit) in funnel.quota.items())
    lines.append(f"  Quota spent        {quota}  (token bucket, per window now)")
    if apollo:
        lines.append(
            f"  Apollo stand-in    {apollo.get('calls', 0)} searches answered, "
            f"{apollo.get('rejected_429', 0)} refused with 429 since the stack started"
        )
    lines.append(f"  Bronze             {funnel.bronze_rows} rows in {funnel.bronze_files} file(s)")
    lines.append(
        f"  Silver             {funnel.silver_current} companies (one row per domain; "
        f"{funnel.silver_rows} rows in {funnel.silver_files} file(s))"
    )
    lines.append(f"  Deduplicated       {funnel.duplicates_dropped} older row(s) of a domain seen again")
    total_q = sum(funnel.quarantined.values())
    detail = ", ".join(f"{reason} {n}" for reason, n in funnel.quarantined.items()) or "none"
    lines.append(f"  Quarantined        {total_q} row(s): {detail}")
    lines.append(
        f"  Domain health      {len(funnel.health_scores)} checked, {funnel.health_passed} passed "
        f"(score >= MIN_HEALTH_SCORE); scores:"
    )
    lines.extend("    " + line for line in histogram(funnel.health_scores))
    flags = ", ".join(f"{f} {n}" for f, n in funnel.health_flags.items()) or "none"
    lines.append(f"  Health flags       {flags}")
    failures = ", ".join(f"{r} {n}" for r, n in funnel.crawl_failures.items()) or "none"
    lines.append(
        f"  Crawl              {funnel.crawled} page(s) crawled, {funnel.cache_skips} skipped by the "
        f"recent-crawl cache, {sum(funnel.crawl_failures.values())} failed: {failures}"
    )
    moves = funnel.breaker.get("transitions", [])
    path = " → ".join([moves[0][1], *[m[2] for m in moves]]) if moves else "no transition"
    lines.append(f"  Firecrawl breaker  {funnel.breaker.get('state', 'closed')} ({len(moves)} transition(s): {path})")
    lines.append(
        f"  Gold profiles      {funnel.profiles} startups in {funnel.gold_parts} part(s): "
        f"{funnel.profiles_with_page} with page content, {funnel.profiles - funnel.profiles_with_page} from "
        f"company and health only; mean completeness {funnel.mean_completeness:.0f}/100"
    )
    spend = funnel.spend
    lines.append(
        f"  Embeddings         {funnel.embedded} profile(s) embedded ({', '.join(funnel.embedding_models) or 'none'}), "
        f"{spend.unchanged} skipped as unchanged, {spend.parked} part(s) parked by the budget"
    )
    lines.append(
        f"  Embedding spend    {spend.tokens:,} tokens in {spend.calls} call(s), estimated ${spend.usd:.6f} "
        f"at the configured price per 1k tokens"
    )
    lines.append(
        f"  Published          {funnel.public_rows} public row(s) (no personal data), "
        f"{funnel.private_rows} private row(s)"
    )
    lines.append("  Queues             " + ", ".join(f"{q} {n}" for q, n in funnel.queues.items()))
    lines.append("  Dead-letter queues " + ", ".join(f"{q} {n}" for q, n in funnel.dead_letters.items()))
    return "\n".join(lines)
