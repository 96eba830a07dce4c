"""The domain health gate: score every checked domain, keep the results, pass the healthy ones on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from thera.enrichment.health import HealthResult, Observations, score
from thera.kernel import keys, schemas
from thera.kernel.messages import CrawlRequest, HealthRequest, ProfileRequest
from thera.kernel.ports import MessageQueue, ObjectStore
from thera.kernel.tables import to_parquet


@dataclass
class GateOutcome:
    results: list[HealthResult] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    sent_to_profile: int = 0
    health_key: str = ""
    written: bool = False


def part_name(requests: list[HealthRequest]) -> str:
    """Same batch content, same key: a redelivered batch overwrites nothing new."""
    return keys.content_part(f"{r.domain} {r.record_hash}" for r in requests)


def health_table(pairs: list[tuple[HealthRequest, HealthResult]], checked_at: datetime) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for request, result in pairs:
        rows.append(
            {
                "domain": result.domain,
                "score": result.score,
                "passed": result.passed,
                "flags": list(result.flags),
                **result.checks,
                "checked_at": checked_at,
                "record_hash": request.record_hash,
                "silver_key": request.silver_key,
                "correlation_id": request.correlation_id,
            }
        )
    return pa.Table.from_pylist(rows, schema=schemas.DOMAIN_HEALTH)


def record_health(
    requests: list[HealthRequest],
    observations: list[Observations],
    *,
    store: ObjectStore,
    crawl_queue: MessageQueue,
    profile_queue: MessageQueue,
    min_score: int,
    date: str,
    now: datetime,
) -> GateOutcome:
    """Write the batch's results to silver/domain_health/, then send the passing domains to crawl and
    the others straight to their profile (built from what is known, without page content)."""
    outcome = GateOutcome()
    pairs = [(req, score(obs, min_score)) for req, obs in zip(requests, observations, strict=True)]
    outcome.results = [result for _, result in pairs]
    if not pairs:
        return outcome
    outcome.health_key = keys.domain_health_part(date, part_name(requests))
    if store.metadata(outcome.health_key) is None:
        store.put(outcome.health_key, to_parquet(health_table(pairs, now)))
        outcome.written = True
    crawl, profile = [], []
    for request, result in pairs:
        if result.passed:
            scheme = "https" if result.checks["https"] and result.checks["tls"] else "http"
            url = f"{scheme}://{result.domain}/"
            crawl.append(
                CrawlRequest(
                    result.domain,
                    url,
                    result.score,
                    request.correlation_id,
                    silver_key=request.silver_key,
                    health_key=outcome.health_key,
                ).body()
            )
            outcome.passed.append(result.domain)
        elif request.silver_key:
            profile.append(
                ProfileRequest(result.domain, request.silver_key, outcome.health_key, "", request.correlation_id).body()
            )
    if crawl:
        crawl_queue.send_many(crawl)
    if profile:
        profile_queue.send_many(profile)
        outcome.sent_to_profile = len(profile)
    return outcome
