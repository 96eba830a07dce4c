"""The daily flow through the local runtime, as `make demo` runs it."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests.conftest import ROOT, SAMPLE
from tests.waiting import wait_until
from thera.lake.silver import normalize_domain, valid_domain_mask
from thera_local.cli.resources import StackResources
from thera_local.stack import StackInfo, http_json
from thera_local.summary import read_funnel


def silver_of(home: Path) -> tuple[pa.Table, Any]:
    info = StackInfo.read(home)
    assert info is not None and info.alive()
    funnel = read_funnel(StackResources.local(info))
    assert funnel.silver_table is not None
    return funnel.silver_table, funnel


def expected_from_sample() -> tuple[set[str], Counter[str]]:
    """Independently of the pipeline: the domains silver must hold and why rows must be quarantined."""
    domains: set[str] = set()
    reasons: Counter[str] = Counter()
    for line in SAMPLE.read_text().splitlines():
        company = json.loads(line)
        domain = normalize_domain(company.get("domain"), company.get("website"))
        if not company.get("name"):
            reasons["missing_name"] += 1
        elif domain is None:
            reasons["missing_domain"] += 1
        elif not valid_domain_mask(pa.array([domain]))[0].as_py():
            reasons["invalid_domain"] += 1
        else:
            domains.add(domain)
    return domains, reasons


def test_daily_flow_lands_deduplicated_silver_and_explains_the_quarantine(make_cli: Any) -> None:
    cli = make_cli()
    done = cli.run("run", "daily")
    assert "Funnel" in done.stdout and "status complete" in done.stdout
    silver, funnel = silver_of(cli.home)
    domains, reasons = expected_from_sample()
    got = silver["domain"].to_pylist()
    assert len(got) == len(set(got)), "silver holds a domain twice"
    assert set(got) == domains
    assert funnel.quarantined == dict(reasons)
    assert set(funnel.dead_letters.values()) == {0}
    # every silver domain was checked; exactly the healthy stand-in sites passed and were crawled
    info = StackInfo.read(cli.home)
    assert info is not None
    modes = http_json("GET", info.sites + "/__standin/sites")
    healthy = {d for d in got if modes.get(d) == "ok"}
    assert len(funnel.health_scores) == len(got)
    assert funnel.health_passed == len(healthy) == funnel.crawled
    assert funnel.health_flags.get("dns_unresolved", 0) == sum(1 for d in got if modes.get(d, "dns_miss") == "dns_miss")
    assert funnel.health_flags.get("parked_page", 0) == sum(1 for d in got if modes.get(d) == "parked")
    assert funnel.quota["day"] == (3, 600)  # 300 companies, 100 per page: 3 calls spent
    # every company has a profile (crawled or not), an embedding, and a row in each read model
    assert funnel.profiles == len(got) and funnel.profiles_with_page == len(healthy)
    assert funnel.embedded >= len(got) and funnel.spend.tokens > 0 and funnel.spend.nano_usd > 0
    assert funnel.public_rows == funnel.private_rows == len(got)
    for line in ("Gold profiles", "Embeddings", "Embedding spend", "Published"):
        assert line in done.stdout
    logs = cli.run("logs", "ApolloPullFunction").stdout
    assert "apollo pull finished" in logs and "REPORT RequestId" in logs
    filtered = cli.run("logs", "BronzeToSilverFunction", "--filter", "bronze object refined").stdout
    assert len(filtered.strip().splitlines()) == 3
    # one company followed across the stages by its domain
    followed = sorted(healthy)[0]
    for function in ("DomainHealthFunction", "FirecrawlFunction", "SilverToGoldFunction", "EmbeddingsFunction"):
        assert followed in cli.run("logs", function, "--filter", followed).stdout, function
    assert followed in cli.run("logs", "PublisherFunction", "--filter", followed).stdout

    again = cli.run("run", "daily")  # same business day: the scheduler's duplicate delivery spends nothing
    assert "status already_complete" in again.stdout
    assert silver_of(cli.home)[0].num_rows == silver.num_rows


def test_invoke_runs_one_function_with_an_event_file(make_cli: Any) -> None:
    cli = make_cli()
    done = cli.run("invoke", "ApolloPullFunction", "-e", str(ROOT / "events" / "apollo_pull_schedule.json"))
    report = json.loads(done.stdout)
    assert report["status"] == "complete" and report["companies"] == 300
    assert "START RequestId" in done.stderr


def test_killing_the_run_mid_pull_then_rerunning_gives_the_same_silver_without_extra_calls(make_cli: Any) -> None:
    params = ["--parameter", "ApolloPerPage=10", "--apollo-latency", "0.25"]
    reference = make_cli("reference")
    reference.run("run", "daily", *params)
    expected, reference_funnel = silver_of(reference.home)

    cli = make_cli("killed")
    proc = cli.popen("run", "daily", *params)

    def pages_served() -> bool:
        info = StackInfo.read(cli.home)
        return bool(info and info.alive() and info.call("GET", "/status")["apollo"]["calls"] >= 8)

    wait_until(pages_served, timeout=120, interval=0.2, message="the pull never got going")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    info = StackInfo.read(cli.home)
    assert info is not None
    time.sleep(1.0)  # the killed pull's environment dies with it; nothing more reaches the stand-in
    at_kill = info.call("GET", "/status")["apollo"]["calls"]
    assert at_kill < 30, "the pull finished before it was killed"

    done = cli.run("run", "daily", *params)
    assert "status complete" in done.stdout
    got, funnel = silver_of(cli.home)
    # the lake itself, not only the deduplicated view: one silver file per bronze page, same rows
    assert funnel.silver_files == funnel.bronze_files == reference_funnel.silver_files == 30
    assert funnel.silver_rows == reference_funnel.silver_rows
    columns = ["domain", "name", "description", "team_size", "country"]
    assert got.select(columns).sort_by("domain").to_pylist() == expected.select(columns).sort_by("domain").to_pylist()
    pages = info.call("GET", "/status")["apollo"]["pages_served"]
    assert sorted(set(pages)) == list(range(1, 31))
    assert len(pages) <= 31  # at most the one page in flight at the kill is asked for twice
