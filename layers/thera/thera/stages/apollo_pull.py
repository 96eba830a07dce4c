"""ApolloPullFunction: the daily pull of company pages from Apollo, under the shared quota and the pull's lease.

aiohttp and the Apollo client are imported when the pull runs, not at import (bench/cold_start.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from thera.adapters.aws import DynamoStateStore, DynamoVersionedStore, S3ObjectStore
from thera.kernel.config import ApolloPullSettings
from thera.kernel.events import ScheduleEvent
from thera.kernel.lease import held
from thera.lake.ingest import PullReport, QuotaGuard, bronze_parquet, pull_companies
from thera.lake.quota import TokenBucket
from thera.observability import logger, metrics
from thera.runtime import api_key, client, job_lease, report_lease_held, settings

APOLLO_BUCKET = "apollo"
PULL_JOB = "apollo_pull"  # one pull at a time: the pages are walked with one cursor


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    report = asyncio.run(
        run_pull(settings(ApolloPullSettings), ScheduleEvent.parse(event), context.aws_request_id, time_left)
    )
    return report.as_dict()


async def run_pull(
    settings: ApolloPullSettings, event: ScheduleEvent, run_id: str, time_left: Callable[[], float]
) -> PullReport:
    """The daily pull, if no other run holds the pull's lease (the run id holds it while it runs)."""
    with held(job_lease(PULL_JOB, settings.state_table), run_id, time_left()) as grant:
        if grant.acquired:
            return await _pull(settings, event, run_id, time_left)
    report_lease_held(grant)
    until = datetime.fromtimestamp(grant.until, UTC).isoformat(timespec="seconds")
    return PullReport(sweep="", status="lease_held", stop_reason=f"run {grant.holder} holds the pull until {until}")


async def _pull(
    settings: ApolloPullSettings, event: ScheduleEvent, run_id: str, time_left: Callable[[], float]
) -> PullReport:
    bucket = TokenBucket(
        DynamoVersionedStore(client("dynamodb"), settings.quota_table), APOLLO_BUCKET, settings.windows
    )

    def on_wait(windows: tuple[str, ...], seconds: float) -> None:
        logger.info("quota window full, waiting", extra={"windows": windows, "wait_seconds": round(seconds, 1)})

    import aiohttp  # here, not at the top: the stages that make no HTTP call start without it (bench/cold_start.py)

    from thera.adapters.apollo import ApolloClient

    guard = QuotaGuard(bucket, settings.max_wait_seconds, asyncio.sleep, time_left, on_wait)

    async with aiohttp.ClientSession() as session:
        search = ApolloClient(
            session, settings.apollo_base_url, api_key(settings.apollo_secret_id), before_attempt=guard
        )
        report = await pull_companies(
            search=search,
            guard=guard,
            store=S3ObjectStore(client("s3"), settings.bucket),
            cursors=DynamoStateStore(client("dynamodb"), settings.state_table),
            bronze_writer=bronze_parquet,
            run_id=run_id,
            business_date=event.business_date(settings.timezone),
            per_page=settings.per_page,
            segments=settings.segments,
            now=lambda: datetime.now(UTC),
            time_left=time_left,
        )
    usage = bucket.usage()
    metrics.add_metric("ApolloCalls", MetricUnit.Count, report.api_calls)
    metrics.add_metric("CompaniesPulled", MetricUnit.Count, report.companies)
    metrics.add_metric("PagesLanded", MetricUnit.Count, report.pages_fetched + report.pages_from_raw)
    if len(report.segments) > 1:
        for part in report.segments:
            metrics.add_metric(f"CompaniesPulled_{part.segment}", MetricUnit.Count, part.companies)
    for window, (used, limit) in usage.items():
        metrics.add_metric(f"ApolloQuotaLeft_{window}", MetricUnit.Count, limit - used)
    logger.info("apollo pull finished", extra={"report": report.as_dict(), "quota": usage})
    return report
