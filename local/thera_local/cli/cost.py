"""``thera cost``: the monthly AWS bill (and the APIs') estimated from the last measured daily run."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from thera_local.cli.common import UsageError, default_home, project_root
from thera_local.cost import DAYS_PER_MONTH, PRICES, Estimate, Fixed, Measured, estimate, monthly
from thera_local.stack import StackInfo, http_call
from thera_local.template import Template
from thera_local.usage import Probe, fixed_costs, read_record

CHARS_PER_TOKEN = 4.7
# Matches measured when none are: challenges of the kinds the sample's companies answer.
SAMPLE_CHALLENGES = (
    "We need robots and automation for our warehouses",
    "Software to cut food waste in our restaurants",
    "Faster claims handling for a health insurer",
)


def cmd_cost(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve() if args.home else default_home(project_root())
    daily = read_record(home, "daily")
    if daily is None:
        raise UsageError(f"no measured run under {home}: `thera run daily` first, then `thera cost`")
    if args.companies_per_day is not None and args.companies_per_day < 0:
        raise UsageError("--companies-per-day must be 0 or more")
    if args.challenges_per_day < 0:
        raise UsageError("--challenges-per-day must be 0 or more")
    run = Measured.from_doc(daily["measured"])
    if run.units <= 0:
        raise UsageError("the measured daily run pulled no companies: nothing to scale (`thera run daily` again)")
    companies = run.units if args.companies_per_day is None else args.companies_per_day
    match_doc = read_record(home, "match") if args.challenges_per_day else None
    if args.challenges_per_day and match_doc is None:
        match_doc = measure_matches(home)
    match = Measured.from_doc(match_doc["measured"]) if match_doc else None
    weekly_doc = read_record(home, "weekly")
    weekly = Measured.from_doc(weekly_doc["measured"]) if weekly_doc else None
    month = monthly(run, companies, match, args.challenges_per_day, weekly)
    # the template as it stands is what a deploy creates (alarms, keys, schedules); the metrics are the run's
    measured_metrics = int(daily.get("emitted_metrics", Fixed.from_doc(daily["fixed"]).custom_metrics))
    fixed = fixed_costs(Template(project_root() / "template.yaml"), measured_metrics)
    result = estimate(month, fixed, PRICES, args.architecture, not args.no_free_tier)
    basis = {
        "run": daily.get("measured_at"),
        "data": daily.get("data"),
        "companies_in_run": run.units,
        "companies_per_day": companies,
        "challenges_per_day": args.challenges_per_day,
        "matches_measured": match.units if match else 0,
        "weekly_training": weekly_doc.get("measured_at") if weekly_doc else None,
    }
    if args.json:
        print(json.dumps({**result.to_doc(), "basis": basis}, indent=2))
    else:
        print("\n".join(render(result, basis)))
    return 0


def measure_matches(home: Path) -> dict[str, Any] | None:
    """Time a few matches on the running stack and keep the record (``usage/match.json``); None without a stack."""
    info = StackInfo.read(home)
    if info is None or not info.alive() or not info.api:
        return None
    probe = Probe(info).start()
    for text in SAMPLE_CHALLENGES:
        status, answer = http_call("POST", info.api + "/match", {"challenge_text": text, "top_k": 20}, timeout=120)
        if status != 200:
            raise UsageError(f"measuring a match: {status}: {answer}")
    # The query's embedding is not in the stage's spend ledger: Titan's ~4.7 characters a token (FACTS.md §3).
    tokens = sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in SAMPLE_CHALLENGES)
    probe.record("match", len(SAMPLE_CHALLENGES), api_requests=len(SAMPLE_CHALLENGES), tokens=tokens)
    return read_record(home, "match")


def render(result: Estimate, basis: dict[str, Any]) -> list[str]:
    lines = [
        f"monthly estimate, {result.region} prices of {result.prices_date} ({DAYS_PER_MONTH} days)",
        f"  measured: the daily run of {basis['run']} ({basis['companies_in_run']:,} companies pulled; "
        f"data {basis['data']})" + (f", {basis['matches_measured']} matches" if basis["matches_measured"] else ""),
        f"  scaled to {basis['companies_per_day']:,} companies a day, {basis['challenges_per_day']:,} challenges a day",
        "",
    ]
    for line in result.lines:
        lines.append(f"  {line.service:<30} ${line.usd:>10,.2f}  {line.detail}")
    lines += [
        "",
        f"  {'AWS':<30} ${result.aws_usd:>10,.2f}",
        f"  {'Firecrawl and Apollo':<30} ${result.third_party_usd:>10,.2f}",
        f"  {'total':<30} ${result.total_usd:>10,.2f}",
        "",
        "assumptions:",
    ]
    lines += [f"  - {a}" for a in result.assumptions]
    if not basis["weekly_training"]:
        lines.append("  - weekly training not measured (`thera run weekly` measures it): not in the estimate")
    if basis["challenges_per_day"] and not basis["matches_measured"]:
        lines.append("  - matches not measured (no stack running): challenges priced at $0")
    return lines
