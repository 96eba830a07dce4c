"""``thera``: run the SAM application on this machine with no AWS account and no Docker.

thera up                     run the local stack in the foreground (queues, schedules) until Ctrl-C
thera run daily              fire the daily schedules, wait until the queues drain, print the funnel
thera invoke FN -e FILE      invoke one function with an event file (like `sam local invoke`)
thera logs FN [--tail]       show a function's logs (like `sam logs`)
thera env-vars [--output F]  the --env-vars file for `sam local invoke`, pointing at the running stack
thera replay --from raw --date D  rebuild silver and gold of day D from raw files, compare with the lake
thera fault SERVICE ...      faults for drills: apollo/firecrawl/bedrock answers, lambda --kill
thera redrive QUEUE          move a DLQ's messages back to their queue
thera status [--watch]       progress per stage, queue and DLQ depths, breaker, quota left, spend, last runs
thera down                   stop the background stack (its state is kept under .thera/)
thera reset                  stop it and forget all local state
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from thera_local.apollo_standin import CompanyFileError, load_companies
from thera_local.async_invocations import fire
from thera_local.cloudformation import sam_hint
from thera_local.lambda_env import function_environment, invoke_once
from thera_local.schedules import scheduler_input
from thera_local.stack import (
    Requested,
    Stack,
    StackConfig,
    StackInfo,
    StackStartError,
    ensure_stack,
    http_call,
    http_json,
    kept_data,
    settle_config,
    stop_stack,
)
from thera_local.summary import dead_letter_queues, read_funnel, render
from thera_local.template import FunctionSpec, Template
from thera_local.weekly import run_weekly, synthetic_feedback


def project_root() -> Path:
    env = os.environ.get("THERA_PROJECT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").exists() and (folder / "local" / "thera_local").exists():
            return folder
    source = Path(__file__).resolve().parents[2]
    if (source / "template.yaml").exists():
        return source
    raise SystemExit("thera: run me inside the project (no template.yaml found); or set THERA_PROJECT")


def default_home(root: Path) -> Path:
    return Path(os.environ.get("THERA_HOME", root / ".thera")).resolve()


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit status 2."""


def _config(args: argparse.Namespace) -> StackConfig:
    """The stack this command talks to: the options it gives, else the running stack's (its data above all)."""
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    parameters = getattr(args, "parameter", None)
    if parameters and any("=" not in p for p in parameters):
        raise UsageError(f"--parameter takes NAME=VALUE, got {next(p for p in parameters if '=' not in p)!r}")
    requested = Requested(
        data=Path(args.data).resolve() if args.data else None,
        overrides=dict(p.split("=", 1) for p in parameters) if parameters else None,
        apollo_latency=getattr(args, "apollo_latency", None),
        retry_delay=getattr(args, "retry_delay", None),
    )
    info = StackInfo.read(home)
    running = info.identity if info and info.alive() else None
    kept = kept_data(home)
    if requested.data is None and running is None and kept is not None and not kept.exists():
        raise UsageError(f"the state under {home} was built from {kept}, which is gone: pass --data, or `thera reset`")
    return settle_config(
        home,
        Path(args.template).resolve() if getattr(args, "template", None) else root / "template.yaml",
        root / "local" / "data" / "companies_sample.jsonl",
        requested,
        running,
        kept,
        schedules=not getattr(args, "no_schedules", False),
    )


def _function(template: Template, name: str) -> FunctionSpec:
    functions = template.functions()
    for spec in functions.values():
        if name in (spec.logical_id, spec.name):
            return spec
    raise SystemExit(f"thera: no function {name!r}; known: {', '.join(sorted(functions))}")


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- commands


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


def wait_for_drain(info: StackInfo, template: Template, timeout: float, echo: Any = print) -> bool:
    """True once every non-DLQ queue is empty and no batch is being handled, twice in a row."""
    from thera_local.emulator import aws_client

    sqs = aws_client("sqs", info.endpoint)
    dlqs = dead_letter_queues(template)
    queues = [q for q in template.of_type("AWS::SQS::Queue") if q not in dlqs]
    idle_checks, deadline, last = 0, time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        depth = {}
        for q in queues:
            depth[q] = sum(message_counts(sqs, template.queue_url(q, info.endpoint)).values())
        in_flight = int(info.call("GET", "/status").get("in_flight", 0))
        busy = sum(depth.values()) + in_flight
        idle_checks = idle_checks + 1 if busy == 0 else 0
        if idle_checks >= 2:
            return True
        line = (
            "  waiting for queues: "
            + ", ".join(f"{q} {n}" for q, n in depth.items())
            + f"; batches in flight {in_flight}"
        )
        if line != last:
            echo(line)
            last = line
        time.sleep(0.5)
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
    config = _config(args)
    info = ensure_stack(config)
    template = info.template_obj()
    if args.flow == "weekly":
        return run_weekly_flow(info, args)
    if args.flow == "ams":
        results = fire_schedules(info, "Ams")
        print(json.dumps(results, indent=2), flush=True)
        return 0 if all(r.get("status") != "failed" for r in results.values()) else 1
    pulls = fire_schedules(info, "Daily")
    drained = wait_for_drain(info, template, args.timeout)
    if drained:  # the index builder runs every few minutes in AWS; here, as soon as the flow is done
        pulls.update(fire_schedules(info, "IndexRefresh"))
    info.call("POST", "/snapshot", timeout=300)
    funnel = read_funnel(template, info.endpoint)
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
    if args.synthetic_feedback or labels < SYNTHETIC_BELOW:
        companies = load_companies(Path(json.loads((Path(info.home) / "state.json").read_text())["data"]))
        counts = synthetic_feedback(info, companies)
        print(f"synthetic feedback from the dataset's tags: {counts}", flush=True)
    name = "weekly-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"running {template.physical('WeeklyTrainingStateMachine')} (execution {name})", flush=True)
    execution = run_weekly(info, name)
    for record in execution.history:
        detail = f" {record.error}" if record.status == "failed" and record.error else ""
        print(f"  {record.name:<42} {record.type:<9} {record.status:<9} {record.seconds:6.1f} s{detail}", flush=True)
    out = execution.output if isinstance(execution.output, dict) else {}
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


def cmd_match(args: argparse.Namespace) -> int:
    info = ensure_stack(_config(args), echo=_err)  # stdout is the answer (--json)
    if not info.api:
        _err("thera: the template declares no HTTP API")
        return 2
    body: dict[str, Any] = {"challenge_text": args.challenge, "top_k": args.top}
    body.update({k: v for k, v in (("industry", args.industry), ("country", args.country)) if v})
    status, answer = http_call("POST", info.api + "/match", body)
    if status != 200:
        _err(f"thera: {status}: {answer.get('error') or answer.get('message') or answer}")
        return 1
    if args.json:
        print(json.dumps(answer["matches"], indent=2))
        return 0
    print(f"challenge {answer['challenge_id']} · model {answer['model_version']} · index {answer['index_version']}")
    for m in answer["matches"]:
        print(f"{m['rank']:>3}. {m['score']:.3f}  {m['name']} ({m['domain']})  {', '.join(m['industries'])}")
        for reason in m["reasons"]:
            print(f"       - {reason}")
    print(f"explorer: {info.api}/")
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    config = _config(args)
    info = ensure_stack(config, echo=_err)
    spec = _function(info.template_obj(), args.function)
    event = json.loads(Path(args.event).read_text()) if args.event else {}
    log_path = Path(info.home) / "logs" / f"{spec.logical_id}.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    result = invoke_once(spec, info.endpoint, log_path.parent, event)
    with log_path.open() as fh:
        fh.seek(start)
        sys.stderr.write(fh.read())
    print(json.dumps(result.payload, indent=2, default=str))
    return 0 if result.ok else 1


_SINCE = re.compile(r"^(\d+)([smhd])$")


ENV_VARS_HELP = """\
Write the JSON file that `sam local invoke --env-vars FILE` reads: for every function,
exactly the variables template.yaml declares for it (Globals and its own), with the
running local stack's values: table and bucket names, queue URLs on the emulator, the
stand-ins' URLs. A stack is started in the background when none runs; the file holds
while that stack runs (its ports change when it restarts: write the file again).

A Lambda container does not reach this machine at 127.0.0.1, where the stack listens, so
the file names this machine by --host-address:
  Docker Desktop (macOS, Windows): the default, host.docker.internal, which Docker
    Desktop forwards to this machine's loopback.
  Linux: Docker's bridge network cannot reach a service on 127.0.0.1; run
    `sam local invoke --docker-network host ...` with --host-address 127.0.0.1.

  thera env-vars --output .thera/env.json
  sam build
  sam local invoke MatcherFunction -e events/matcher_http_health.json \\
      --env-vars .thera/env.json --region us-east-1

The functions' AWS calls go to the stack's emulator through LOCAL_AWS_ENDPOINT_URL, which
template.yaml declares for every function (empty when deployed); the stack's resources live
in us-east-1, hence --region us-east-1 (SAM otherwise passes your profile's region). SAM
passes a function only the variables the template declares (any other name in the file is
dropped): notes on stderr name what a container cannot use from the stack (files of this
machine, or the endpoint if the template stops declaring it).
"""


def cmd_env_vars(args: argparse.Namespace) -> int:
    """Write the ``--env-vars`` JSON of ``sam local invoke`` for the running stack (started when none runs)."""
    from thera_local.sam_env import env_vars_file

    if not args.host_address or any(c in args.host_address for c in "/: "):
        raise UsageError(f"--host-address takes a host name or IP address, got {args.host_address!r}")
    info = ensure_stack(_config(args), echo=_err)
    written = env_vars_file(info.template_obj(), info.endpoint, args.host_address)
    text = json.dumps(written.doc, indent=2, sort_keys=True) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        _err(
            f"wrote {args.output}: {len(written.doc) - 1} functions, for the stack with pid {info.pid} "
            "(write it again after the stack restarts: its ports change)"
        )
    else:
        sys.stdout.write(text)
    for line in written.notes(info.endpoint):
        _err(line)
    return 0


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    m = _SINCE.match(text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _line_time(line: str) -> datetime | None:
    if not line.startswith("{"):
        return None
    try:
        stamp = json.loads(line).get("timestamp")
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f%z").astimezone(UTC) if stamp else None
    except (ValueError, TypeError, AttributeError):
        return None


def cmd_logs(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    spec = _function(Template(root / "template.yaml"), args.function)
    path = home / "logs" / f"{spec.logical_id}.log"
    since = _since(args.since)
    if not path.exists() and not args.tail:
        _err(f"thera: no logs yet for {spec.logical_id} ({path})")
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    current: datetime | None = None
    with path.open() as fh:
        while True:
            line = fh.readline()
            if not line:
                if not args.tail:
                    return 0
                time.sleep(0.5)
                continue
            current = _line_time(line) or current
            if since and (current is None or current < since):
                continue
            if args.filter and args.filter not in line:
                continue
            sys.stdout.write(line)
            sys.stdout.flush()


def _running(args: argparse.Namespace) -> StackInfo | None:
    home = Path(args.home).resolve() if args.home else default_home(project_root())
    info = StackInfo.read(home)
    if not info or not info.alive():
        _err("thera: no local stack running (`thera up` or `thera run daily` starts one)")
        return None
    return info


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
    from thera.ingest import CURSOR_KEY
    from thera_local.emulator import aws_client

    template = info.template_obj()
    sqs = aws_client("sqs", info.endpoint)
    dlqs = dead_letter_queues(template)
    status = info.call("GET", "/status")
    lines = [
        f"local stack pid {info.pid}, emulator {info.endpoint}",
        "progress (messages handled since the stack started)",
    ]
    cursor = (
        DynamoStateStore(aws_client("dynamodb", info.endpoint), template.physical("StateTable")).get(CURSOR_KEY) or {}
    )
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
    from thera.breaker import open_since
    from thera.config import ApolloPullSettings, EmbeddingsSettings
    from thera.embed import SpendLedger
    from thera.quota import TokenBucket
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


def cmd_redrive(args: argparse.Namespace) -> int:
    """Move a DLQ's messages back to the queue that feeds it (the local stand-in for SQS redrive)."""
    info = _running(args)
    if info is None:
        return 1
    from thera.adapters.aws import SqsQueue
    from thera.embed import move_messages
    from thera_local.emulator import aws_client

    template = info.template_obj()
    sources = {}
    for logical, res in template.of_type("AWS::SQS::Queue").items():
        policy = res.get("Properties", {}).get("RedrivePolicy")
        if policy:
            sources[policy["deadLetterTargetArn"]["Fn::GetAtt"][0]] = logical
    dlq = args.queue if args.queue in sources else next((d for d, q in sources.items() if q == args.queue), None)
    if dlq is None:
        _err(f"thera: {args.queue} is neither a DLQ nor a queue with one; DLQs: {', '.join(sorted(sources))}")
        return 2
    sqs = aws_client("sqs", info.endpoint)
    moved = move_messages(
        SqsQueue(sqs, template.queue_url(dlq, info.endpoint)),
        SqsQueue(sqs, template.queue_url(sources[dlq], info.endpoint)),
        lambda: 3600.0,
    )
    print(f"moved {moved} message(s) from {dlq} back to {sources[dlq]}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Silver and gold of a day rebuilt from its raw files (no API call), compared with the lake's."""
    from thera.adapters.aws import S3ObjectStore
    from thera.config import BronzeToSilverSettings
    from thera.replay import replay_from_raw
    from thera.silver import QualityRules
    from thera_local.emulator import aws_client

    config = _config(args)
    running = StackInfo.read(config.home)  # the lake of the running stack, whatever company file it runs
    info = running if running and running.alive() else ensure_stack(config, echo=_err)
    template = info.template_obj()
    env = function_environment(_function(template, "BronzeToSilverFunction"), info.endpoint)
    settings = BronzeToSilverSettings.from_env(env)
    rules = QualityRules.of(settings)
    store = S3ObjectStore(aws_client("s3", info.endpoint), settings.bucket)
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


def cmd_down(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    print("local stack stopped" if stop_stack(home) else "no local stack was running")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    stop_stack(home)
    shutil.rmtree(home, ignore_errors=True)
    print(f"local state removed ({home})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thera", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, stack: bool = True) -> None:
        p.add_argument("--home", help="state folder (default: .thera in the project, or $THERA_HOME)")
        if stack:
            p.add_argument(
                "--data",
                help="company file in the format of yc_companies.jsonl (default: the running stack's, else the one "
                "its kept state was built from, else the bundled sample); another file restarts the stack",
            )
            p.add_argument("--template", help=argparse.SUPPRESS)
            p.add_argument(
                "--parameter", action="append", metavar="NAME=VALUE", help="template parameter override (repeatable)"
            )
            p.add_argument(
                "--apollo-latency",
                type=float,
                default=None,
                help="seconds the Apollo stand-in waits before each answer (default: the running stack's, else 0)",
            )
            p.add_argument(
                "--retry-delay",
                type=int,
                default=None,
                help="seconds before a failed message is retried (default: the running stack's, else the queue's "
                "visibility timeout)",
            )

    p = sub.add_parser("up", help="run the local stack in the foreground")
    common(p)
    p.add_argument("--no-schedules", action="store_true", help="do not fire schedules at their times")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("run", help="fire a flow's schedules and wait until the queues drain")
    common(p)
    p.add_argument(
        "flow",
        choices=["daily", "weekly", "ams"],
        help="daily: the pull and every stage after it; weekly: the training state machine; ams: the day's AMS",
    )
    p.add_argument(
        "--synthetic-feedback",
        action="store_true",
        help="weekly: first answer the matcher's shortlists for the dataset's common tags (always done while fewer "
        f"than {SYNTHETIC_BELOW} decisions are stored)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the queues to drain")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("match", help="rank startups for a challenge through the local HTTP API")
    common(p)
    p.add_argument("challenge", help="the challenge text")
    p.add_argument("--top", type=int, default=20, help="how many startups (1-100, default 20)")
    p.add_argument("--industry", help="only startups in this industry")
    p.add_argument("--country", help="only startups in this country")
    p.add_argument("--json", action="store_true", help="print the matches as a JSON list")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("invoke", help="invoke a function with an event file")
    common(p)
    p.add_argument("function")
    p.add_argument("-e", "--event", help="event JSON file (see events/)")
    p.set_defaults(func=cmd_invoke)

    p = sub.add_parser(
        "env-vars",
        help="write the --env-vars file for `sam local invoke`, pointing each function at the running stack",
        description=ENV_VARS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p)
    p.add_argument("-o", "--output", help="write the JSON here (default: standard output)")
    p.add_argument(
        "--host-address",
        default="host.docker.internal",
        help="how the Lambda container reaches this machine (default host.docker.internal, for Docker Desktop; "
        "127.0.0.1 with `sam local invoke --docker-network host` on Linux)",
    )
    p.set_defaults(func=cmd_env_vars)

    p = sub.add_parser("logs", help="show a function's logs")
    common(p, stack=False)
    p.add_argument("function")
    p.add_argument("-t", "--tail", action="store_true", help="keep following new lines")
    p.add_argument("--filter", help="only lines containing this text")
    p.add_argument("-s", "--since", help="only lines since a time: 10m, 2h, 1d or ISO 8601")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("redrive", help="move a DLQ's messages back to its source queue (after a fix)")
    common(p, stack=False)
    p.add_argument("queue", help="the DLQ (CrawlDLQ) or the queue it serves (CrawlQueue)")
    p.set_defaults(func=cmd_redrive)

    p = sub.add_parser("replay", help="rebuild a day's silver and gold from raw files (no API call) and compare")
    common(p)
    p.add_argument("--from", dest="source", choices=["raw"], default="raw", help="what to rebuild from (raw)")
    p.add_argument("--date", required=True, help="the business day (YYYY-MM-DD) whose raw files to replay")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("fault", help="switch a stand-in's faults: outage, status codes, latency")
    common(p, stack=False)
    p.add_argument(
        "service",
        choices=["firecrawl", "apollo", "bedrock", "lambda"],
        help="a stand-in (bedrock: InvokeModel in the emulator), or lambda: the execution environments",
    )
    p.add_argument("--kill", action="store_true", help="lambda: kill every environment now, mid-invocation")
    p.add_argument("--outage", choices=["on", "off"], help="firecrawl: answer 503 to every scrape")
    p.add_argument("--status", type=int, help="answer this HTTP status (e.g. 429, 500, 503) ...")
    p.add_argument("--count", type=int, default=1, help="... this many times")
    p.add_argument("--retry-after", type=int, help="firecrawl: Retry-After seconds on 429s")
    p.add_argument("--latency", type=float, help="seconds added to every answer")
    p.add_argument("--reset", action="store_true", help="firecrawl, bedrock: back to normal first")
    p.set_defaults(func=cmd_fault)

    p = sub.add_parser("status", help="progress, queue and DLQ depths, breaker, quota, spend, last runs")
    common(p, stack=False)
    p.add_argument(
        "-w", "--watch", type=float, nargs="?", const=2.0, default=0.0, help="redraw every N seconds (default 2)"
    )
    p.set_defaults(func=cmd_status)

    for name, func, text in (
        ("down", cmd_down, "stop the background stack"),
        ("reset", cmd_reset, "stop the stack and forget local state"),
    ):
        p = sub.add_parser(name, help=text)
        common(p, stack=False)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, CompanyFileError) as exc:
        _err(f"thera: {exc}")
        return 2
    except StackStartError as exc:
        _err(f"thera: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
