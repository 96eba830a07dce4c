"""Composition root: builds each stage's adapters from its settings and runs the stage.

Handlers call one function here. Clients are made on first use and reused while
the execution environment lives (never at import, so tests and the local runtime
can point them anywhere through the standard ``AWS_ENDPOINT_URL`` variable).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters

from thera import schemas
from thera.adapters.apollo import ApolloClient
from thera.adapters.aws import DynamoStateStore, DynamoVersionedStore, S3ObjectStore
from thera.config import ApolloPullSettings, BronzeToSilverSettings
from thera.events import s3_objects_from_sqs_body
from thera.ingest import PullReport, QuotaGuard, pull_companies
from thera.observability import logger, metrics
from thera.quota import TokenBucket
from thera.refine import RefineOutcome, refine_bronze_object
from thera.silver import QualityRules
from thera.tables import from_rows, to_parquet

APOLLO_BUCKET = "apollo"


@cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


def api_key_from_secret(secret_id: str) -> str:
    """The secret holds the key itself or a JSON object with an ``api_key`` field."""
    value = str(parameters.get_secret(secret_id))
    if value.lstrip().startswith("{"):
        try:
            value = str(json.loads(value)["api_key"])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"secret {secret_id} is JSON without an 'api_key' field") from exc
    if not value.strip():
        raise ValueError(f"secret {secret_id} is empty")
    return value.strip()


@dataclass(frozen=True)
class ScheduleEvent:
    scheduled_time: datetime

    @classmethod
    def parse(cls, event: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ScheduleEvent:
        if not isinstance(event, dict):
            raise ValueError("a schedule event must be a JSON object")
        raw = event.get("scheduled_time") or event.get("time")
        if not raw or (isinstance(raw, str) and raw.startswith("<aws.scheduler")):
            return cls(now())
        try:
            return cls(datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC))
        except ValueError:
            raise ValueError(f"scheduled_time is not an ISO 8601 time: {raw!r}") from None

    def business_date(self, timezone: str) -> str:
        return self.scheduled_time.astimezone(ZoneInfo(timezone)).date().isoformat()


def bronze_parquet(rows: list[dict[str, Any]]) -> bytes:
    return to_parquet(from_rows(rows, schemas.BRONZE))


async def run_pull(
    settings: ApolloPullSettings, event: ScheduleEvent, run_id: str, time_left: Callable[[], float]
) -> PullReport:
    bucket = TokenBucket(
        DynamoVersionedStore(client("dynamodb"), settings.quota_table), APOLLO_BUCKET, settings.windows
    )

    def on_wait(windows: tuple[str, ...], seconds: float) -> None:
        logger.info("quota window full, waiting", extra={"windows": windows, "wait_seconds": round(seconds, 1)})

    guard = QuotaGuard(bucket, settings.max_wait_seconds, asyncio.sleep, time_left, on_wait)
    async with aiohttp.ClientSession() as session:
        search = ApolloClient(
            session, settings.apollo_base_url, api_key_from_secret(settings.apollo_secret_id), before_attempt=guard
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
            filters=settings.search_filters,
            now=lambda: datetime.now(UTC),
            time_left=time_left,
        )
    usage = bucket.usage()
    metrics.add_metric("ApolloCalls", MetricUnit.Count, report.api_calls)
    metrics.add_metric("CompaniesPulled", MetricUnit.Count, report.companies)
    metrics.add_metric("PagesLanded", MetricUnit.Count, report.pages_fetched + report.pages_from_raw)
    for window, (used, limit) in usage.items():
        metrics.add_metric(f"ApolloQuotaLeft_{window}", MetricUnit.Count, limit - used)
    logger.info("apollo pull finished", extra={"report": report.as_dict(), "quota": usage})
    return report


def refine_message(settings: BronzeToSilverSettings, body: str) -> list[RefineOutcome]:
    """One SQS message (an S3 notification) → silver for each bronze object it names."""
    rules = QualityRules(max_team_size=settings.max_team_size, min_founded_year=settings.min_founded_year)
    store = S3ObjectStore(client("s3"), settings.bucket)
    outcomes = []
    for obj in s3_objects_from_sqs_body(body):
        if obj.bucket != settings.bucket:
            raise ValueError(f"notification for bucket {obj.bucket!r}, expected {settings.bucket!r}")
        outcome = refine_bronze_object(store, obj.key, rules)
        logger.info("bronze object refined", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("SilverRows", MetricUnit.Count, outcome.silver_rows)
        metrics.add_metric("QuarantinedRows", MetricUnit.Count, sum(outcome.quarantined.values()))
        metrics.add_metric("DuplicateRows", MetricUnit.Count, outcome.duplicates)
        outcomes.append(outcome)
    return outcomes
