"""After the daily flow: `thera match` answers from the local stack, and the explorer page works in Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from playwright.sync_api import Page, expect

from tests.chromium import page_errors
from tests.e2e.conftest import TheraCli
from tests.waiting import wait_until
from thera.lake.catalog import PARTITION, TABLES, glue_type
from thera.lake.queries import CHECKS, QUERIES
from thera.matching.request import text_hash
from thera_local import lake_sql
from thera_local.cli.resources import StackResources
from thera_local.emulator import aws_client
from thera_local.stack import StackInfo
from thera_local.summary import read_funnel

CHALLENGE = "We are looking for startups that build software to help small businesses handle payments and invoices"


def test_thera_match_json_returns_twenty_ranked_startups_with_reasons(demo: tuple[TheraCli, str]) -> None:
    cli, data = demo
    before = StackInfo.read(cli.home)
    done = cli.run("match", CHALLENGE, "--json")  # no --data: the running stack's data, as after `make demo DATA=`
    assert done.stderr == "" and StackInfo.read(cli.home) == before  # not restarted with the sample
    matches = json.loads(done.stdout)
    assert len(matches) == 20
    for m in matches:
        assert {"domain", "name", "score", "reasons", "model_version"} <= set(m)
        assert m["reasons"] and m["model_version"] == "prior-v1"
    assert [m["score"] for m in matches] == sorted((m["score"] for m in matches), reverse=True)
    filtered = json.loads(
        cli.run("match", CHALLENGE, "--json", "--top", "5", "--industry", "Fintech", "--data", data).stdout
    )
    assert 0 < len(filtered) <= 5 and all("Fintech" in m["industries"] for m in filtered)
    refused = cli.run("match", "short", "--data", data, check=False)
    assert refused.returncode == 1 and "400" in refused.stderr and "at least" in refused.stderr


def test_explorer_page_searches_shows_reasons_and_stores_feedback(demo: tuple[TheraCli, str], page: Page) -> None:
    cli, data = demo
    info = StackInfo.read(cli.home)
    assert info is not None and info.api
    page.goto(info.api + "/")
    # as a person would: the filters have loaded (the matcher's first, cold answer) before searching
    expect(page.locator("#industry")).to_be_enabled(timeout=60_000)
    page.fill("#challenge", CHALLENGE)
    page.click("#go")
    cards = page.locator("li.match")
    try:
        expect(cards).to_have_count(20, timeout=60_000)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the page says: {page.inner_text('#status')!r}") from None
    first = cards.first.get_attribute("data-domain")
    expect(cards.first.locator("ul.reasons li")).not_to_have_count(0)
    cards.first.locator("button.accept").click()
    expect(cards.first.locator(".verdict")).to_have_text("accepted", timeout=15_000)
    assert page_errors(page) == []

    # the page says "accepted" once POST /feedback answered 201, and the handler stores the record before that
    template = info.template_obj()
    s3 = aws_client("s3", info.endpoint)
    bucket = template.physical("DataLakeBucket")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="feedback/").get("Contents", [])
    records = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed]
    assert [(r["domain"], r["decision"], r["model_version"]) for r in records] == [(first, "accept", "prior-v1")]
    # the day's AMS counts the acceptance on this challenge's latest shortlist, the page's 20 matches (other
    # tests and `thera cost` match other texts the same day: the day's challenge count is theirs too)
    assert '"challenges": ' in cli.run("run", "ams", "--data", data).stdout
    query = f"SELECT matches, accepted, rejected FROM ams WHERE challenge_id = '{text_hash(CHALLENGE)}'"
    assert json.loads(cli.run("sql", query, "--json").stdout) == [{"matches": 20, "accepted": 1, "rejected": 0}]


def test_weekly_training_runs_from_the_asl_file_and_the_matcher_then_serves_the_decision(
    demo: tuple[TheraCli, str],
) -> None:
    cli, data = demo
    done = cli.run("run", "weekly", "--data", data, timeout=900)
    out = done.stdout
    assert "synthetic feedback from the dataset's tags" in out
    for state in ("BuildTrainingSet", "Train/TrainLogisticRegression", "Train/TrainRandomForest", "Evaluate"):
        assert f"  {state} " in out
    assert "champion prior-v1" in out and "lr-weekly-" in out and "rf-weekly-" in out
    report = Path(out.split("report: ", 1)[1].splitlines()[0])
    assert report.exists() and (report.parent / "pr.png").read_bytes()[:4] == b"\x89PNG"
    promoted = "promoted" in out.split("challenger ", 1)[1].splitlines()[0]
    trained = {"lr-" + report.parent.name[3:], "rf-" + report.parent.name[3:]}

    def served() -> set[str]:
        found = json.loads(cli.run("match", CHALLENGE, "--json", "--data", data).stdout)
        return {m["model_version"] for m in found}

    if promoted:
        # the matcher reads the serving pointer again at most every INDEX_REFRESH_SECONDS (60 s)
        def promoted_served() -> set[str] | None:
            now = served()
            return now if now <= trained else None

        versions = wait_until(promoted_served, timeout=120, interval=5)
        assert report.parent.name in versions or len(versions) == 1
    else:
        assert served() == {"prior-v1"}


def test_the_lake_answers_sql_with_the_columns_the_stages_write(demo: tuple[TheraCli, str]) -> None:
    """After the day, a match, feedback, the AMS and the week: every table the catalog declares has the columns
    its files hold, `thera sql` counts what the funnel counted, and the data-quality checks pass."""
    cli, data = demo
    info = StackInfo.read(cli.home)
    assert info is not None
    cli.run("match", CHALLENGE, "--data", data)  # a shortlist, whatever ran before
    cli.run("run", "ams", "--data", data)
    if not list((cli.home / "lake" / "metrics" / "models").glob("date=*/*.json")):
        cli.run("sql", "SELECT 1")  # copies the lake; the week ran before this test unless it was deselected
    if not list((cli.home / "lake" / "metrics" / "models").glob("date=*/*.json")):
        cli.run("run", "weekly", "--data", data, timeout=900)
    counted = json.loads(
        cli.run("sql", "SELECT count(*) AS n, count(DISTINCT domain) AS domains FROM silver_companies", "--json").stdout
    )
    funnel = read_funnel(StackResources.local(info))
    assert funnel.silver_table is not None
    assert counted == [{"n": funnel.silver_rows, "domains": funnel.silver_table.num_rows}]

    for table in TABLES:
        files = sorted((cli.home / "lake" / table.prefix).glob(f"date=*/**/*{table.suffix}"))
        assert files, f"{table.name}: no files after the day and the week"
        declared = [(n, glue_type(t)) for n, t in table.columns if n != PARTITION]
        for path in files:
            if table.format == "parquet":
                written = [(f.name, glue_type(f.type)) for f in pq.read_schema(path)]
                assert written == declared, f"{table.name}: {path}"
            else:
                rows = [json.loads(line) for line in path.read_text().splitlines()]
                assert all(list(r) == [n for n, _ in declared] for r in rows), f"{table.name}: {path}"
                pa.Table.from_pylist(rows, schema=table.schema)  # the values have the declared types
    checks = cli.run("sql", "--checks")
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in checks.stdout
    con = lake_sql.connect(cli.home / "lake")  # every named query answers over the demo's lake
    answered = {q.name: lake_sql.query(con, q.sql).rows for q in QUERIES}
    assert all(answered[q.name] for q in QUERIES if not q.is_check), answered
