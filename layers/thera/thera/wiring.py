"""Composition root: builds each stage's adapters from its settings and runs the stage.

aiohttp and the HTTP adapters are imported by the three stages that call out (pull, health,
crawl) when they first run: the others start without them.

Handlers call one function here. Clients are made on first use and reused while
the execution environment lives (never at import, so tests and the local runtime
can point them anywhere: ``LOCAL_AWS_ENDPOINT_URL``, or the standard ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from thera import keys, schemas
from thera.adapters.aws import (
    DynamoCrawlCache,
    DynamoDomainRegistry,
    DynamoEmbeddingIndex,
    DynamoProfileRegistry,
    DynamoReadModel,
    DynamoStateStore,
    DynamoVersionedStore,
    S3ObjectStore,
    SqsQueue,
)
from thera.ams import average_match_score
from thera.breaker import BreakerConfig, CircuitBreaker
from thera.config import (
    ApolloPullSettings,
    BronzeToSilverSettings,
    DomainHealthSettings,
    EmbeddingsSettings,
    FirecrawlSettings,
    LakeSettings,
    PublisherSettings,
    SilverToGoldSettings,
)
from thera.embed import EmbedOutcome, EmbedService, SpendLedger, move_messages
from thera.events import is_s3_notification, s3_objects, s3_objects_from_sqs_body
from thera.gate import GateOutcome, record_health
from thera.gold import GoldOutcome, ProfileInputs, ProfileSources, build_part
from thera.health import Observations
from thera.lease import held
from thera.messages import CrawlRequest, GoldPartRequest, HealthRequest, load_object
from thera.observability import logger, metrics
from thera.publish import PublishOutcome, publish_part
from thera.quota import TokenBucket
from thera.refine import RefineOutcome, refine_bronze_object
from thera.runtime import business_date, client, embedding_provider, job_lease, report_lease_held, secrets
from thera.silver import QualityRules
from thera.tables import from_rows, to_parquet

if TYPE_CHECKING:
    from thera.crawl import CrawlOutcome
    from thera.ingest import PullReport

APOLLO_BUCKET = "apollo"
PULL_JOB = "apollo_pull"  # one pull at a time: the pages are walked with one cursor
FIRECRAWL_BREAKER = "firecrawl"


def api_key_from_secret(secret_id: str) -> str:
    """The secret holds the key itself or a JSON object with an ``api_key`` field."""
    value = str(secrets().get(secret_id))
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
    """The daily pull, if no other run holds the pull's lease (the run id holds it while it runs)."""
    with held(job_lease(PULL_JOB, settings.state_table), run_id, time_left()) as grant:
        if grant.acquired:
            return await _pull(settings, event, run_id, time_left)
    report_lease_held(grant)
    from thera.ingest import PullReport

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
    from thera.ingest import QuotaGuard, pull_companies

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
    rules = QualityRules.of(settings)
    store = S3ObjectStore(client("s3"), settings.bucket)
    registry = DynamoDomainRegistry(client("dynamodb"), settings.domains_table)
    health_queue = SqsQueue(client("sqs"), settings.health_queue_url)
    outcomes = []
    for obj in s3_objects_from_sqs_body(body, settings.bucket):
        outcome = refine_bronze_object(store, obj.key, rules, registry, health_queue)
        logger.info("bronze object refined", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("SilverRows", MetricUnit.Count, outcome.silver_rows)
        metrics.add_metric("QuarantinedRows", MetricUnit.Count, sum(outcome.quarantined.values()))
        metrics.add_metric("DuplicateRows", MetricUnit.Count, outcome.duplicates)
        metrics.add_metric("DomainsSentToHealth", MetricUnit.Count, outcome.sent_to_health)
        outcomes.append(outcome)
    return outcomes


async def _check(settings: DomainHealthSettings, requests: list[HealthRequest]) -> list[Observations]:
    from thera.adapters.web import HealthChecker, make_resolver, make_ssl_context

    resolver = make_resolver(settings.local_dns_url or None)
    ssl_context = make_ssl_context(settings.extra_ca_bundle or None)
    async with HealthChecker(resolver, ssl_context, settings.timeout_seconds, settings.concurrency) as checker:
        return await checker.check_many([r.domain for r in requests])


def health_batch(settings: DomainHealthSettings, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Parse every record (a malformed one fails alone), check all domains concurrently, record, pass on."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def parse(record: SQSRecord) -> HealthRequest:
        return HealthRequest.parse(record.body)

    with processor(event.get("Records", []), parse, context):
        parsed = processor.process()
    requests = [result for status, result, _ in parsed if status == "success"]
    observations = asyncio.run(_check(settings, requests)) if requests else []
    outcome: GateOutcome = record_health(
        requests,
        observations,
        store=S3ObjectStore(client("s3"), settings.bucket),
        crawl_queue=SqsQueue(client("sqs"), settings.crawl_queue_url),
        profile_queue=SqsQueue(client("sqs"), settings.profile_queue_url),
        min_score=settings.min_score,
        date=business_date(settings.timezone),
        now=datetime.now(UTC),
    )
    for result in outcome.results:
        logger.info(
            "domain checked",
            extra={
                "domain": result.domain,
                "score": result.score,
                "passed": result.passed,
                "flags": list(result.flags),
            },
        )
    metrics.add_metric("DomainsChecked", MetricUnit.Count, len(outcome.results))
    metrics.add_metric("DomainsPassed", MetricUnit.Count, len(outcome.passed))
    metrics.add_metric("DomainsSentToProfile", MetricUnit.Count, outcome.sent_to_profile)
    return dict(processor.response())


async def _crawl(settings: FirecrawlSettings, request: CrawlRequest, owner: str) -> CrawlOutcome:
    def on_transition(before: str, after: str) -> None:
        logger.warning("circuit breaker transition", extra={"breaker": FIRECRAWL_BREAKER, "from": before, "to": after})
        metrics.add_metric(f"BreakerTo_{after}", MetricUnit.Count, 1)

    breaker = CircuitBreaker(
        DynamoVersionedStore(client("dynamodb"), settings.breaker_table),
        FIRECRAWL_BREAKER,
        BreakerConfig(settings.failure_threshold, settings.cooldown_seconds, settings.success_threshold),
        owner=owner,
        on_transition=on_transition,
    )
    import aiohttp

    from thera.adapters.firecrawl import FirecrawlClient
    from thera.crawl import CrawlService

    async with aiohttp.ClientSession() as session:
        scraper = FirecrawlClient(
            session,
            settings.base_url,
            api_key_from_secret(settings.secret_id),
            timeout_ms=settings.timeout_ms,
            max_attempts=settings.max_attempts,
        )
        service = CrawlService(
            store=S3ObjectStore(client("s3"), settings.bucket),
            cache=DynamoCrawlCache(client("dynamodb"), settings.cache_table),
            breaker=breaker,
            scraper=scraper,
            profile_queue=SqsQueue(client("sqs"), settings.profile_queue_url),
            recrawl_after_days=settings.recrawl_after_days,
            date=business_date(settings.timezone),
            clock=time.time,
        )
        return await service.crawl(request)


def crawl_message(settings: FirecrawlSettings, body: str, owner: str) -> dict[str, object]:
    """One CrawlQueue message: crawl it, or send it again later when the breaker says wait."""
    request = CrawlRequest.parse(body)
    logger.append_keys(domain=request.domain, correlation_id=request.correlation_id)
    outcome = asyncio.run(_crawl(settings, request, owner))
    if outcome.status == "deferred":
        if outcome.open_seconds is not None:  # the alarm "breaker open too long" watches the maximum of this
            metrics.add_metric("BreakerOpenSeconds", MetricUnit.Seconds, outcome.open_seconds)
        again = replace(request, deferrals=request.deferrals + 1)  # the same request: its keys travel on
        SqsQueue(client("sqs"), settings.crawl_queue_url).send_many([again.body()], outcome.defer_seconds)
    logger.info("crawl finished", extra={"outcome": outcome.as_dict()})
    metrics.add_metric(f"Crawl_{outcome.status}", MetricUnit.Count, 1)
    return outcome.as_dict()


def _gold_key_from(body: str, bucket: str) -> list[str]:
    """An EmbedQueue / PublishQueue message: a gold part's S3 notification, or a ``GoldPartRequest``."""
    doc = load_object(body)
    if is_s3_notification(doc):
        return [GoldPartRequest.parse_doc({"gold_key": obj.key}).gold_key for obj in s3_objects(doc, bucket)]
    return [GoldPartRequest.parse_doc(doc).gold_key]


def gold_batch(settings: SilverToGoldSettings, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read each record's inputs on its own (a bad one fails alone), then build and write one gold part."""
    sources = ProfileSources(S3ObjectStore(client("s3"), settings.bucket), settings.bucket)
    processor = BatchProcessor(event_type=EventType.SQS)

    def load(record: SQSRecord) -> list[ProfileInputs]:
        return [sources.load(request) for request in sources.requests(record.body)]

    with processor(event.get("Records", []), load, context):
        loaded = processor.process()
    inputs = [i for status, result, _ in loaded if status == "success" for i in result]
    outcome: GoldOutcome = build_part(
        inputs,
        S3ObjectStore(client("s3"), settings.bucket),
        DynamoProfileRegistry(client("dynamodb"), settings.profiles_table),
        business_date(settings.timezone),
        datetime.now(UTC),
    )
    logger.info("gold profiles built", extra={"outcome": outcome.as_dict(), "domains": outcome.domains})
    metrics.add_metric("ProfilesBuilt", MetricUnit.Count, outcome.profiles)
    metrics.add_metric("ProfilesWithPage", MetricUnit.Count, outcome.crawled)
    return dict(processor.response())


def embed_message(settings: EmbeddingsSettings, body: str) -> list[EmbedOutcome]:
    day = business_date(settings.timezone)
    provider = embedding_provider(settings.embedding)
    service = EmbedService(
        store=S3ObjectStore(client("s3"), settings.bucket),
        index=DynamoEmbeddingIndex(client("dynamodb"), settings.embeddings_table),
        provider=provider,
        ledger=SpendLedger(
            DynamoVersionedStore(client("dynamodb"), settings.quota_table),
            settings.budget_usd,
            settings.price_per_1k_tokens_usd,
            time.time,
        ),
        wait_queue=SqsQueue(client("sqs"), settings.wait_queue_url),
        publish_queue=SqsQueue(client("sqs"), settings.publish_queue_url),
        max_tokens=settings.max_tokens,
        day=day,
        now=lambda: datetime.now(UTC),
    )
    outcomes = []
    for gold_key in _gold_key_from(body, settings.bucket):
        outcome = service.embed_part(gold_key)
        log = logger.warning if outcome.parked or outcome.rejected else logger.info
        log("gold part embedded", extra={"outcome": outcome.as_dict(), "model_id": provider.model_id})
        metrics.add_metric("ProfilesEmbedded", MetricUnit.Count, outcome.embedded)
        metrics.add_metric("ProfilesUnchanged", MetricUnit.Count, outcome.unchanged)
        metrics.add_metric("EmbeddingTokens", MetricUnit.Count, outcome.tokens)
        metrics.add_metric("EmbeddingCostMicroUSD", MetricUnit.Count, round(outcome.cost_usd * 1_000_000, 3))
        metrics.add_metric("EmbeddingRejected", MetricUnit.Count, outcome.rejected)
        metrics.add_metric("EmbeddingBudgetExhausted", MetricUnit.Count, int(outcome.parked))
        outcomes.append(outcome)
    return outcomes


def release_parked(settings: EmbeddingsSettings, time_left: Callable[[], float]) -> int:
    """The daily schedule: parts parked while the budget was spent go back to EmbedQueue."""
    moved = move_messages(
        SqsQueue(client("sqs"), settings.wait_queue_url), SqsQueue(client("sqs"), settings.embed_queue_url), time_left
    )
    logger.info("parked parts released", extra={"moved": moved})
    metrics.add_metric("EmbeddingPartsReleased", MetricUnit.Count, moved)
    return moved


def publish_message(settings: PublisherSettings, body: str) -> list[PublishOutcome]:
    outcomes = []
    for gold_key in _gold_key_from(body, settings.bucket):
        outcome = publish_part(
            gold_key,
            store=S3ObjectStore(client("s3"), settings.bucket),
            public=DynamoReadModel(client("dynamodb"), settings.public_table),
            private=DynamoReadModel(client("dynamodb"), settings.private_table),
            now=lambda: datetime.now(UTC),
            ttl_days=settings.ttl_days,
        )
        logger.info("gold part published", extra={"outcome": outcome.as_dict()})
        metrics.add_metric("PublicRowsWritten", MetricUnit.Count, outcome.public_written)
        metrics.add_metric("PrivateRowsWritten", MetricUnit.Count, outcome.private_written)
        metrics.add_metric("RowsKeptNewer", MetricUnit.Count, outcome.stale)
        metrics.add_metric("PublicFieldsDroppedAsPII", MetricUnit.Count, outcome.pii_dropped)
        outcomes.append(outcome)
    return outcomes


def daily_ams(settings: LakeSettings, event: Any) -> dict[str, Any]:
    """AMS of one business day (the schedule's, or ``date`` in the event) → metrics/ams/ and metrics."""
    store = S3ObjectStore(client("s3"), settings.bucket)
    raw = event.get("date") if isinstance(event, dict) else None
    day = str(raw) if raw else business_date(settings.timezone)
    if not date.fromisoformat(day).isoformat() == day:
        raise ValueError(f"'date' must be YYYY-MM-DD, got {day!r}")
    shortlists = [json.loads(store.get(k)) for k in store.list(f"{keys.SHORTLISTS}date={day}/")]
    decisions: dict[tuple[str, str], tuple[str, str]] = {}
    for key in store.list(keys.FEEDBACK):
        record = json.loads(store.get(key))
        pair = (record["challenge_id"], record["domain"])
        if pair not in decisions or record["at"] > decisions[pair][1]:
            decisions[pair] = (record["decision"], record["at"])
    rows, overall = average_match_score(shortlists, {pair: d for pair, (d, _) in decisions.items()})
    table = pa.Table.from_pylist(
        [{"date": day, **asdict(r)} for r in [*rows, *([overall] if overall else [])]], schema=schemas.AMS
    )
    store.put(keys.ams_metrics(day), to_parquet(table))
    if overall:
        metrics.add_metric("AverageMatchScore", MetricUnit.Count, round(overall.ams, 4))
        metrics.add_metric("FeedbackAccepted", MetricUnit.Count, overall.accepted)
        metrics.add_metric("FeedbackRejected", MetricUnit.Count, overall.rejected)
    metrics.add_metric("ChallengesScored", MetricUnit.Count, len(rows))
    result = {"date": day, "challenges": len(rows), "ams": round(overall.ams, 4) if overall else None}
    logger.info("daily AMS", extra=result)
    return result
