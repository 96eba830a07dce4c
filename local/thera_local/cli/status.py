"""``thera status``: progress per stage, queue and DLQ depths, breaker, quota, spend and last runs.

The queue, breaker, quota and cursor lines read the stack through AWS APIs only, by the names a
``StackResources`` resolves, so ``thera --stack NAME status`` prints them for a deployed stack
too; the progress bars and poller lines need the local stack's control API.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from thera_local.cli.common import _running
from thera_local.cli.flows import message_counts
from thera_local.cli.resources import StackResources
from thera_local.stack import StackInfo


def cmd_status(args: argparse.Namespace) -> int:
    if getattr(args, "stack", None):
        resources = StackResources.deployed(args.stack)
        picture: Callable[[], list[str]] = lambda: deployed_status_lines(resources)  # noqa: E731
    else:
        info = _running(args)
        if info is None:
            return 1
        picture = lambda: status_lines(info)  # noqa: E731
    while True:
        text = "\n".join(picture())
        if not args.watch:
            print(text)
            return 0
        print("\033[H\033[J" + text, flush=True)  # clear the terminal, then the new picture
        time.sleep(args.watch)


def bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'-' * (width - filled)}] {done:>6,}/{total:<6,}"


@dataclass(frozen=True)
class Redrive:
    """Where a DLQ's messages go back to: the queue whose RedrivePolicy sends its failures there."""

    source: str  # the source queue's logical id
    dlq_arn: str
    source_arn: str


def redrive_sources(resources: StackResources) -> dict[str, Redrive]:
    """DLQ logical id -> its source queue with both ARNs (RedrivePolicy and QueueArn, read from SQS)."""
    sqs = resources.client("sqs")
    arns: dict[str, str] = {}
    policies: dict[str, str] = {}
    for q in resources.of_type("AWS::SQS::Queue"):
        attrs = sqs.get_queue_attributes(QueueUrl=resources.physical[q], AttributeNames=["QueueArn", "RedrivePolicy"])
        arns[q] = attrs["Attributes"]["QueueArn"]
        if attrs["Attributes"].get("RedrivePolicy"):
            policies[q] = json.loads(attrs["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    by_arn = {arn: q for q, arn in arns.items()}
    return {by_arn[target]: Redrive(q, target, arns[q]) for q, target in policies.items() if target in by_arn}


def dead_letter_queues(resources: StackResources) -> set[str]:
    """The queues that hold failures: redrive targets, and the DLQs no queue redrives to (failed asynchronous
    invocations, the schedules' failed deliveries), named ...DLQ."""
    return set(redrive_sources(resources)) | {q for q in resources.of_type("AWS::SQS::Queue") if q.endswith("DLQ")}


def queue_depths(resources: StackResources) -> dict[str, dict[str, int]]:
    sqs = resources.client("sqs")
    return {q: message_counts(sqs, resources.physical[q]) for q in resources.of_type("AWS::SQS::Queue")}


def depth_lines(depths: dict[str, dict[str, int]], dlqs: set[str]) -> list[str]:
    lines = []
    for q, counts in depths.items():
        kind = "DLQ  " if q in dlqs else "queue"
        lines.append(
            f"  {kind} {q:<24} visible {counts['ApproximateNumberOfMessages']:>5}  "
            f"in flight {counts['ApproximateNumberOfMessagesNotVisible']:>5}"
        )
    return lines


def cursor_lines(resources: StackResources) -> list[str]:
    from thera.adapters.aws import DynamoStateStore
    from thera.kernel.config import ApolloPullSettings
    from thera.lake.ingest import cursor_key

    pull = ApolloPullSettings.from_env(resources.environment("ApolloPullFunction"))
    cursors = DynamoStateStore(resources.client("dynamodb"), resources.physical["StateTable"])
    lines = []
    for segment in pull.segments:  # one line per saved search (ApolloSearchSegments)
        cursor = cursors.get(cursor_key(segment.name)) or {}
        if cursor:
            lines.append(
                f"  {'Apollo sweep ' + str(cursor.get('sweep')):<28} "
                f"{bar(int(cursor.get('companies', 0)), int(cursor.get('total_entries') or 0))} companies"
                f"{' (complete)' if cursor.get('complete') else ''}"
            )
    return lines


def deployed_status_lines(resources: StackResources) -> list[str]:
    """What AWS APIs tell of a stack: the Apollo cursor, queue and DLQ depths, the operations lines."""
    lines = [f"stack {resources.name}", *cursor_lines(resources)]
    lines.extend(depth_lines(queue_depths(resources), dead_letter_queues(resources)))
    lines.extend(operations_lines(resources, lambda: last_runs_from_log_groups(resources)))
    return lines


def status_lines(info: StackInfo) -> list[str]:
    """Progress per stage, queue and DLQ depths, pollers, and the operations lines."""
    resources = StackResources.local(info)
    status = info.call("GET", "/status")
    lines = [
        f"local stack pid {info.pid}, emulator {info.endpoint}",
        "progress (messages handled since the stack started)",
        *cursor_lines(resources),
    ]
    pollers = {p["queue"]: p for p in status["pollers"].values()}
    depths = queue_depths(resources)
    for q, counts in depths.items():
        stats = pollers.get(q)
        if stats:
            handled = stats["messages"] - stats["failures"]
            waiting = sum(counts.values())
            lines.append(f"  {q:<28} {bar(handled, handled + waiting)} messages")
    lines.extend(depth_lines(depths, dead_letter_queues(resources)))
    for name, stats in status["pollers"].items():
        lines.append(
            f"  poller {name}: {stats['batches']} batches, {stats['messages']} messages, "
            f"{stats['failures']} failed, peak {stats['peak_in_flight']} in flight"
        )
    bedrock = status.get("bedrock") or {}
    if bedrock.get("answered") or bedrock.get("injected"):
        lines.append(
            f"  bedrock stand-in: {bedrock['answered']} InvokeModel answered, {bedrock['injected']} faults injected"
        )
    logs = Path(info.home) / "logs"
    lines.extend(operations_lines(resources, lambda: last_runs_from_files(resources, logs)))
    return lines


def last_run(when: datetime, report: str) -> str:
    """A status line of a function's last REPORT line: when, and its first field (the duration)."""
    return f"last run {when.strftime('%Y-%m-%d %H:%M:%S UTC')}: {report.split(chr(9), 1)[1].split(chr(9))[0]}"


def last_runs_from_files(resources: StackResources, logs: Path) -> dict[str, str]:
    """Each function's last REPORT line in the local stack's log files."""
    runs = {}
    for logical in resources.of_type("AWS::Lambda::Function"):
        path = logs / f"{logical}.log"
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - 65536))
                reports = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.startswith("REPORT ")]
            if reports:
                runs[logical] = last_run(datetime.fromtimestamp(path.stat().st_mtime, UTC), reports[-1])
    return runs


def report_lines(resources: StackResources, logical: str, start_ms: int) -> list[dict[str, Any]]:
    """A function's REPORT lines (each an invocation's end) since ``start_ms``, every page of FilterLogEvents;
    none when it has no log group yet (it never ran)."""
    from botocore.exceptions import ClientError

    logs = resources.client("logs")
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=resources.log_group(logical), startTime=start_ms, filterPattern="REPORT"
    )
    try:
        return [e for page in pages for e in page.get("events", []) if e["message"].startswith("REPORT ")]
    except ClientError:
        return []


def last_runs_from_log_groups(resources: StackResources, days: int = 2) -> dict[str, str]:
    """Each function's last REPORT line of the last ``days`` days in its log group."""
    start = int((datetime.now(UTC) - timedelta(days=days)).timestamp() * 1000)
    runs = {}
    for logical in resources.of_type("AWS::Lambda::Function"):
        reports = report_lines(resources, logical, start)
        if reports:
            last = max(reports, key=lambda e: e["timestamp"])
            runs[logical] = last_run(datetime.fromtimestamp(last["timestamp"] / 1000, UTC), last["message"])
    return runs


def operations_lines(resources: StackResources, last_runs: Callable[[], dict[str, str]]) -> list[str]:
    """Breaker state, Apollo quota left per window, today's embedding spend, and each function's last run."""
    from thera.adapters.aws import DynamoVersionedStore
    from thera.enrichment.breaker import open_since
    from thera.kernel.config import ApolloPullSettings, EmbeddingsSettings
    from thera.lake.quota import TokenBucket
    from thera.profiles.embed import SpendLedger
    from thera.runtime import business_date
    from thera.stages.apollo_pull import APOLLO_BUCKET
    from thera.stages.firecrawl import FIRECRAWL_BREAKER

    ddb = resources.client("dynamodb")
    lines = []
    breaker_table = resources.environment("FirecrawlFunction")["BREAKER_TABLE"]
    stored = DynamoVersionedStore(ddb, breaker_table).load(FIRECRAWL_BREAKER)
    doc = stored.doc if stored else {"state": "closed"}
    since = open_since(doc)
    opened = f", open for {time.time() - since:.0f} s" if since is not None else ""
    lines.append(f"  breaker firecrawl: {doc['state']}{opened}")
    pull = ApolloPullSettings.from_env(resources.environment("ApolloPullFunction"))
    usage = TokenBucket(DynamoVersionedStore(ddb, pull.quota_table), APOLLO_BUCKET, pull.windows).usage()
    lines.append(
        "  apollo quota left: " + ", ".join(f"{w} {limit - used}/{limit}" for w, (used, limit) in usage.items())
    )
    embed = EmbeddingsSettings.from_env(resources.environment("EmbeddingsFunction"))
    ledger = SpendLedger(DynamoVersionedStore(ddb, embed.quota_table), embed.budget_usd, 0.0, time.time)
    spend = ledger.spent(business_date(embed.timezone))
    lines.append(
        f"  embedding spend today: ${spend.usd:.6f} of ${embed.budget_usd:.2f} ({spend.tokens:,} tokens, "
        f"{spend.parked} part(s) parked)"
    )
    runs = last_runs()
    for logical in resources.of_type("AWS::Lambda::Function"):
        lines.append(f"  {logical:<28} {runs.get(logical) or 'not run yet'}")
    return lines
