"""MatcherFunction (HTTP API), IndexBuilderFunction and AmsFunction against the emulator."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeContext, load_handler_module
from tests.fakes import MemoryEmbeddingIndex, MemoryQueue, MemoryVersionedStore
from tests.integration.conftest import Aws
from thera.adapters.aws import S3ObjectStore
from thera.adapters.lsa import LsaModel, fit_lsa
from thera.kernel import keys
from thera.kernel.ports import ObjectStore
from thera.kernel.tables import from_parquet, to_parquet
from thera.profiles.embed import EmbedService, SpendLedger
from thera.profiles.profiles import build_profiles
from thera_local.api import http_event
from thera_local.models import corpus_texts
from thera_local.standins.apollo import load_companies

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CHALLENGE = "We need robots and automation for our warehouses and factories"


def silver_rows(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "domain": c["domain"],
            "name": c["name"],
            "website_url": c.get("website"),
            "description": c.get("long_description"),
            "industries": c.get("industries") or [],
            "keywords": c.get("tags") or [],
            "country": c.get("country"),
            "city": c.get("city"),
            "team_size": c.get("team_size"),
            "founded_year": c.get("founded_year"),
            "pulled_at": NOW,
        }
        for c in companies
    ]


@pytest.fixture
def lake(aws: Aws, tmp_path: Path) -> dict[str, Any]:
    """Gold profiles and their embeddings for the sample's companies, in the emulator's bucket."""
    import pyarrow as pa

    companies = [c for c in load_companies(ROOT / "local" / "data" / "companies_sample.jsonl") if c.get("domain")]
    companies = list({c["domain"]: c for c in companies}.values())
    model = fit_lsa(corpus_texts(companies), 64)
    model_path = tmp_path / "lsa.npz"
    model.save(model_path)
    store = S3ObjectStore(aws.client("s3"), aws.bucket)
    gold_key = keys.gold_profiles_part("2026-11-22", "sample")
    store.put(gold_key, to_parquet(build_profiles(pa.Table.from_pylist(silver_rows(companies)), None, None, NOW)))
    embed_gold(store, model, gold_key)
    return {"model": str(model_path), "companies": companies, "store": store}


def embed_gold(store: ObjectStore, model: LsaModel, gold_key: str) -> None:
    """The gold part's embeddings written to the lake with the local model, as the embeddings stage does."""
    EmbedService(
        store=store,
        index=MemoryEmbeddingIndex(),
        provider=model,
        ledger=SpendLedger(MemoryVersionedStore(), 10.0, 0.00002, NOW.timestamp),
        wait_queue=MemoryQueue(),
        publish_queue=MemoryQueue(),
        max_tokens=512,
        day="2026-11-22",
        now=lambda: NOW,
    ).embed_part(gold_key)


def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    event = http_event(method, path, "", {"content-type": "application/json"}, raw, "dev")
    answer = load_handler_module("matcher").handler(event, FakeContext("matcher"))
    text = answer["body"]
    return answer["statusCode"], json.loads(text) if text and text.lstrip()[:1] in "{[" else text


def matcher_env(handler_env: Any, lake: dict[str, Any], **extra: str) -> None:
    from thera.stages import matcher

    matcher.matcher_service.cache_clear()
    matcher.shortlist_service.cache_clear()
    handler_env("MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=lake["model"], **extra)


def build_index(handler_env: Any) -> dict[str, Any]:
    handler_env("IndexBuilderFunction")
    result: dict[str, Any] = load_handler_module("index_builder").handler({}, FakeContext("index-builder"))
    return result


def test_match_ranks_filters_explains_and_logs_the_shortlist(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    built = build_index(handler_env)
    assert built["status"] == "built" and built["profiles"] == len(lake["companies"])
    assert build_index(handler_env)["status"] == "unchanged"
    matcher_env(handler_env, lake)
    status, answer = call("POST", "/match", {"challenge_text": CHALLENGE})
    assert status == 200, answer
    matches = answer["matches"]
    assert len(matches) == 20 and [m["rank"] for m in matches] == list(range(1, 21))
    assert all(m["reasons"] and m["model_version"] == "prior-v1" for m in matches)
    assert [m["score"] for m in matches] == sorted((m["score"] for m in matches), reverse=True)
    top_tags = Counter(t for m in matches[:5] for t in m["industries"])
    assert "Industrials" in top_tags  # robots and automation lead to industrial startups
    shortlists = lake["store"].list("shortlists/")
    assert len(shortlists) == 1
    logged = json.loads(lake["store"].get(shortlists[0]))
    assert [m["domain"] for m in logged["matches"]] == [m["domain"] for m in matches]
    assert logged["model_version"] == "prior-v1" and logged["text_hash"] and logged["index_version"]

    status, filtered = call("POST", "/match", {"challenge_text": CHALLENGE, "country": "Brazil", "top_k": 100})
    assert status == 200 and filtered["matches"]
    assert {m["country"] for m in filtered["matches"]} == {"Brazil"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"challenge_text": ""}, 400, "at least"),
        ({"challenge_text": "x" * 6000}, 400, "at most"),
        ({"challenge_text": CHALLENGE, "top_k": 500}, 400, "top_k"),
        ({"challenge_text": CHALLENGE, "industry": "Underwater Basket Weaving"}, 400, "unknown industry"),
        ({"challenge_text": CHALLENGE, "country": "Atlantis"}, 400, "unknown country"),
        (b"{not json", 400, "JSON"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_message(
    aws: Aws, handler_env: Any, lake: dict[str, Any], body: Any, status: int, message: str
) -> None:
    build_index(handler_env)
    matcher_env(handler_env, lake)
    got, answer = call("POST", "/match", body)
    assert got == status and message in answer["error"]


def test_no_index_yet_is_503_and_a_new_index_version_is_picked_up(
    aws: Aws, handler_env: Any, lake: dict[str, Any]
) -> None:
    matcher_env(handler_env, lake, INDEX_REFRESH_SECONDS="0")
    status, answer = call("POST", "/match", {"challenge_text": CHALLENGE})
    assert status == 503 and "no index" in answer["error"]
    assert call("GET", "/health")[1]["status"] == "not_ready"
    first = build_index(handler_env)
    matcher_env(handler_env, lake, INDEX_REFRESH_SECONDS="0")
    assert call("GET", "/health")[1] == {
        "status": "ok",
        "index_version": first["version"],
        "profiles": first["profiles"],
        "model_id": first["model_id"],
    }
    # a new gold part changes the sources: the builder makes a new version, the warm matcher loads it
    store = lake["store"]
    (gold,) = store.list("gold/profiles/")
    store.put("gold/profiles/date=2026-11-23/part-again.parquet", store.get(gold))
    handler_env("IndexBuilderFunction")
    second = load_handler_module("index_builder").handler({}, FakeContext("index-builder"))
    assert second["status"] == "built" and second["version"] != first["version"]
    from thera.stages import matcher

    handler_env(
        "MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=lake["model"], INDEX_REFRESH_SECONDS="0"
    )
    status, answer = call("POST", "/match", {"challenge_text": CHALLENGE})
    assert status == 200 and answer["index_version"] == second["version"]
    assert matcher.matcher_service.cache_info().currsize == 1


# 200 requests through the handler: 6 s alone, 28 s beside other tests; pick_version's unit test checks the split
@pytest.mark.slow
def test_champion_challenger_weights_route_traffic_and_models_says_so(
    aws: Aws, handler_env: Any, lake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from thera.stages import matcher

    # The service draws from the random module; a seeded stream makes the split the same on every run
    # (the process-wide stream once gave 89 of 200 to a 0.3 weight). pick_version's own test
    # checks the split over 20,000 draws.
    monkeypatch.setattr(matcher, "random", random.Random(2026))
    build_index(handler_env)
    store = lake["store"]
    challenger = {
        "version": "lr-challenger",
        "kind": "logistic_regression",
        "coefficients": {
            "similarity": 5,
            "topic_affinity": 4,
            "keyword_overlap": 0,
            "health": 0,
            "richness": 0,
            "completeness": 0,
        },
        "intercept": -5,
    }
    store.put(keys.model_artifact("lr-challenger"), json.dumps(challenger).encode())
    pointer = {"versions": [{"version": "prior-v1", "weight": 0.7}, {"version": "lr-challenger", "weight": 0.3}]}
    store.put(keys.SERVING_POINTER, json.dumps(pointer).encode())
    matcher_env(handler_env, lake)
    status, models = call("GET", "/models")
    assert status == 200 and models["serving"] == [
        {"version": "prior-v1", "weight": 0.7, "kind": "logistic_regression"},
        {"version": "lr-challenger", "weight": 0.3, "kind": "logistic_regression"},
    ]
    served = Counter(
        call("POST", "/match", {"challenge_text": CHALLENGE, "top_k": 1})[1]["model_version"] for _ in range(200)
    )
    assert set(served) == {"prior-v1", "lr-challenger"}
    assert abs(served["lr-challenger"] / 200 - 0.3) < 0.12  # 3.7 standard deviations at n=200


def test_feedback_is_stored_and_the_days_ams_uses_it(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    build_index(handler_env)
    matcher_env(handler_env, lake)
    _, answer = call("POST", "/match", {"challenge_text": CHALLENGE, "top_k": 2, "challenge_id": "ch-1"})
    first, second = answer["matches"]
    status, stored = call(
        "POST", "/feedback", {"challenge_id": "ch-1", "domain": first["domain"], "decision": "accept"}
    )
    assert status == 201 and lake["store"].metadata(stored["stored"]) is not None
    bad, error = call("POST", "/feedback", {"challenge_id": "ch-1", "domain": first["domain"], "decision": "maybe"})
    assert bad == 400 and "decision" in error["error"]
    handler_env("AmsFunction")
    # the business day the matcher filed the shortlist under (its UTC timestamp can be the next day)
    day = lake["store"].list("shortlists/")[0].split("date=")[1].split("/")[0]
    result = load_handler_module("ams").handler({"date": day}, FakeContext("ams"))
    expected = (1.0 + second["score"]) / 2  # accepted counts 1, the other its score
    assert result["challenges"] == 1 and abs(result["ams"] - expected) < 1e-4
    table = from_parquet(lake["store"].get(keys.ams_metrics(day))).to_pylist()
    assert [(r["challenge_id"], r["accepted"]) for r in table] == [("ch-1", 1), ("__overall__", 1)]


def test_the_explorer_page_is_served(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    matcher_env(handler_env, lake)
    status, page = call("GET", "/")
    assert status == 200 and "Match explorer" in page and "fetch(path" in page


def test_every_route_answers_its_sample_event(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    """events/matcher_http_*.json, as `sam local invoke MatcherFunction -e` sends them, through the handler."""
    from tests.conftest import EVENTS, load_event

    build_index(handler_env)
    matcher_env(handler_env, lake)
    answers = {}
    for path in sorted(EVENTS.glob("matcher_http_*.json")):
        answer = load_handler_module("matcher").handler(load_event(path.name), FakeContext("matcher"))
        answers[path.name] = (answer["statusCode"], answer["headers"]["Content-Type"], answer["body"])
    assert {name: status for name, (status, _, _) in answers.items()} == {
        "matcher_http_explorer.json": 200,
        "matcher_http_config.json": 200,
        "matcher_http_facets.json": 200,
        "matcher_http_feedback.json": 201,
        "matcher_http_feedback_batch.json": 200,
        "matcher_http_health.json": 200,
        "matcher_http_match.json": 200,
        "matcher_http_models.json": 200,
        "matcher_http_save_shortlist.json": 201,
        "matcher_http_list_shortlists.json": 200,
        # the samples name a shortlist id no store holds
        "matcher_http_open_shortlist.json": 404,
        "matcher_http_decide_on_shortlist.json": 404,
        "matcher_http_export_shortlist.json": 404,
    }
    assert (
        answers["matcher_http_explorer.json"][1] == "text/html"
        and "Match explorer" in answers["matcher_http_explorer.json"][2]
    )
    assert json.loads(answers["matcher_http_health.json"][2])["status"] == "ok"
    assert json.loads(answers["matcher_http_config.json"][2]) == {"auth": "IAM"}  # the page signs nothing
    assert json.loads(answers["matcher_http_models.json"][2])["serving"][0]["version"] == "prior-v1"
    facets = json.loads(answers["matcher_http_facets.json"][2])
    assert "Fintech" in facets["industries"] and "United States" in facets["countries"]
    assert facets["countries"] == sorted(
        {c["country"] for c in lake["companies"] if c.get("country")}, key=str.casefold
    )
    matches = json.loads(answers["matcher_http_match.json"][2])["matches"]
    assert 0 < len(matches) <= 5 and {m["country"] for m in matches} == {"United States"}
    assert all(m["website"].startswith(("https://", "http://")) and m["one_liner"] for m in matches)
    stored = json.loads(answers["matcher_http_feedback.json"][2])["stored"]
    assert json.loads(lake["store"].get(stored))["decision"] == "accept"


def test_thera_match_prints_how_many_weaker_matches_the_floor_left_out(
    aws: Aws,
    handler_env: Any,
    lake: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`thera match` on the handler (its stack faked by the handler on the emulator), with a score floor."""
    from thera_local.cli import commands
    from thera_local.cli.main import main

    class Info:
        api = "http://127.0.0.1:9/dev"

    build_index(handler_env)
    matcher_env(handler_env, lake, MIN_MATCH_SCORE="0.1")
    monkeypatch.setattr(commands, "ensure_stack", lambda config, echo: Info())
    monkeypatch.setattr(commands, "http_call", lambda method, url, body: call(method, url[len(Info.api) :], body))
    left = call("POST", "/match", {"challenge_text": CHALLENGE})[1]["below_floor"]
    assert left > 0
    capsys.readouterr()
    assert main(["match", CHALLENGE]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == f"{left} weaker matches left out (score under 0.1)"
    assert main(["match", CHALLENGE, "--json"]) == 0
    shown = capsys.readouterr()
    assert len(json.loads(shown.out)) == 20 - left  # stdout stays the JSON list
    assert shown.err.strip().splitlines()[-1] == f"{left} weaker matches left out (score under 0.1)"
