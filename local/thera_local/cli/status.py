"""``thera status``: progress per stage, queue and DLQ depths, breaker, quota, spend and last runs."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from thera_local.cli.common import _running
from thera_local.cli.flows import message_counts
from thera_local.lambda_env import function_environment
from thera_local.stack import (
    StackInfo,
)
from thera_local.summary import dead_letter_queues
from thera_local.template import Template


def cmd_status(args: argparse.Namespace) -> int:
    info = _running(args)
    if info is None:
        return 1
    while True:
        text = "\n".join(status_lines(info))
        if not args.watch:
            print(text)
            return 0
        print("\033[H\033[J" + text, flush=True)  # clear the terminal, then the new picture
        time.sleep(args.watch)


def bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'-' * (width - filled)}] {done:>6,}/{total:<6,}"


def status_lines(info: StackInfo) -> list[str]:
    """Progress per stage, queue and DLQ depths, pollers, and the operations lines."""
    from thera.adapters.aws import DynamoStateStore
    from thera.kernel.config import ApolloPullSettings
    from thera.lake.ingest import cursor_key
    from thera_local.emulator import aws_client

    template = info.template_obj()
    sqs = aws_client("sqs", info.endpoint)
    dlqs = dead_letter_queues(template)
    status = info.call("GET", "/status")
    lines = [
        f"local stack pid {info.pid}, emulator {info.endpoint}",
        "progress (messages handled since the stack started)",
    ]
    pull = ApolloPullSettings.from_env(function_environment(template.functions()["ApolloPullFunction"], info.endpoint))
    cursors = DynamoStateStore(aws_client("dynamodb", info.endpoint), template.physical("StateTable"))
    for segment in pull.segments:  # one line per saved search (ApolloSearchSegments)
        cursor = cursors.get(cursor_key(segment.name)) or {}
        if cursor:
            lines.append(
                f"  {'Apollo sweep ' + str(cursor.get('sweep')):<28} "
                f"{bar(int(cursor.get('companies', 0)), int(cursor.get('total_entries') or 0))} companies"
                f"{' (complete)' if cursor.get('complete') else ''}"
            )
    pollers = {p["queue"]: p for p in status["pollers"].values()}
    depths: list[str] = []
    for q in template.of_type("AWS::SQS::Queue"):
        counts = message_counts(sqs, template.queue_url(q, info.endpoint))
        visible, in_flight = counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]
        kind = "DLQ  " if q in dlqs else "queue"
        depths.append(f"  {kind} {q:<24} visible {visible:>5}  in flight {in_flight:>5}")
        stats = pollers.get(q)
        if stats:
            handled = stats["messages"] - stats["failures"]
            waiting = visible + in_flight + counts["ApproximateNumberOfMessagesDelayed"]
            lines.append(f"  {q:<28} {bar(handled, handled + waiting)} messages")
    lines.extend(depths)
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
    lines.extend(operations_lines(template, info.endpoint, Path(info.home) / "logs"))
    return lines


def operations_lines(template: Template, endpoint: str, logs: Path) -> list[str]:
    """Breaker state, Apollo quota left per window, today's embedding spend, and each function's last run."""
    from thera.adapters.aws import DynamoVersionedStore
    from thera.enrichment.breaker import open_since
    from thera.kernel.config import ApolloPullSettings, EmbeddingsSettings
    from thera.lake.quota import TokenBucket
    from thera.profiles.embed import SpendLedger
    from thera.runtime import business_date
    from thera.stages.apollo_pull import APOLLO_BUCKET
    from thera.stages.firecrawl import FIRECRAWL_BREAKER
    from thera_local.emulator import aws_client

    ddb = aws_client("dynamodb", endpoint)
    functions = template.functions()
    lines = []
    breaker_table = functions["FirecrawlFunction"].environment["BREAKER_TABLE"]
    stored = DynamoVersionedStore(ddb, breaker_table).load(FIRECRAWL_BREAKER)
    doc = stored.doc if stored else {"state": "closed"}
    since = open_since(doc)
    opened = f", open for {time.time() - since:.0f} s" if since is not None else ""
    lines.append(f"  breaker firecrawl: {doc['state']}{opened}")
    pull = ApolloPullSettings.from_env(function_environment(functions["ApolloPullFunction"], endpoint))
    usage = TokenBucket(DynamoVersionedStore(ddb, pull.quota_table), APOLLO_BUCKET, pull.windows).usage()
    lines.append(
        "  apollo quota left: " + ", ".join(f"{w} {limit - used}/{limit}" for w, (used, limit) in usage.items())
    )
    embed = EmbeddingsSettings.from_env(function_environment(functions["EmbeddingsFunction"], endpoint))
    ledger = SpendLedger(DynamoVersionedStore(ddb, embed.quota_table), embed.budget_usd, 0.0, time.time)
    spend = ledger.spent(business_date(embed.timezone))
    lines.append(
        f"  embedding spend today: ${spend.usd:.6f} of ${embed.budget_usd:.2f} ({spend.tokens:,} tokens, "
        f"{spend.parked} part(s) parked)"
    )
    for logical in functions:
        path = logs / f"{logical}.log"
        last = ""
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - 65536))
                reports = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.startswith("REPORT ")]
            if reports:
                when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                last = f"last run {when}: {reports[-1].split(chr(9), 1)[1].split(chr(9))[0]}"
        lines.append(f"  {logical:<28} {last or 'not run yet'}")
    return lines
