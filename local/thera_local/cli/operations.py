"""Operating the running stack: redrive a DLQ, replay a day from raw files, switch faults for drills."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from thera_local.cli.common import _config, _err, _running
from thera_local.cli.resources import StackResources
from thera_local.stack import (
    StackInfo,
    ensure_stack,
    http_call,
    http_json,
)

REDRIVE_WAIT_SECONDS = 60  # SQS moves in the background; past this the task is reported RUNNING


def cmd_redrive(args: argparse.Namespace) -> int:
    """Move a DLQ's messages back to the queue that feeds it: SQS StartMessageMoveTask, then the task's report."""
    from thera_local.cli.status import redrive_sources

    resources = _resources(args)
    if resources is None:
        return 1
    sources = redrive_sources(resources)
    dlq = args.queue if args.queue in sources else next((d for d, r in sources.items() if r.source == args.queue), None)
    if dlq is None:
        _err(f"thera: {args.queue} is neither a DLQ nor a queue with one; DLQs: {', '.join(sorted(sources))}")
        return 2
    sqs = resources.client("sqs")
    route = sources[dlq]
    source_arn = route.dlq_arn  # the move's source is the DLQ, its destination the queue that failed
    handle = sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=route.source_arn)["TaskHandle"]
    deadline = time.monotonic() + REDRIVE_WAIT_SECONDS  # SQS moves asynchronously: follow the task a while
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
        if task.get("Status") != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    moved, to_move = task.get("ApproximateNumberOfMessagesMoved", 0), task.get("ApproximateNumberOfMessagesToMove")
    print(
        f"message move task {task.get('Status', 'STARTED')}: {moved} of {to_move if to_move is not None else '?'} "
        f"message(s) moved from {dlq} back to {route.source}"
        + (f" ({task['FailureReason']})" if task.get("FailureReason") else "")
    )
    return 0 if task.get("Status") != "FAILED" else 1


def _resources(args: argparse.Namespace) -> StackResources | None:
    """The stack a command operates: ``--stack NAME`` through CloudFormation, else the running local stack."""
    if getattr(args, "stack", None):
        return StackResources.deployed(args.stack)
    info = _running(args)
    return StackResources.local(info) if info else None


def cmd_replay(args: argparse.Namespace) -> int:
    """Silver and gold of a day rebuilt from its raw files (no API call), compared with the lake's."""
    from thera.adapters.aws import S3ObjectStore
    from thera.kernel.config import BronzeToSilverSettings
    from thera.lake.replay import replay_from_raw
    from thera.lake.silver import QualityRules

    if getattr(args, "stack", None):
        resources = StackResources.deployed(args.stack)
    else:
        config = _config(args)
        running = StackInfo.read(config.home)  # the lake of the running stack, whatever company file it runs
        resources = StackResources.local(running if running and running.alive() else ensure_stack(config, echo=_err))
    settings = BronzeToSilverSettings.from_env(resources.environment(resources.function("BronzeToSilverFunction")))
    rules = QualityRules.of(settings)
    store = S3ObjectStore(resources.client("s3"), settings.bucket)
    report = replay_from_raw(store, args.date, rules, datetime.now(UTC))
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
    else:
        print("\n".join(report.lines()))
    if report.raw_pages == 0:
        _err(f"thera: no raw Apollo pages for {args.date} (raw/apollo/date={args.date}/)")
        return 1
    return 0 if not (report.differing or report.silver_differing) else 1


def cmd_fault(args: argparse.Namespace) -> int:
    """Drive a stand-in's fault switches: an outage, N answers of one status, added latency."""
    info = _running(args)
    if info is None:
        return 1
    body: dict[str, Any] = {}
    if args.reset:
        body["reset"] = True
    if args.outage is not None:
        body["outage"] = args.outage == "on"
    if args.status is not None:
        body.update(status=args.status, count=args.count)
    if args.latency is not None:
        body["latency"] = args.latency
    if args.retry_after is not None:
        body["retry_after"] = args.retry_after
    if args.service == "lambda":
        if not args.kill:
            _err("thera: `thera fault lambda --kill` kills every running execution environment")
            return 2
        print(json.dumps(info.call("POST", "/faults/lambda")))
        return 0
    if args.service == "bedrock":
        if "outage" in body or "latency" in body or "retry_after" in body:
            _err("thera: the Bedrock stand-in takes --status N --count M (or --reset) only")
            return 2
        status, answer = http_call("POST", info.control + "/faults/bedrock", body)
        print(json.dumps(answer))
        return 0 if status == 200 else 1
    if args.service == "apollo":
        if "outage" in body:
            _err("thera: the Apollo stand-in has no outage switch; use --status 500 --count N")
            return 2
        body.pop("reset", None)
        body.pop("retry_after", None)
    base = info.firecrawl if args.service == "firecrawl" else info.apollo
    print(json.dumps(http_json("POST", base + "/__standin/faults", body)))
    return 0
