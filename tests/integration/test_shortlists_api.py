"""Saved shortlists through MatcherFunction's handler, on the emulator's table and bucket."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tests.conftest import FakeContext, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_matcher_handlers import CHALLENGE, build_index, lake, matcher_env
from thera.kernel import keys
from thera_local.api import http_event

__all__ = ["lake"]  # the fixture, shared with the matcher's other handler tests

ANA = {"iam": {"userArn": "arn:aws:sts::123456789012:assumed-role/innovation/ana"}}
BEN = {"jwt": {"claims": {"email": "ben@example.com", "sub": "u-2"}}}


def call(method: str, path: str, body: Any = None, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    event = http_event(method, path, "", {"content-type": "application/json"}, raw, "dev")
    event["requestContext"]["authorizer"] = authorizer or ANA
    answer: dict[str, Any] = load_handler_module("matcher").handler(event, FakeContext("matcher"))
    return answer


def body(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])


def test_save_list_reopen_decide_and_export(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    build_index(handler_env)
    matcher_env(handler_env, lake)
    request = {"name": "Warehouse robots", "challenge_text": CHALLENGE, "top_k": 5, "challenge_id": "ch-7"}
    saved = call("POST", "/shortlists", request)
    assert saved["statusCode"] == 201, saved["body"]
    assert body(saved)["matches_from"] == "matched_on_save"  # a client that sends only the challenge
    sid = body(saved)["id"]
    (listed,) = body(call("GET", "/shortlists"))["shortlists"]
    assert (listed["id"], listed["name"], listed["size"], listed["challenge_id"]) == (
        sid,
        "Warehouse robots",
        "5",
        "ch-7",
    )
    reopened = body(call("GET", f"/shortlists/{sid}"))
    assert reopened["name"] == "Warehouse robots" and reopened["challenge_text"] == CHALLENGE
    assert reopened["created_by"] == ANA["iam"]["userArn"] and len(reopened["matches"]) == 5
    assert all(m["reasons"] for m in reopened["matches"]) and reopened["decisions"] == {}
    first, second = (m["domain"] for m in reopened["matches"][:2])

    decided = call("POST", f"/shortlists/{sid}/decisions", {"domain": first, "decision": "accept"}, BEN)
    assert decided["statusCode"] == 201
    call("POST", f"/shortlists/{sid}/decisions", {"domain": second, "decision": "reject"})
    decisions = body(call("GET", f"/shortlists/{sid}"))["decisions"]
    assert {d: (v["decision"], v["decided_by"]) for d, v in decisions.items()} == {
        first: ("accept", "ben@example.com"),
        second: ("reject", ANA["iam"]["userArn"]),
    }
    # the lake's feedback log holds the decision, as POST /feedback writes it
    logged = json.loads(lake["store"].get(body(decided)["stored"]))
    assert (logged["challenge_id"], logged["domain"], logged["decision"]) == ("ch-7", first, "accept")
    assert body(decided)["stored"].startswith(keys.FEEDBACK)

    export = call("GET", f"/shortlists/{sid}/csv")
    assert export["statusCode"] == 200
    assert export["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    assert export["headers"]["Content-Disposition"] == f'attachment; filename="warehouse-robots-{sid[:8]}.csv"'
    rows = list(csv.DictReader(io.StringIO(export["body"])))
    assert [r["domain"] for r in rows] == [m["domain"] for m in reopened["matches"]]
    assert (rows[0]["decision"], rows[0]["decided_by"], rows[1]["decision"]) == ("accept", "ben@example.com", "reject")


def test_bad_input_is_400_and_an_unknown_shortlist_is_404(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    build_index(handler_env)
    matcher_env(handler_env, lake)
    for payload, message in (
        ({"challenge_text": CHALLENGE}, "'name'"),
        ({"name": "x", "challenge_text": "short"}, "challenge_text"),
        (b"{not json", "JSON"),
    ):
        answer = call("POST", "/shortlists", payload)
        assert answer["statusCode"] == 400 and message in body(answer)["error"]
    sid = body(call("POST", "/shortlists", {"name": "Robots", "challenge_text": CHALLENGE, "top_k": 2}))["id"]
    bad = call("POST", f"/shortlists/{sid}/decisions", {"domain": "not-on-it.com", "decision": "accept"})
    assert bad["statusCode"] == 400 and "on this shortlist" in body(bad)["error"]
    for method, path in (
        ("GET", "/shortlists/0123456789abcdef0123456789abcdef"),
        ("GET", "/shortlists/nope/csv"),
        ("POST", "/shortlists/nope/decisions"),
    ):
        answer = call(method, path, {"domain": "a.com", "decision": "accept"} if method == "POST" else None)
        assert answer["statusCode"] == 404 and "no saved shortlist" in body(answer)["error"], path
    assert lake["store"].list(keys.FEEDBACK) == []


def test_a_save_keeps_the_matches_shown_not_a_new_ranking(aws: Aws, handler_env: Any, lake: dict[str, Any]) -> None:
    build_index(handler_env)
    matcher_env(handler_env, lake)
    request = {"challenge_text": CHALLENGE, "top_k": 5}
    answer = call("POST", "/match", request)
    assert answer["statusCode"] == 200, answer["body"]
    shown = body(answer)
    # what the page showed ranked otherwise than the matcher ranks now (as after a new index or model)
    reordered = [{**m, "rank": r + 1} for r, m in enumerate(reversed(shown["matches"]))]
    shown = {**shown, "matches": reordered}
    saved = call("POST", "/shortlists", {**request, "name": "As shown", "shown": shown})
    assert saved["statusCode"] == 201, saved["body"]
    reopened = body(call("GET", f"/shortlists/{body(saved)['id']}"))
    assert reopened["matches"] == reordered and reopened["matches_from"] == "shown"
    assert reopened["index_version"] == shown["index_version"]
    assert len(lake["store"].list("shortlists/")) == 1  # the /match's log; the save matched nothing again

    gone = {**reordered[0], "domain": "not-in-the-index.example"}
    refused = call("POST", "/shortlists", {**request, "name": "Gone", "shown": {**shown, "matches": [gone]}})
    assert refused["statusCode"] == 400 and "not-in-the-index.example" in body(refused)["error"]
    bad = call("POST", "/shortlists", {**request, "name": "Bad", "shown": {**shown, "matches": [{"rank": 1}]}})
    assert bad["statusCode"] == 400 and "'score'" in body(bad)["error"]
    assert len(body(call("GET", "/shortlists"))["shortlists"]) == 1
