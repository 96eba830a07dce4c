"""Saved shortlists (thera.matching.shortlists) over the in-memory fakes: what the team sees and exports."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes import MemoryObjectStore, MemoryShortlistStore
from thera.kernel import keys
from thera.matching import BadRequest, MatchRequest
from thera.matching.shortlists import NotFound, ShortlistService, caller_identity, spreadsheet_safe

ANA = "arn:aws:sts::123456789012:assumed-role/innovation/ana"
BEN = "ben@example.com"
CHALLENGE = "Robots that pick and pack orders in our warehouses"


def fake_match(body: Any, request_id: str) -> dict[str, Any]:
    """What MatcherService.match answers, for three startups (one with a name a spreadsheet would run)."""
    request = MatchRequest.parse(body)
    startups = [
        ("picker.io", "Picker", 0.91, ["robotics, warehouses"], "https://picker.io"),
        ("evil.com", '=HYPERLINK("http://x")', 0.72, ['+1 "quoted", with comma'], "https://evil.com"),
        ("packbot.ai", "PackBot", 0.55, ["packing"], ""),
    ]
    return {
        "challenge_id": request.challenge_id or "hash-1",
        "model_version": "prior-v1",
        "index_version": "v1",
        "matches": [
            {
                "rank": r + 1,
                "domain": d,
                "name": n,
                "score": s,
                "reasons": why,
                "website": w,
                "country": "Brazil",
                "industries": ["Industrials"],
                "model_version": "prior-v1",
            }
            for r, (d, n, s, why, w) in enumerate(startups)
        ],
    }


class Setup:
    def __init__(self) -> None:
        self.store = MemoryShortlistStore()
        self.lake = MemoryObjectStore()
        ticks = itertools.count()
        self.ids = (f"{i:032x}" for i in itertools.count(1))
        self.service = ShortlistService(
            self.store,
            self.lake,
            fake_match,
            now=lambda: datetime(2026, 11, 22, 12, tzinfo=UTC) + timedelta(minutes=next(ticks)),
            date=lambda: "2026-11-22",
            new_id=lambda: next(self.ids),
        )


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_a_saved_shortlist_reopens_as_saved_and_lists_newest_first(setup: Setup) -> None:
    service = setup.service
    first = service.save({"name": "  Warehouse   robots ", "challenge_text": CHALLENGE, "country": "Brazil"}, ANA, "r1")
    second = service.save({"name": "Packing", "challenge_text": CHALLENGE, "challenge_id": "ch-9"}, BEN, "r2")
    assert first["name"] == "Warehouse robots" and first["created_by"] == ANA
    reopened = service.open(first["id"])
    assert reopened == first
    assert reopened["challenge_text"] == CHALLENGE and reopened["filters"] == {"industry": None, "country": "Brazil"}
    assert [m["domain"] for m in reopened["matches"]] == ["picker.io", "evil.com", "packbot.ai"]
    assert reopened["matches"][0]["reasons"] == ["robotics, warehouses"] and reopened["decisions"] == {}
    listed = service.list_saved()["shortlists"]
    assert [(s["id"], s["name"], s["size"]) for s in listed] == [
        (second["id"], "Packing", "3"),
        (first["id"], "Warehouse robots", "3"),
    ]


def test_decisions_are_kept_with_who_and_when_and_logged_as_feedback(setup: Setup) -> None:
    service = setup.service
    saved = service.save({"name": "Robots", "challenge_text": CHALLENGE, "challenge_id": "ch-1"}, ANA, "r1")
    service.decide(saved["id"], {"domain": "picker.io", "decision": "reject"}, ANA)
    answer = service.decide(saved["id"], {"domain": "picker.io", "decision": "accept"}, BEN)
    service.decide(saved["id"], {"domain": "packbot.ai", "decision": "reject"}, ANA)
    decisions = service.open(saved["id"])["decisions"]
    assert decisions["picker.io"]["decision"] == "accept" and decisions["picker.io"]["decided_by"] == BEN
    assert decisions["packbot.ai"]["decided_by"] == ANA and "evil.com" not in decisions
    assert answer["decided_at"] > saved["created_at"]
    # the weekly training and AMS read these as they read POST /feedback's
    logged = json.loads(setup.lake.get(keys.feedback("2026-11-22", "ch-1", "picker.io")))
    assert {k: logged[k] for k in ("challenge_id", "domain", "decision", "model_version")} == {
        "challenge_id": "ch-1",
        "domain": "picker.io",
        "decision": "accept",
        "model_version": "prior-v1",
    }
    assert logged["at"] == answer["decided_at"] and logged["decided_by"] == BEN
    assert len(setup.lake.list(keys.FEEDBACK)) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not an object", "JSON object"),
        ({"challenge_text": CHALLENGE}, "'name'"),
        ({"name": "   ", "challenge_text": CHALLENGE}, "'name'"),
        ({"name": "x" * 121, "challenge_text": CHALLENGE}, "at most 120"),
        ({"name": "bell\x07", "challenge_text": CHALLENGE}, "printable"),
        ({"name": "ok", "challenge_text": "short"}, "challenge_text"),
    ],
)
def test_a_bad_save_is_refused_and_nothing_is_kept(setup: Setup, body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        setup.service.save(body, ANA, "r1")
    assert setup.service.list_saved() == {"shortlists": []}


def test_a_bad_decision_is_refused_and_an_unknown_shortlist_is_not_found(setup: Setup) -> None:
    service = setup.service
    saved = service.save({"name": "Robots", "challenge_text": CHALLENGE}, ANA, "r1")
    with pytest.raises(BadRequest, match="'decision'"):
        service.decide(saved["id"], {"domain": "picker.io", "decision": "maybe"}, ANA)
    with pytest.raises(BadRequest, match="on this shortlist"):
        service.decide(saved["id"], {"domain": "elsewhere.com", "decision": "accept"}, ANA)
    with pytest.raises(BadRequest, match="JSON object"):
        service.decide(saved["id"], ["picker.io"], ANA)
    for missing in ("f" * 32, "../etc/passwd", ""):
        with pytest.raises(NotFound):
            service.open(missing)
        with pytest.raises(NotFound):
            service.decide(missing, {"domain": "picker.io", "decision": "accept"}, ANA)
        with pytest.raises(NotFound):
            service.csv(missing)
    assert service.open(saved["id"])["decisions"] == {} and setup.lake.list(keys.FEEDBACK) == []


def test_the_csv_has_every_match_its_decision_and_no_cell_a_spreadsheet_would_run(setup: Setup) -> None:
    service = setup.service
    saved = service.save({"name": "Robots / Q1: Brazil!", "challenge_text": CHALLENGE}, ANA, "r1")
    service.decide(saved["id"], {"domain": "evil.com", "decision": "reject"}, "=cmd|' /C calc'!A0")
    filename, text = service.csv(saved["id"])
    assert filename == f"robots-q1-brazil-{saved['id'][:8]}.csv"
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "rank",
        "domain",
        "name",
        "score",
        "decision",
        "decided_by",
        "decided_at",
        "website",
        "country",
        "industries",
        "reasons",
    ]
    assert [(r["rank"], r["domain"], r["score"], r["decision"]) for r in rows] == [
        ("1", "picker.io", "0.9100", ""),
        ("2", "evil.com", "0.7200", "reject"),
        ("3", "packbot.ai", "0.5500", ""),
    ]
    evil = rows[1]
    assert evil["name"] == '\'=HYPERLINK("http://x")' and evil["decided_by"] == "'=cmd|' /C calc'!A0"
    assert evil["reasons"] == '\'+1 "quoted", with comma'  # escaped quotes and commas survive the round trip
    assert rows[0]["reasons"] == "robotics, warehouses" and rows[0]["website"] == "https://picker.io"
    assert service.csv(saved["id"]) == (filename, text)  # the same export twice


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("a=b", "a=b")],
)
def test_cells_that_start_like_a_formula_are_kept_as_text(value: str, safe: str) -> None:
    assert spreadsheet_safe(value) == safe


@pytest.mark.parametrize(
    ("context", "caller"),
    [
        ({"authorizer": {"iam": {"userArn": ANA}}}, ANA),
        ({"authorizer": {"jwt": {"claims": {"email": BEN, "sub": "abc"}}}}, BEN),
        ({"authorizer": {"jwt": {"claims": {"sub": "abc-123"}}}}, "abc-123"),
        ({"authorizer": None}, "unknown"),
        ({}, "unknown"),
        (None, "unknown"),
    ],
)
def test_the_caller_is_the_iam_arn_or_the_jwt_email_or_subject(context: Any, caller: str) -> None:
    assert caller_identity(context) == caller
