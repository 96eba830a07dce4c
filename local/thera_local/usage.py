"""What a local run used, measured around it, for ``thera cost``.

``Probe.start`` notes where each function's log ends, the emulator's request counts, the
stand-ins' counters and the bucket's bytes; ``Probe.finish`` reads everything since: the REPORT
lines (GB-seconds: billed duration, init included, times memory), the custom metrics the functions
emitted (EMF lines), the requests by service and action, the tokens the embedding stage charged, Firecrawl's answered
scrapes (one credit each), Apollo calls, and the bytes the bucket grew by. ``thera run daily``
writes the record to ``<home>/usage/daily.json``.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from thera_local.cost import DAYS_PER_MONTH, Fixed, Measured
from thera_local.emulator.server import COUNTS_PATH
from thera_local.stack import StackInfo, http_json
from thera_local.template import FunctionSpec, Template

REPORT = re.compile(r"^REPORT RequestId: \S+\t(?P<rest>.*)$")
FIELD = re.compile(r"(?P<name>Duration|Init Duration|Memory Size): (?P<value>[\d.]+)")


def usage_dir(home: Path) -> Path:
    return home / "usage"


def function_usage(text: str, spec: FunctionSpec) -> tuple[int, float]:
    """Invocations and GB-seconds in a function's log text: each REPORT line's duration plus its
    init, rounded up to the millisecond, times its memory; a timeout bills the whole timeout."""
    invocations, gb_s = 0, 0.0
    for line in text.splitlines():
        match = REPORT.match(line)
        if not match:
            continue
        invocations += 1
        rest = match.group("rest")
        values = {m.group("name"): float(m.group("value")) for m in FIELD.finditer(rest)}
        memory = values.get("Memory Size", spec.memory)
        if "Status: timeout" in rest:
            ms = spec.timeout * 1000.0
        else:
            ms = math.ceil(values.get("Duration", 0.0) + values.get("Init Duration", 0.0))
        gb_s += ms / 1000.0 * memory / 1024.0
    return invocations, gb_s


def custom_metrics(text: str) -> set[tuple[str, str, str]]:
    """The distinct metrics (namespace, name, dimension values) in EMF lines: what CloudWatch bills."""
    found: set[tuple[str, str, str]] = set()
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        try:
            doc = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        for directive in (doc.get("_aws") or {}).get("CloudWatchMetrics") or []:
            for dims in directive.get("Dimensions") or [[]]:
                values = ",".join(f"{d}={doc.get(d)}" for d in dims)
                for metric in directive.get("Metrics") or []:
                    found.add((directive.get("Namespace", ""), metric.get("Name", ""), values))
    return found


def schedule_invocations(template: Template, days: int = DAYS_PER_MONTH) -> int:
    """How often the template's schedules fire in ``days`` days."""
    from thera_local.schedules import next_fire

    start = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: weekly schedules fire a whole number of times
    end = start + timedelta(days=days)
    count = 0
    for spec in template.functions().values():
        for sched in spec.schedules:
            when = next_fire(sched.expression, sched.timezone, start)
            while when < end:
                count += 1
                when = next_fire(sched.expression, sched.timezone, when)
    return count


# The request metrics one S3 metrics configuration turns on (AllRequests ... TotalRequestLatency, the 4xx/5xx
# errors among them), billed as custom metrics (S3 user guide, "Monitoring metrics with CloudWatch").
S3_REQUEST_METRICS = 16


def fixed_costs(template: Template, metrics: int) -> Fixed:
    """What the template costs whatever the volume; ``metrics`` are the custom metrics the code emitted."""
    functions = template.functions()
    request_metrics = S3_REQUEST_METRICS * sum(
        len(bucket.get("Properties", {}).get("MetricsConfigurations", []))
        for bucket in template.of_type("AWS::S3::Bucket").values()
    )
    return Fixed(
        alarms=len(template.of_type("AWS::CloudWatch::Alarm")),
        dashboards=len(template.of_type("AWS::CloudWatch::Dashboard")),
        secrets=len(template.of_type("AWS::SecretsManager::Secret")),
        kms_keys=len(template.of_type("AWS::KMS::Key")),
        sqs_mappings=sum(len(spec.sqs_events) for spec in functions.values()),
        custom_metrics=metrics + request_metrics,
        schedule_invocations=schedule_invocations(template),
    )


def bucket_bytes(template: Template, endpoint: str) -> int:
    from thera_local.emulator import aws_client

    s3 = aws_client("s3", endpoint)
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=template.physical("DataLakeBucket")):
        total += sum(int(o["Size"]) for o in page.get("Contents", []))
    return total


def _delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for service, actions in after.items():
        for action, n in actions.items():
            d = n - before.get(service, {}).get(action, 0)
            if d:
                out.setdefault(service, {})[action] = d
    return out


class Probe:
    """A measurement around some work on the running stack."""

    def __init__(self, info: StackInfo) -> None:
        self.info = info
        self.template = info.template_obj()
        self.logs = Path(info.home) / "logs"

    def _state(self) -> dict[str, Any]:
        status = self.info.call("GET", "/status")
        offsets = {}
        for logical in self.template.functions():
            path = self.logs / f"{logical}.log"
            offsets[logical] = path.stat().st_size if path.exists() else 0
        return {
            "requests": http_json("GET", self.info.endpoint + COUNTS_PATH)["requests"],
            "offsets": offsets,
            "apollo_calls": int((status.get("apollo") or {}).get("calls", 0)),
            "firecrawl_ok": int(((status.get("firecrawl") or {}).get("by_status") or {}).get("200", 0)),
            "bedrock_tokens": self._embedding_tokens(),
            "s3_bytes": bucket_bytes(self.template, self.info.endpoint),
        }

    def _embedding_tokens(self) -> int:
        """Tokens the embedding stage charged today (its spend ledger): Bedrock's or the local model's alike."""
        from thera.adapters.aws import DynamoVersionedStore
        from thera.kernel.config import EmbeddingsSettings
        from thera.profiles.embed import SpendLedger
        from thera.runtime import business_date
        from thera_local.emulator import aws_client
        from thera_local.lambda_env import function_environment

        spec = self.template.functions()["EmbeddingsFunction"]
        settings = EmbeddingsSettings.from_env(function_environment(spec, self.info.endpoint))
        store = DynamoVersionedStore(aws_client("dynamodb", self.info.endpoint), settings.quota_table)
        ledger = SpendLedger(store, settings.budget_usd, 0.0, time.time)
        return int(ledger.spent(business_date(settings.timezone)).tokens)

    def start(self) -> Probe:
        self.before = self._state()
        return self

    def finish(self, units: int, api_requests: int = 0, tokens: int = 0, transitions: int = 0) -> tuple[Measured, int]:
        """What the work used, and how many distinct custom metrics it emitted."""
        after = self._state()
        invocations, gb_s, log_bytes = 0, 0.0, 0
        metrics: set[tuple[str, str, str]] = set()
        for logical, spec in self.template.functions().items():
            path = self.logs / f"{logical}.log"
            if not path.exists():
                continue
            with path.open("rb") as fh:
                fh.seek(self.before["offsets"].get(logical, 0))
                data = fh.read(max(0, after["offsets"][logical] - self.before["offsets"].get(logical, 0)))
            log_bytes += len(data)
            text = data.decode(errors="replace")
            n, g = function_usage(text, spec)
            invocations, gb_s = invocations + n, gb_s + g
            metrics |= custom_metrics(text)
        requests = _delta(after["requests"], self.before["requests"])
        measured = Measured(
            units=units,
            gb_seconds=gb_s,
            invocations=invocations,
            requests=requests,
            log_bytes=log_bytes,
            s3_added_bytes=max(0, after["s3_bytes"] - self.before["s3_bytes"]),
            bedrock_tokens=after["bedrock_tokens"] - self.before["bedrock_tokens"] + tokens,
            firecrawl_credits=after["firecrawl_ok"] - self.before["firecrawl_ok"],
            apollo_calls=after["apollo_calls"] - self.before["apollo_calls"],
            api_requests=api_requests,
            state_transitions=transitions,
        )
        return measured, len(metrics)

    def record(
        self, name: str, units: int, api_requests: int = 0, tokens: int = 0, transitions: int = 0, **extra: Any
    ) -> Path:
        """Finish and write the record ``<home>/usage/<name>.json`` (``tokens``: embedded outside the ledger;
        ``transitions``: the states a state machine's execution went through)."""
        measured, metrics = self.finish(units, api_requests, tokens, transitions)
        fixed = fixed_costs(self.template, metrics)
        return write_record(Path(self.info.home), name, measured, fixed, {**extra, "emitted_metrics": metrics})


def write_record(home: Path, name: str, measured: Measured, fixed: Fixed, extra: dict[str, Any]) -> Path:
    folder = usage_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    doc = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
        "measured": asdict(measured),
        "fixed": asdict(fixed),
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


def read_record(home: Path, name: str) -> dict[str, Any] | None:
    path = usage_dir(home) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
