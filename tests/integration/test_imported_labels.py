"""Decisions made before Thera, imported through `thera labels import` and ``POST /feedback/batch`` on the
emulator, then counted by the weekly training (its BuildTrainingSet step and the whole state machine)."""

from __future__ import annotations

import csv
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeContext, load_event, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_matcher_handlers import CHALLENGE, build_index, call, lake, matcher_env  # noqa: F401
from tests.integration.test_weekly_training import labelled, run, store_of
from thera.kernel import keys
from thera.training.imported import COLUMNS, MAX_BATCH_ROWS
from thera_local.cli import labels as labels_cli
from thera_local.cli.main import main

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
BAD = [
    ({"domain": "not a domain"}, "'domain' must be a domain name"),
    ({"decision": "maybe"}, "'decision' must be accept or reject, got 'maybe'"),
    ({"decided_at": "last tuesday"}, "'decided_at' must be an ISO 8601 time"),
    ({"decided_at": "2099-01-01T00:00:00Z"}, "is in the future"),
    ({"challenge_text": "robots"}, "'challenge_text' must be a text of at least 10 characters"),
    ({"who": ""}, "'who' must name who decided"),
]


def decisions(companies: list[dict[str, Any]], tags: int = 20, per: int = 8, seed: int = 3) -> list[dict[str, str]]:
    """For each of the ``tags`` commonest tags, a challenge about it: its carriers accepted, as many others rejected."""
    rng = random.Random(seed)
    counted = Counter(t for c in companies for t in c.get("tags") or [])
    rows = []
    for k, (tag, _) in enumerate(counted.most_common(tags)):
        text = f"We are looking for startups that can help us with {tag.lower()}."
        carriers = [c["domain"] for c in companies if tag in (c.get("tags") or [])]
        others = [c["domain"] for c in companies if tag not in (c.get("tags") or [])]
        picked = [(d, "accept") for d in rng.sample(carriers, min(per, len(carriers)))]
        picked += [(d, "reject") for d in rng.sample(others, per)]
        for j, (domain, decision) in enumerate(picked):
            at = (T0 + timedelta(days=k * 7, minutes=j)).isoformat()
            rows.append(
                {"challenge_text": text, "domain": domain, "decision": decision, "decided_at": at, "who": "ana"}
            )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "notes"])
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "notes": "from the 2025 spreadsheet"})  # other columns are left alone
    return path


@pytest.fixture
def api(aws: Aws, handler_env: Any, lake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # noqa: F811
    """The matcher handler behind the CLI: the command's stack is the handler on the emulator."""

    class Info:
        api = "http://127.0.0.1:9/dev"

    build_index(handler_env)
    matcher_env(handler_env, lake)
    monkeypatch.setattr(labels_cli, "ensure_stack", lambda config, echo: Info())
    monkeypatch.setattr(
        labels_cli, "http_call", lambda method, url, body: call(method, url.removeprefix(Info.api), body)
    )
    return lake


def test_importing_a_thousand_decisions_stores_the_good_and_says_why_the_bad_were_refused(
    api: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domains = [c["domain"] for c in api["companies"]]
    rows, expected = [], {}
    for i in range(1000):
        good = {
            "challenge_text": f"Challenge {i // 20}: we need help with {['robots', 'payments', 'nurses'][i % 3]}",
            "domain": domains[i % len(domains)],
            "decision": "accept" if i % 4 == 0 else "reject",
            "decided_at": (T0 + timedelta(hours=i)).isoformat(),
            "who": f"picker-{i % 5}",
        }
        if i % 20 == 7:  # 50 bad rows, one fault each
            change, reason = BAD[(i // 20) % len(BAD)]
            good = {**good, **change}
            expected[i + 2] = reason  # the header is row 1
        rows.append(good)
    path = write_csv(tmp_path / "decisions.csv", rows)
    started = time.perf_counter()
    status = main(["labels", "import", str(path)])
    took = time.perf_counter() - started
    out = capsys.readouterr().out
    assert status == 1  # some rows were refused
    assert out.splitlines()[0] == "decisions.csv: 1000 rows · 950 stored · 0 duplicates (imported before) · 50 refused"
    refused = {int(line.split(":")[0].split()[1]): line.split(": ", 1)[1] for line in out.splitlines()[1:51]}
    assert set(refused) == set(expected) and all(expected[n] in refused[n] for n in expected)
    objects = store_of_lake(api).list(keys.LABELS_IMPORTED)
    assert len(objects) == 2 > 1000 // MAX_BATCH_ROWS - 1  # the file went in two batches, one object each
    lines = [json.loads(x) for k in objects for x in store_of_lake(api).get(k).decode().splitlines()]
    assert len(lines) == 950 and {r["who"] for r in lines} == {f"picker-{n}" for n in range(5)}

    # the same file again: nothing new, every good row a duplicate
    assert main(["labels", "import", str(path), "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert (again["stored"], again["duplicates"], again["refused"]) == (0, 950, 50) and again["keys"] == []
    assert len(store_of_lake(api).list(keys.LABELS_IMPORTED)) == 2
    print(f"imported 1,000 rows in {took:.2f} s: 950 stored, 50 refused")  # shown with -s


def store_of_lake(served: dict[str, Any]) -> Any:
    return served["store"]


def test_the_api_refuses_an_oversized_batch_and_a_file_without_the_columns_is_refused_by_the_cli(
    api: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = dict(zip(COLUMNS, [CHALLENGE, "acme.com", "accept", "2025-01-01", "ana"], strict=True))
    status, answer = call("POST", "/feedback/batch", {"rows": [row] * (MAX_BATCH_ROWS + 1)})
    assert status == 400 and answer["error"] == f"a batch holds at most {MAX_BATCH_ROWS} rows, got 501: split it"
    status, answer = call("POST", "/feedback/batch", {"rows": [row]})
    assert status == 200 and answer["stored"] == 1
    headless = tmp_path / "no-who.csv"
    headless.write_text("challenge_text,domain,decision,decided_at\nWe need robots for our farm,acme.com,accept,2025\n")
    assert main(["labels", "import", str(headless)]) == 2
    assert "lacks the column(s) who" in capsys.readouterr().err


def test_the_sample_event_imports_two_decisions_and_refuses_one(api: dict[str, Any]) -> None:
    answer = load_handler_module("matcher").handler(load_event("matcher_http_feedback_batch.json"), FakeContext("m"))
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200 and (body["stored"], body["refused"]) == (2, 1)
    assert body["errors"][0]["row"] == 4 and "domain" in body["errors"][0]["reason"]


def test_the_training_set_counts_imported_decisions_beside_the_feedback(
    aws: Aws,
    handler_env: Any,
    api: dict[str, Any],
) -> None:
    rows = decisions(api["companies"])
    rows += [{**rows[0], "domain": f"closed-{n}.com"} for n in range(5)]  # startups the index no longer holds
    status, answer = call("POST", "/feedback/batch", {"rows": rows})
    assert status == 200 and answer["stored"] == len(rows)
    store = store_of(aws)
    labelled(store, lambda f, rng: f["health"] > 0.5, n_challenges=30, per=10)  # 300 decisions on shortlists
    handler_env("BuildTrainingSetFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=api["model"])
    built = load_handler_module("weekly_training").build_training_set(
        load_event("build_training_set_task.json"), FakeContext("build")
    )
    imported = built["imported"]
    assert imported["labels"] == len(rows) - 5 and imported["skipped_unknown_domain"] == 5
    assert imported["accepted"] == sum(r["decision"] == "accept" for r in rows[:-5])
    assert sum(built["counts"].values()) == 300 + imported["labels"]
    assert built["data_range"]["from"].startswith("2025-01-06")  # the oldest imported decision


@pytest.mark.slow  # trains the models: 7-11 s alone, 18-27 s beside other tests
def test_a_weekly_run_on_imported_decisions_alone_trains_and_records_them(
    aws: Aws,
    handler_env: Any,
    api: dict[str, Any],
) -> None:
    rows = decisions(api["companies"], tags=30)
    assert call("POST", "/feedback/batch", {"rows": rows})[1]["stored"] == len(rows)
    handler_env("BuildTrainingSetFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=api["model"])
    execution = run(aws, handler_env, "weekly-imported")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    training = execution.output["training_set"]
    assert sum(training["counts"].values()) == training["imported"]["labels"] == len(rows)
    # the tag-wise decisions teach more than the prior knows: a model trained on them alone is promoted
    assert [r.name for r in execution.history][-2:] == ["Promote", "Promoted"]
    promoted = json.loads(store_of(aws).get(keys.SERVING_POINTER))["versions"][0]["version"]
    artifact = json.loads(store_of(aws).get(keys.model_artifact(promoted)))
    assert artifact["trained_on"]["imported"]["labels"] == len(rows)
