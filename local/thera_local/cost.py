"""The monthly bill of the deployed stack, estimated from what one local run used.

Pure arithmetic, no SDK: ``thera run daily`` measures a run (``usage.py``: REPORT lines, the
emulator's request counts, the stand-ins' counters, bytes added to the bucket) and ``thera cost``
scales it: the daily run per company pulled, a match per challenge, times ``DAYS_PER_MONTH``,
plus what the stack costs whatever the volume (alarms, dashboard, secrets, key, idle pollers).

Prices are a dated table with each price's source (``PRICES``); the permanent free tiers
(Lambda, SQS, DynamoDB storage, CloudWatch, Scheduler, KMS) are taken off unless asked not to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

DAYS_PER_MONTH = 30  # one daily run a day, weekends included (the schedule fires every day)
MB = 1024 * 1024
GB = 1024 * MB
# Lambda's SQS pollers long-poll each queue even when it is empty: 5 pollers (the documented starting
# number) x one 20 s poll each = 15 receives a minute per event source mapping.
IDLE_RECEIVES_PER_MAPPING_MONTH = 5 * 3 * 60 * 24 * DAYS_PER_MONTH
S3_TIER1 = {"PUT", "POST", "COPY", "LIST"}  # PUT, COPY, POST, LIST: one price; GET, HEAD and the rest: the other
S3_FREE = {"DELETE"}
DYNAMO_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "BatchWriteItem:items": 1, "TransactWriteItems": 2}
DYNAMO_READS = {"GetItem": 1, "Query": 1, "Scan": 1, "BatchGetItem:items": 1, "TransactGetItems": 2}


@dataclass(frozen=True)
class Price:
    usd: float  # per ``per`` units
    per: float
    unit: str
    source: str
    free: float = 0.0  # units free each month (a permanent free tier)


@dataclass(frozen=True)
class Plan:
    name: str
    usd_month: float
    credits: int


@dataclass(frozen=True)
class PriceTable:
    date: str
    region: str
    prices: dict[str, Price]
    firecrawl_plans: tuple[Plan, ...]
    firecrawl_source: str
    apollo_seat_month: float
    apollo_seats: int
    apollo_source: str

    def __getitem__(self, name: str) -> Price:
        return self.prices[name]


PRICES = PriceTable(
    date="2026-12-06",
    region="us-east-1",
    prices={
        "lambda_gb_s_x86_64": Price(
            0.0000166667, 1, "GB-s", "cloudchipr.com/blog/aws-lambda-pricing (tier 1, x86)", free=400_000
        ),
        "lambda_gb_s_arm64": Price(
            0.0000133334, 1, "GB-s", "cloudchipr.com/blog/aws-lambda-pricing (tier 1, Arm)", free=400_000
        ),
        "lambda_requests": Price(
            0.20, 1_000_000, "requests", "git.mcrn.ar lambda-13-cost.md; kodekloud Lambda pricing", free=1_000_000
        ),
        "sqs_requests": Price(
            0.40, 1_000_000, "requests", "cloudburn.io/blog/amazon-sqs-pricing (March 2026)", free=1_000_000
        ),
        "dynamodb_write_units": Price(0.625, 1_000_000, "WRU", "airbyte.com dynamodb-pricing (on-demand, us-east-1)"),
        "dynamodb_read_units": Price(0.125, 1_000_000, "RRU", "airbyte.com dynamodb-pricing (on-demand, us-east-1)"),
        "s3_tier1_requests": Price(0.005, 1_000, "PUT/COPY/POST/LIST", "c3x.dev/blog/s3-request-fees-explained"),
        "s3_tier2_requests": Price(0.0004, 1_000, "GET/HEAD", "c3x.dev/blog/s3-request-fees-explained"),
        "s3_storage": Price(0.023, 1, "GB-month", "devnotes.tech S3 pricing (Standard, first 50 TB)"),
        "logs_ingestion": Price(0.50, 1, "GB", "factualminds.com CloudWatch pricing (2026-06-13)", free=5),
        "logs_storage": Price(0.03, 1, "GB-month", "infracost.io CloudWatch retention policy (us-east-1)"),
        "custom_metrics": Price(0.30, 1, "metric-month", "signoz.io/guides/cloudwatch-pricing (Feb 2026)", free=10),
        "alarms": Price(0.10, 1, "alarm-month", "c3x.dev aws_cloudwatch_metric_alarm (standard resolution)", free=10),
        "dashboards": Price(3.00, 1, "dashboard-month", "factualminds.com CloudWatch pricing (2026-06-13)", free=3),
        "state_transitions": Price(0.025, 1_000, "transitions", "aws.amazon.com/step-functions/pricing", free=4_000),
        "http_api_requests": Price(1.00, 1_000_000, "requests", "apigatewaycost.com/aws (HTTP API, first 300 M)"),
        "scheduler_invocations": Price(
            1.00, 1_000_000, "invocations", "cloudburn.io/blog/amazon-eventbridge-pricing (March 2026)", free=14_000_000
        ),
        "secrets": Price(0.40, 1, "secret-month", "hivebook.wiki aws-secrets-manager [3p]"),
        "secrets_api": Price(0.05, 10_000, "API calls", "hivebook.wiki aws-secrets-manager [3p]"),
        "kms_keys": Price(1.00, 1, "key-month", "cloudburn.io/blog/aws-kms-pricing (March 2026)"),
        "kms_requests": Price(0.03, 10_000, "requests", "factualminds.com aws-kms-pricing (2026-06-13)", free=20_000),
        "bedrock_titan_v2_tokens": Price(0.00002, 1_000, "input tokens", "../shared/FACTS.md §3 (AWS blog example)"),
    },
    firecrawl_plans=(
        Plan("Hobby", 16.0, 3_000),
        Plan("Standard", 83.0, 100_000),
        Plan("Growth", 333.0, 500_000),
    ),
    firecrawl_source="firecrawl.dev/pricing, yearly billing [plan prices unverified here: recheck]; "
    "1 credit per scrape: docs.firecrawl.dev/billing",
    apollo_seat_month=149.0,
    apollo_seats=5,
    apollo_source="datalane.com/post/apollo-api: API key access on the Organization plan, ~$149/seat/month, "
    "5-seat minimum [3p, recheck]",
)


@dataclass
class Measured:
    """What some work used: a run of the daily flow (``units`` companies) or ``units`` matches."""

    units: int
    gb_seconds: float = 0.0
    invocations: float = 0
    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    log_bytes: float = 0.0
    s3_added_bytes: float = 0.0
    bedrock_tokens: float = 0.0
    firecrawl_credits: float = 0.0
    apollo_calls: float = 0.0
    api_requests: float = 0.0
    state_transitions: float = 0.0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Measured:
        return cls(**_known(cls, doc))

    def scaled(self, units: float) -> Measured:
        """The same work per unit, for ``units`` units."""
        k = units / self.units if self.units else 0.0
        return Measured(
            units=round(units),
            requests={s: {a: n * k for a, n in acts.items()} for s, acts in self.requests.items()},
            **{name: getattr(self, name) * k for name in _AMOUNTS},
        )

    def plus(self, other: Measured) -> Measured:
        requests = {s: dict(acts) for s, acts in self.requests.items()}
        for s, acts in other.requests.items():
            for a, n in acts.items():
                requests.setdefault(s, {})[a] = requests.get(s, {}).get(a, 0) + n
        return Measured(
            units=self.units + other.units,
            requests=requests,
            **{name: getattr(self, name) + getattr(other, name) for name in _AMOUNTS},
        )


_AMOUNTS = tuple(f.name for f in fields(Measured) if f.name not in ("units", "requests"))


@dataclass(frozen=True)
class Fixed:
    """What the stack has whatever the volume, counted in the template."""

    alarms: int = 0
    dashboards: int = 0
    secrets: int = 0
    kms_keys: int = 0
    sqs_mappings: int = 0
    custom_metrics: int = 0
    schedule_invocations: int = 0  # per month

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Fixed:
        return cls(**{k: int(v) for k, v in _known(cls, doc).items()})


def _known(cls: type, doc: dict[str, Any]) -> dict[str, Any]:
    """The entries of a saved document that are fields of ``cls`` (a later version may have added others)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


@dataclass(frozen=True)
class Line:
    service: str
    usd: float
    detail: str
    third_party: bool = False


@dataclass(frozen=True)
class Estimate:
    lines: list[Line]
    assumptions: list[str]
    prices_date: str
    region: str

    @property
    def aws_usd(self) -> float:
        return sum(line.usd for line in self.lines if not line.third_party)

    @property
    def third_party_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.third_party)

    @property
    def total_usd(self) -> float:
        return self.aws_usd + self.third_party_usd

    def to_doc(self) -> dict[str, Any]:
        return {
            "prices_date": self.prices_date,
            "region": self.region,
            "lines": [{"service": ln.service, "usd": round(ln.usd, 4), "detail": ln.detail} for ln in self.lines],
            "aws_usd": round(self.aws_usd, 2),
            "third_party_usd": round(self.third_party_usd, 2),
            "total_usd": round(self.total_usd, 2),
            "assumptions": self.assumptions,
        }


def charge(price: Price, quantity: float, free_tier: bool = True) -> float:
    billable = max(0.0, quantity - (price.free if free_tier else 0.0))
    return billable / price.per * price.usd


def monthly(
    daily: Measured,
    companies_per_day: float,
    match: Measured | None,
    challenges_per_day: float,
    weekly: Measured | None = None,
) -> Measured:
    """A month's work: the daily run scaled to ``companies_per_day``, plus the matches, times the days;
    plus the weekly training, ``DAYS_PER_MONTH / 7`` times."""
    month = daily.scaled(companies_per_day * DAYS_PER_MONTH)
    if match is not None and challenges_per_day:
        month = month.plus(match.scaled(challenges_per_day * DAYS_PER_MONTH))
    if weekly is not None:
        month = month.plus(weekly.scaled(weekly.units * DAYS_PER_MONTH / 7))
    return month


def firecrawl_plan(credits: float, plans: tuple[Plan, ...]) -> tuple[str, float]:
    """The cheapest plan whose credits cover the month; past the largest, its price per credit."""
    if credits <= 0:
        return "none", 0.0
    for plan in sorted(plans, key=lambda p: p.credits):
        if credits <= plan.credits:
            return plan.name, plan.usd_month
    top = max(plans, key=lambda p: p.credits)
    return f"{top.name} x{credits / top.credits:.2f}", top.usd_month * credits / top.credits


def estimate(
    month: Measured,
    fixed: Fixed,
    prices: PriceTable = PRICES,
    architecture: str = "x86_64",
    free_tier: bool = True,
) -> Estimate:
    req = month.requests
    p = prices

    def c(name: str, quantity: float) -> float:
        return charge(p[name], quantity, free_tier)

    sqs_work = sum(req.get("sqs", {}).values())
    idle = fixed.sqs_mappings * IDLE_RECEIVES_PER_MAPPING_MONTH
    ddb = req.get("dynamodb", {})
    wru = sum(n * DYNAMO_WRITES[a] for a, n in ddb.items() if a in DYNAMO_WRITES)
    rru = sum(n * DYNAMO_READS[a] for a, n in ddb.items() if a in DYNAMO_READS)
    s3 = req.get("s3", {})
    tier1 = sum(n for a, n in s3.items() if a in S3_TIER1)
    tier2 = sum(n for a, n in s3.items() if a not in S3_TIER1 and a not in S3_FREE)
    stored_gb = month.s3_added_bytes / GB  # month-end footprint of a month of runs
    logs_gb = month.log_bytes / GB
    secrets_calls = sum(req.get("secretsmanager", {}).values())
    kms_calls = sum(req.get("kms", {}).values())
    plan, firecrawl_usd = firecrawl_plan(month.firecrawl_credits, p.firecrawl_plans)
    lines = [
        Line(
            "Lambda compute",
            c(f"lambda_gb_s_{architecture}", month.gb_seconds),
            f"{month.gb_seconds:,.0f} GB-s ({architecture})",
        ),
        Line("Lambda requests", c("lambda_requests", month.invocations), f"{month.invocations:,.0f} invocations"),
        Line(
            "SQS",
            c("sqs_requests", sqs_work + idle),
            f"{sqs_work:,.0f} requests by the flow + {idle:,.0f} idle long polls ({fixed.sqs_mappings} mappings)",
        ),
        Line(
            "DynamoDB",
            c("dynamodb_write_units", wru) + c("dynamodb_read_units", rru),
            f"{wru:,.0f} write units, {rru:,.0f} read units (on-demand)",
        ),
        Line(
            "S3 requests",
            c("s3_tier1_requests", tier1) + c("s3_tier2_requests", tier2),
            f"{tier1:,.0f} PUT/COPY/POST/LIST, {tier2:,.0f} GET/HEAD",
        ),
        Line("S3 storage", c("s3_storage", stored_gb), f"{stored_gb:,.2f} GB added in the month (month-end)"),
        Line(
            "CloudWatch Logs",
            c("logs_ingestion", logs_gb) + c("logs_storage", logs_gb),
            f"{logs_gb:,.2f} GB ingested and stored",
        ),
        Line(
            "CloudWatch metrics",
            c("custom_metrics", fixed.custom_metrics),
            f"{fixed.custom_metrics} custom metrics (EMF, S3 request metrics)",
        ),
        Line(
            "CloudWatch alarms, dashboard",
            c("alarms", fixed.alarms) + c("dashboards", fixed.dashboards),
            f"{fixed.alarms} alarms, {fixed.dashboards} dashboard(s)",
        ),
        Line(
            "Step Functions",
            c("state_transitions", month.state_transitions),
            f"{month.state_transitions:,.0f} state transitions",
        ),
        Line(
            "API Gateway (HTTP API)",
            c("http_api_requests", month.api_requests),
            f"{month.api_requests:,.0f} requests",
        ),
        Line(
            "EventBridge Scheduler",
            c("scheduler_invocations", fixed.schedule_invocations),
            f"{fixed.schedule_invocations:,} invocations",
        ),
        Line(
            "Secrets Manager",
            c("secrets", fixed.secrets) + c("secrets_api", secrets_calls),
            f"{fixed.secrets} secrets, {secrets_calls:,.0f} API calls",
        ),
        Line(
            "KMS",
            c("kms_keys", fixed.kms_keys) + c("kms_requests", kms_calls),
            f"{fixed.kms_keys} key(s), {kms_calls:,.0f} requests",
        ),
        Line(
            "Bedrock (Titan V2)",
            c("bedrock_titan_v2_tokens", month.bedrock_tokens),
            f"{month.bedrock_tokens:,.0f} input tokens",
        ),
        Line(
            "Firecrawl",
            firecrawl_usd,
            f"{month.firecrawl_credits:,.0f} credits: plan {plan}",
            third_party=True,
        ),
        Line(
            "Apollo plan",
            p.apollo_seat_month * p.apollo_seats,
            f"{month.apollo_calls:,.0f} search calls; {p.apollo_seats} seats x ${p.apollo_seat_month:,.0f}",
            third_party=True,
        ),
    ]
    assumptions = [
        f"{DAYS_PER_MONTH} days a month, one daily run a day",
        "S3 storage: the bytes a month of runs adds, all Standard, billed as if stored the whole month "
        "(the first month: raw/ moves to Glacier IR only after RawToGlacierIrDays; each month adds as much again)",
        "DynamoDB: one request unit per item read or written (items under 1 KB written, 4 KB read)",
        "SQS: each receive that returned messages, each delete and visibility change; Lambda's idle pollers "
        f"at {IDLE_RECEIVES_PER_MAPPING_MONTH:,} long polls per mapping a month",
        "CloudWatch Logs: the bytes the functions printed, kept at least a month",
        "Lambda: durations as measured locally (a busy laptop is slower than Lambda: an upper bound)",
        "Step Functions: one transition per state an execution of the weekly training went through",
        "permanent free tiers " + ("taken off" if free_tier else "not taken off"),
    ]
    return Estimate(lines, assumptions, p.date, p.region)
