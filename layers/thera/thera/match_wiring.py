"""Composition root of the matcher and the index builder (numpy and pyarrow; no aiohttp, no scikit-learn)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from thera.adapters.aws import S3ObjectStore
from thera.config import IndexBuilderSettings, MatcherSettings
from thera.index import IndexOutcome, build_index
from thera.lease import held
from thera.observability import logger, metrics
from thera.runtime import business_date, client, embedding_provider, job_lease, report_lease_held
from thera.serving import MatcherService

INDEX_JOB = "index_builder"  # one writer of index/current.json: an older build must not overwrite a newer pointer


def refresh_index(settings: IndexBuilderSettings, run_id: str, time_left: Callable[[], float]) -> IndexOutcome:
    """The index builder's schedule: a new index version when gold or embeddings parts changed,
    if no other run holds the builder's lease."""
    with held(job_lease(INDEX_JOB, settings.state_table), run_id, time_left()) as grant:
        if not grant.acquired:
            report_lease_held(grant)
            return IndexOutcome("lease_held")
        outcome = build_index(S3ObjectStore(client("s3"), settings.bucket), datetime.now(UTC))
    logger.info("index refresh", extra={"outcome": outcome.as_dict()})
    metrics.add_metric("IndexProfiles", MetricUnit.Count, outcome.profiles)
    metrics.add_metric("IndexBuilt", MetricUnit.Count, int(outcome.status == "built"))
    return outcome


@cache
def matcher_service(settings: MatcherSettings) -> MatcherService:
    """One per execution environment: the index stays in memory between requests."""
    return MatcherService(
        S3ObjectStore(client("s3"), settings.bucket),
        embedding_provider(settings.embedding),
        clock=time.monotonic,
        now=lambda: datetime.now(UTC),
        date=lambda: business_date(settings.timezone),
        draw=random.random,
        refresh_seconds=settings.refresh_seconds,
    )
