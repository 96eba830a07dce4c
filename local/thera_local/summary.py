"""The funnel summary printed after a run: what each stage holds, read back from the lake and tables."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from thera import keys
from thera.adapters.aws import DynamoStateStore, DynamoVersionedStore, S3ObjectStore
from thera.config import ApolloPullSettings
from thera.ingest import CURSOR_KEY
from thera.quota import TokenBucket
from thera.silver import current_companies
from thera.tables import from_parquet
from thera.wiring import APOLLO_BUCKET
from thera_local.emulator import aws_client
from thera_local.template import Template


@dataclass
class Funnel:
    sweep: dict[str, Any] = field(default_factory=dict)
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

    @property
    def duplicates_dropped(self) -> int:
        return self.bronze_rows - sum(self.quarantined.values()) - self.silver_current


def read_funnel(template: Template, endpoint: str) -> Funnel:
    functions = template.functions()
    pull_env = {
        k: v.replace("{sqs_endpoint}", endpoint) for k, v in functions["ApolloPullFunction"].environment.items()
    }
    settings = ApolloPullSettings.from_env(pull_env)
    s3, ddb, sqs = aws_client("s3", endpoint), aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    store = S3ObjectStore(s3, settings.bucket)
    funnel = Funnel()
    funnel.sweep = DynamoStateStore(ddb, settings.state_table).get(CURSOR_KEY) or {}
    funnel.quota = TokenBucket(DynamoVersionedStore(ddb, settings.quota_table), APOLLO_BUCKET, settings.windows).usage()

    bronze = store.list(keys.BRONZE_COMPANIES)
    funnel.bronze_files = len(bronze)
    funnel.bronze_rows = sum(from_parquet(store.get(k)).num_rows for k in bronze)
    silver_tables = [from_parquet(store.get(k)) for k in store.list(keys.SILVER_COMPANIES)]
    funnel.silver_files = len(silver_tables)
    funnel.silver_rows = sum(t.num_rows for t in silver_tables)
    current = current_companies(silver_tables)
    funnel.silver_table = current
    funnel.silver_current = current.num_rows
    reasons: Counter[str] = Counter()
    for key in store.list(keys.QUARANTINE_COMPANIES):
        if key.endswith(".parquet"):
            reasons.update(from_parquet(store.get(key))["reason"].to_pylist())
        elif key.endswith(".rejected.json"):
            reasons[json.loads(store.get(key))["reason"]] += 1
    funnel.quarantined = dict(reasons.most_common())

    dlqs = dead_letter_queues(template)
    for logical in template.of_type("AWS::SQS::Queue"):
        url = template.queue_url(logical, endpoint)
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        depth = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        (funnel.dead_letters if logical in dlqs else funnel.queues)[logical] = depth
    return funnel


def dead_letter_queues(template: Template) -> set[str]:
    targets = set()
    for res in template.of_type("AWS::SQS::Queue").values():
        policy = res.get("Properties", {}).get("RedrivePolicy")
        if policy:
            target = policy["deadLetterTargetArn"]
            targets.add(target["Fn::GetAtt"][0] if isinstance(target, dict) else str(target))
    return targets


def render(funnel: Funnel, pull: dict[str, Any] | None, apollo: dict[str, Any] | None) -> str:
    lines = []
    sweep = funnel.sweep
    state = "complete" if sweep.get("complete") else f"in progress, next page {sweep.get('next_page')}"
    lines.append(
        f"Funnel — sweep {sweep.get('sweep', '-')} ({state}; "
        f"{sweep.get('companies', 0)} of {sweep.get('total_entries', '?')} companies landed)"
    )
    if pull:
        lines.append(
            f"  Apollo pull        {pull.get('companies', 0)} companies pulled this run in "
            f"{pull.get('pages_fetched', 0)} page(s) fetched + {pull.get('pages_from_raw', 0)} rebuilt from raw; "
            f"status {pull.get('status')}{': ' + pull['stop_reason'] if pull.get('stop_reason') else ''}"
        )
        lines.append(f"  API calls          {pull.get('api_calls', 0)} this run")
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
    lines.append("  Queues             " + ", ".join(f"{q} {n}" for q, n in funnel.queues.items()))
    lines.append("  Dead-letter queues " + ", ".join(f"{q} {n}" for q, n in funnel.dead_letters.items()))
    return "\n".join(lines)
