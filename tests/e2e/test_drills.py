"""Reliability drills through the local runtime, each compared with an uninterrupted run (the `demo` fixture).

Duplicate delivery of every message type, crash anywhere, outages (Apollo 429 storms and 5xx,
Bedrock throttling), DynamoDB conditional-check races, and replay from raw: nothing is lost,
nothing is duplicated, and the result is the uninterrupted run's.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.conftest import TheraCli
from tests.waiting import wait_until
from thera.kernel.tables import from_parquet, to_parquet
from thera.lake.silver import normalize_domain
from thera_local.cli.resources import StackResources
from thera_local.cli.status import dead_letter_queues
from thera_local.emulator import aws_client
from thera_local.stack import StackInfo
from thera_local.summary import read_funnel


def running(cli: TheraCli, timeout: float = 120) -> StackInfo:
    def alive() -> StackInfo | None:
        info = StackInfo.read(cli.home)
        return info if info and info.alive() else None

    return wait_until(alive, timeout=timeout, interval=0.3, message="the local stack did not come up")


def objects(info: StackInfo, prefix: str) -> dict[str, bytes]:
    s3, bucket = aws_client("s3", info.endpoint), info.template_obj().physical("DataLakeBucket")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def profiles(info: StackInfo) -> dict[str, dict[str, Any]]:
    """Each domain's newest gold profile."""
    newest: dict[str, dict[str, Any]] = {}
    for data in objects(info, "gold/profiles/").values():
        for p in from_parquet(data).to_pylist():
            if p["domain"] not in newest or p["version"] > newest[p["domain"]]["version"]:
                newest[p["domain"]] = p
    return newest


def outcome(info: StackInfo) -> dict[str, tuple[Any, ...]]:
    """What a user gets per domain: the profile's text, page and health, and its public row."""
    template = info.template_obj()
    ddb = aws_client("dynamodb", info.endpoint)
    public = {
        item["domain"]["S"]: (item["name"]["S"], item.get("completeness", {}).get("N"))
        for page in ddb.get_paginator("scan").paginate(TableName=template.physical("PublicStartupsTable"))
        for item in page["Items"]
    }
    return {
        d: (p["text_hash"], p["crawled"], p["health_score"], p["completeness"], public.get(d, "missing"))
        for d, p in profiles(info).items()
    }


def twice_in(data: str) -> set[str]:
    """Domains the company file holds more than once: which row's profile wins is the known limit."""
    rows = [json.loads(line) for line in Path(data).read_text().splitlines() if line.strip()]
    counts = Counter(normalize_domain(r.get("domain"), r.get("website")) for r in rows)
    return {d for d, n in counts.items() if d and n > 1}


def assert_same_as(reference: dict[str, tuple[Any, ...]], info: StackInfo, data: str, note: str) -> None:
    got = outcome(info)
    ambiguous = twice_in(data)
    assert set(got) == set(reference), note
    differing = {d for d in reference if d not in ambiguous and got[d] != reference[d]}
    assert differing == set(), f"{note}: {sorted(differing)[:5]}"
    funnel = read_funnel(StackResources.local(info))
    assert set(funnel.dead_letters.values()) == {0}, f"{note}: {funnel.dead_letters}"
    assert funnel.public_rows == funnel.private_rows == len(reference), note


def test_drill_every_message_delivered_again_writes_nothing_twice(demo: tuple[TheraCli, str]) -> None:
    """Every S3 notification sent again (the objects put again, byte for byte) and every gold part sent to
    embedding and publishing again: after the queues drain, no new object, no new or changed row."""
    cli, data = demo
    info = StackInfo.read(cli.home)
    assert info is not None
    template = info.template_obj()
    s3, sqs, ddb = (aws_client(s, info.endpoint) for s in ("s3", "sqs", "dynamodb"))
    bucket = template.physical("DataLakeBucket")
    prefixes = ("bronze/", "silver/", "quarantine/", "gold/", "embeddings/")

    def objects() -> dict[str, str]:
        out = {}
        for prefix in prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        return out

    def rows(logical: str) -> dict[str, str]:
        items = ddb.scan(TableName=template.physical(logical))["Items"]
        return {i["domain"]["S"]: i["version"]["N"] for i in items}

    before, public, private = objects(), rows("PublicStartupsTable"), rows("PrivateStartupsTable")
    again = [k for k in before if k.startswith(("bronze/companies/", "silver/firecrawl/", "gold/profiles/"))]
    for key in again:
        s3.put_object(Bucket=bucket, Key=key, Body=s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    gold = [k for k in before if k.startswith("gold/profiles/")]
    for logical in ("EmbedQueue", "PublishQueue"):
        for start in range(0, len(gold), 10):
            sqs.send_message_batch(
                QueueUrl=template.queue_url(logical, info.endpoint),
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps({"gold_key": k})}
                    for i, k in enumerate(gold[start : start + 10])
                ],
            )
    done = cli.run(
        "run", "daily", "--data", data, timeout=900
    )  # the same day: the pull spends nothing, the queues drain
    assert "status already_complete" in done.stdout
    after = objects()
    assert {k: v for k, v in after.items() if k not in before} == {}
    assert {k for k in before if after.get(k) != before[k]} <= set(again)  # only the objects put again, same bytes
    assert rows("PublicStartupsTable") == public and rows("PrivateStartupsTable") == private
    dead_letters = done.stdout.split("Dead-letter queues ", 1)[1].splitlines()[0].split(", ")
    assert len(dead_letters) == len(dead_letter_queues(StackResources.local(info)))  # the stages' and schedules'
    assert all(q.endswith(" 0") for q in dead_letters), dead_letters


def test_replay_from_raw_rebuilds_the_same_silver_and_gold_without_any_call(demo: tuple[TheraCli, str]) -> None:
    cli, _ = demo
    info = running(cli)
    raw_pages = objects(info, "raw/apollo/")
    date = next(iter(raw_pages)).split("date=", 1)[1][:10]
    before = info.call("GET", "/status")

    done = cli.run("replay", "--from", "raw", "--date", date, "--json")
    report = json.loads(done.stdout)
    after = info.call("GET", "/status")
    for service, counter in (("apollo", "requests"), ("firecrawl", "calls"), ("bedrock", "answered")):
        assert after[service].get(counter) == before[service].get(counter), f"{service} was called"
    assert after["sites"] == before["sites"], "a web site was called"
    assert report["silver_objects"] == report["silver_identical"] == len(raw_pages)
    assert report["profiles"] == len(profiles(info))
    assert report["compared"] == report["identical"] == report["profiles"] - len(report["ambiguous"]) > 100
    assert report["differing"] == {}
    assert any(k.startswith(f"replay/date={date}/gold/profiles/") for k in objects(info, "replay/"))

    # the comparison can fail: a raw page changed after the fact is caught, and only where it matters
    template = info.template_obj()
    s3, bucket = aws_client("s3", info.endpoint), template.physical("DataLakeBucket")
    key, data = next(iter(raw_pages.items()))
    head = s3.head_object(Bucket=bucket, Key=key)
    organizations = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    victim = next(o for o in organizations if o.get("primary_domain") and o.get("short_description"))
    victim["short_description"] = "Edited after the pull: " + victim["short_description"]
    edited = "".join(json.dumps(o, sort_keys=True) + "\n" for o in organizations).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(edited), Metadata=head["Metadata"])
    try:
        changed = cli.run("replay", "--from", "raw", "--date", date, "--json", check=False)
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=head["Metadata"])
    assert changed.returncode == 1
    report = json.loads(changed.stdout)
    domain = normalize_domain(victim["primary_domain"], victim.get("website_url"))
    assert set(report["differing"]) == {domain}
    assert {"description", "embedding_text", "text_hash"} <= set(report["differing"][domain])
    assert len(report["silver_differing"]) == 1


def test_crash_anywhere_then_restart_gives_the_uninterrupted_result(
    demo: tuple[TheraCli, str], make_cli: Any, seed: int
) -> None:
    """The runtime is killed twice at random moments: every execution environment (mid-handler) and the
    `thera run daily` that drives the pull. The emulator stands for AWS's durable services and lives on.
    A kill that finds no handler running is tried again 0.2 s later, so each round kills mid-handler.
    The moments follow from the run's seed (THERA_TEST_SEED replays them)."""
    reference_cli, data = demo
    reference = outcome(running(reference_cli))
    rng = random.Random(seed)
    cli = make_cli("crash")
    params = ["--data", data, "--retry-delay", "1", "--parameter", "RetryBaseSeconds=1"]
    kills = []
    for _ in range(2):
        proc = cli.popen("run", "daily", *params, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running(cli)
        start = time.monotonic()
        time.sleep(rng.uniform(0.5, 15.0))  # the random moment of the kill: a duration, not a wait
        killed = 0
        while not killed and proc.poll() is None and time.monotonic() - start < 120:
            killed = json.loads(cli.run("fault", "lambda", "--kill").stdout)["killed"]
            time.sleep(0 if killed else 0.2)
        at = time.monotonic() - start
        proc.kill()
        proc.wait(timeout=30)
        kills.append((round(at, 1), killed))
    done = cli.run("run", "daily", *params, timeout=900)
    note = f"seed {seed}, kills (seconds after start, environments killed mid-handler) {kills}"
    assert "status complete" in done.stdout or "status already_complete" in done.stdout, note
    assert sum(k for _, k in kills) > 0, f"no kill landed mid-handler: {note}"
    assert_same_as(reference, running(cli), data, note)


def test_outages_slow_the_flow_down_and_it_finishes_once_they_clear(demo: tuple[TheraCli, str], make_cli: Any) -> None:
    """Apollo answers a 429 storm (as long as one search's retries) then 5xx; Bedrock throttles 12 calls.
    Embeddings go through the Titan adapter against the emulator's Bedrock stand-in."""
    reference_cli, data = demo
    reference = outcome(running(reference_cli))
    cli = make_cli("outage")
    params = ["--data", data, "--retry-delay", "1", "--parameter", "RetryBaseSeconds=1"]
    params += ["--parameter", "EmbeddingProvider=bedrock", "--parameter", "EmbeddingDimensions=256"]
    up = cli.popen("up", *params, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = running(cli)
        # a storm as long as one search's whole retry budget (6 attempts): the pull fails, nothing lands
        cli.run("fault", "apollo", "--status", "429", "--count", "6")
        # throttling, shorter than the retries of the adapter and of SQS can absorb (a longer one dead-letters
        # the parts here, where retries come after 1 s, 2, 4, 8 instead of 20 s, 40, 80, 160)
        cli.run("fault", "bedrock", "--status", "429", "--count", "12")
        first = cli.run("run", "daily", *params, timeout=900, check=False)
        assert first.returncode == 1 and "status failed" in first.stdout and "HTTP 429" in first.stdout
        cli.run("fault", "apollo", "--status", "503", "--count", "3")  # the next run meets 5xx, retried
        second = cli.run("run", "daily", *params, timeout=900)
        assert "status complete" in second.stdout
        status = info.call("GET", "/status")
        assert status["apollo"]["requests"] == status["apollo"]["calls"] + 6 + 3
        bedrock = status["bedrock"]
        assert bedrock["injected"] == 12 and bedrock["fault"]["left"] == 0  # every throttled call was retried
        funnel = read_funnel(StackResources.local(info))
        # every profile embedded once: no text was embedded (nor charged) twice through the retries
        assert bedrock["answered"] == funnel.embedded == funnel.spend.calls
        assert bedrock["tokens"] == funnel.spend.tokens
        assert funnel.embedding_models == [f"amazon.titan-embed-text-v2:0 ×{funnel.embedded}"]
        assert_same_as(reference, info, data, "outage drill")
    finally:
        cli.run("down", check=False, timeout=180)
        up.wait(timeout=60)


def test_racing_publishers_keep_the_newest_row(demo: tuple[TheraCli, str], seed: int) -> None:
    """Every gold part sent to publishing four times at once, racing an older version of one profile:
    the conditional writes keep exactly the newest row of each domain, in any order (the run's seed)."""
    cli, data = demo
    info = running(cli)
    template = info.template_obj()
    s3, sqs = aws_client("s3", info.endpoint), aws_client("sqs", info.endpoint)
    bucket = template.physical("DataLakeBucket")
    before = outcome(info)
    gold = objects(info, "gold/profiles/")
    part = next(iter(gold.values()))
    table = from_parquet(part).slice(0, 1)
    domain = table["domain"][0].as_py()
    older = table.to_pylist()[0] | {"version": table["version"][0].as_py() - 1, "name": "An older name"}
    older_key = "gold/profiles/date=2000-01-01/part-older.parquet"
    s3.put_object(Bucket=bucket, Key=older_key, Body=to_parquet(type(table).from_pylist([older], table.schema)))
    url = template.queue_url("PublishQueue", info.endpoint)
    bodies = [json.dumps({"gold_key": k}) for k in gold for _ in range(4)] + [json.dumps({"gold_key": older_key})] * 4
    random.Random(seed).shuffle(bodies)
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
        )
    cli.run("run", "daily", "--data", data, timeout=900)  # drains the queues
    s3.delete_object(Bucket=bucket, Key=older_key)
    assert outcome(info) == before
    row = aws_client("dynamodb", info.endpoint).get_item(
        TableName=template.physical("PublicStartupsTable"), Key={"domain": {"S": domain}}
    )["Item"]
    assert row["name"]["S"] == table["name"][0].as_py() != "An older name"
    assert int(row["version"]["N"]) == table["version"][0].as_py()
    published = [
        json.loads(line)["outcome"]
        for line in (cli.home / "logs" / "PublisherFunction.log").read_text().splitlines()
        if line.startswith("{") and "gold part published" in line
    ]
    refused = [o for o in published if o["gold_key"] == older_key]
    # four sent by hand, one more through its own S3 notification: the embedding stage skips the older
    # profile (not embedded again) and passes the part on to publishing, which refuses it as well
    assert len(refused) == 5 and all(o["stale"] == 1 and o["public_written"] == 0 for o in refused)
    assert sum(o["same"] for o in published) >= 3 * len(before)  # the copies met rows written already
