"""The flows: ``thera up`` in the foreground, ``thera run daily|weekly|ams`` and the wait for the queues to drain."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from thera_local.async_invocations import fire
from thera_local.cli.common import UsageError, _config, _err
from thera_local.cli.resources import StackResources
from thera_local.cloudformation import sam_hint
from thera_local.lambda_env import invoke_once
from thera_local.schedules import scheduler_input
from thera_local.stack import (
    Stack,
    StackInfo,
    ensure_stack,
)
from thera_local.standins.apollo import load_companies
from thera_local.summary import read_funnel, render
from thera_local.usage import Probe
from thera_local.weekly import run_weekly, synthetic_feedback


def cmd_up(args: argparse.Namespace) -> int:
    config = _config(args)
    running = StackInfo.read(config.home)
    if running and running.alive() and running.pid != os.getpid():
        _err(f"thera: a local stack already runs (pid {running.pid}); `thera down` first")
        return 1
    # Dozens of threads share this process (the emulator's request threads, the pollers, the stand-ins);
    # a request waiting for the GIL behind a busy thread waited up to the 5 ms default per handover,
    # several times per request. 2,000 companies through `thera run daily`: 145 s at 5 ms, 123 s at 1 ms
    # (0.5 ms 129 s, 0.2 ms 136 s: more handovers than the waits they save).
    sys.setswitchinterval(0.001)
    load_companies(config.data)  # a bad file is refused in one line before start() resets the kept state
    stack = Stack(config)
    info = stack.start()
    print(
        f"local stack up (pid {info.pid})\n  AWS emulator  {info.endpoint}\n  Apollo        {info.apollo}\n"
        f"  functions     {', '.join(stack.template.functions()) if stack.template else ''}\n"
        f"  logs          {config.home / 'logs'}\n"
        f"  schedules     {'on' if config.schedules else 'off'}\n{sam_hint(info.endpoint)}\nCtrl-C stops it.",
        flush=True,
    )

    def on_signal(signum: int, frame: Any) -> None:
        stack._stopping.is_set() or __import__("threading").Thread(target=stack.stop, daemon=True).start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack.wait()
    print("local stack stopped; state saved under", config.home / "state", flush=True)
    return 0


def wait_for_drain(info: StackInfo, timeout: float, echo: Any = print) -> bool:
    """The local stack's queues drained and no batch being handled (the control API counts them)."""
    return wait_for_queues(
        StackResources.local(info),
        timeout,
        poll=0.5,
        echo=echo,
        in_flight=lambda: int(info.call("GET", "/status").get("in_flight", 0)),
    )


def wait_for_queues(
    resources: StackResources,
    timeout: float,
    poll: float = 2.0,
    echo: Any = print,
    in_flight: Callable[[], int] = lambda: 0,
) -> bool:
    """True once every queue but the DLQs is empty (nothing visible, in flight or delayed) and ``in_flight``
    says no batch is being handled, twice in a row; prints what it waits for when that changes."""
    from thera_local.cli.status import dead_letter_queues, queue_depths  # status imports this module

    dlqs = dead_letter_queues(resources)
    idle, deadline, last = 0, time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        depths = {q: sum(c.values()) for q, c in queue_depths(resources).items() if q not in dlqs}
        handling = in_flight()
        idle = idle + 1 if sum(depths.values()) + handling == 0 else 0
        if idle >= 2:
            return True
        waiting = [f"{q} {n}" for q, n in depths.items() if n] + ([f"batches in flight {handling}"] if handling else [])
        line = "  waiting for " + ", ".join(waiting)
        if waiting and line != last:
            echo(line)
            last = line
        time.sleep(poll)
    return False


def message_counts(sqs: Any, url: str) -> dict[str, int]:
    """A queue's visible, in-flight (not visible) and delayed message counts."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {name: int(value) for name, value in attrs.items()}


def fire_schedules(info: StackInfo, prefix: str) -> dict[str, Any]:
    """Fire now every schedule whose name starts with ``prefix``; each function's result by logical id."""
    results: dict[str, Any] = {}
    for spec in info.template_obj().functions().values():
        for sched in spec.schedules:
            if not sched.name.startswith(prefix):
                continue
            print(f"firing {spec.logical_id} ({sched.name}: {sched.expression} {sched.timezone})", flush=True)
            event = scheduler_input(sched.input, datetime.now(UTC), f"arn:aws:scheduler:local:schedule/{sched.name}")
            firing = fire(Path(info.home) / "invocations", f"{spec.logical_id}.{sched.name}", event)
            if firing.retry:
                print(
                    f"retrying the interrupted invocation {firing.request_id} (Lambda keeps its request id)", flush=True
                )
            result = invoke_once(
                spec, info.endpoint, Path(info.home) / "logs", firing.event, request_id=firing.request_id
            )
            firing.done()
            if not result.ok:
                _err(f"{spec.logical_id} failed: {result.error_message} (see `thera logs {spec.logical_id}`)")
                results[spec.logical_id] = {"status": "failed", "stop_reason": result.error_message}
            else:
                results[spec.logical_id] = result.payload
    return results


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "stack", None):
        from thera_local.cli.stack_flows import run_daily, run_weekly

        if args.flow not in ("daily", "weekly"):
            raise UsageError(f"--stack runs the daily and weekly flows, not {args.flow}")
        resources = StackResources.deployed(args.stack)
        return run_daily(resources, args.timeout) if args.flow == "daily" else run_weekly(resources, args.timeout)
    config = _config(args)
    info = ensure_stack(config)
    if args.flow == "weekly":
        return run_weekly_flow(info, args)
    if args.flow == "ams":
        results = fire_schedules(info, "Ams")
        print(json.dumps(results, indent=2), flush=True)
        return 0 if all(r.get("status") != "failed" for r in results.values()) else 1
    probe = Probe(info).start()  # what the run uses, for `thera cost`
    pulls = fire_schedules(info, "Daily")
    drained = wait_for_drain(info, args.timeout)
    if drained:  # the index builder runs every few minutes in AWS; here, as soon as the flow is done
        pulls.update(fire_schedules(info, "IndexRefresh"))
    companies = int((pulls.get("ApolloPullFunction") or {}).get("companies") or 0)
    probe.record("daily", companies, data=json.loads((Path(info.home) / "state.json").read_text()).get("data"))
    info.call("POST", "/snapshot", timeout=300)
    funnel = read_funnel(StackResources.local(info))
    apollo = info.call("GET", "/status").get("apollo")
    print(render(funnel, pulls.get("ApolloPullFunction"), apollo), flush=True)
    print(sam_hint(info.endpoint), flush=True)
    if not drained:
        _err(f"thera: queues did not drain within {args.timeout:.0f}s")
        return 1
    return 0 if all(p.get("status") != "failed" for p in pulls.values()) else 1


SYNTHETIC_BELOW = 200  # decisions: fewer and a demo run would only show the too-few-labels path


def run_weekly_flow(info: StackInfo, args: argparse.Namespace) -> int:
    from thera_local.emulator import aws_client

    template = info.template_obj()
    s3 = aws_client("s3", info.endpoint)
    bucket = template.physical("DataLakeBucket")
    labels = s3.list_objects_v2(Bucket=bucket, Prefix="feedback/", MaxKeys=SYNTHETIC_BELOW).get("KeyCount", 0)
    imported = s3.list_objects_v2(Bucket=bucket, Prefix="labels/imported/", MaxKeys=1).get("KeyCount", 0)
    if args.synthetic_feedback or (labels < SYNTHETIC_BELOW and not imported):  # imported decisions: the user's own
        companies = load_companies(Path(json.loads((Path(info.home) / "state.json").read_text())["data"]))
        counts = synthetic_feedback(info, companies)
        print(f"synthetic feedback from the dataset's tags: {counts}", flush=True)
    name = "weekly-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"running {template.physical('WeeklyTrainingStateMachine')} (execution {name})", flush=True)
    probe = Probe(info).start()  # what the training uses, for `thera cost`
    execution = run_weekly(info, name)
    probe.record("weekly", 1, transitions=len(execution.history))
    for record in execution.history:
        detail = f" {record.error}" if record.status == "failed" and record.error else ""
        print(f"  {record.name:<42} {record.type:<9} {record.status:<9} {record.seconds:6.1f} s{detail}", flush=True)
    out = execution.output if isinstance(execution.output, dict) else {}
    training = out.get("training_set") or {}
    if training:
        brought = training.get("imported") or {}
        print(
            f"\nlabels: {sum(training['counts'].values())}, {brought.get('labels', 0)} of them imported "
            f"({brought.get('skipped_unknown_domain', 0)} imported skipped: startup not in the index)"
        )
    evaluation = out.get("evaluation") or {}
    if evaluation:
        print(f"\n{'model':<34} {'train ROC':>9} {'train PR':>9} {'val ROC':>8} {'val PR':>8} {'gap':>7}")
        for model, m in evaluation["table"].items():
            print(
                f"{model:<34} {m['train_roc_auc']:>9.3f} {m['train_pr_auc']:>9.3f} {m['validation_roc_auc']:>8.3f} "
                f"{m['validation_pr_auc']:>8.3f} {m['gap']:>7.3f}"
            )
        verdict = "promoted" if "serving" in out else "kept the champion"
        print(
            f"\nchallenger {evaluation['challenger']['version']} beats {evaluation['champion']} by "
            f"{evaluation['beats_by']:+.4f} PR-AUC (margin {evaluation['margin']}), gap {evaluation['gap']:.4f} "
            f"(limit {evaluation['max_gap']}): {verdict}"
        )
        if "serving" in out:
            print(f"serving now: {out['serving']['versions']}")
        prefix = evaluation["report_key"].rsplit("/", 1)[0] + "/"
        target = Path(info.home) / "reports" / evaluation["challenger"]["version"]
        target.mkdir(parents=True, exist_ok=True)
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            (target / obj["Key"].rsplit("/", 1)[1]).write_bytes(body)
        print(f"report: {target / 'index.html'}")
    if execution.status != "SUCCEEDED":
        _err(f"thera: the weekly training failed: {execution.error}: {execution.cause}")
        for note in execution.published:
            _err(f"notified {note['topic']}: {note['message']}")
        return 1
    return 0
