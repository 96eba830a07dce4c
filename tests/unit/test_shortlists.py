"""Saved shortlists (thera.matching.shortlists) over the in-memory fakes: what the team sees and exports."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes import MemoryObjectStore, MemoryShortlistStore
from thera.kernel import keys
from thera.matching import BadRequest, Match, MatchRequest, text_hash
from thera.matching.shortlists import (
    SHOWN_FIELDS,
    NotFound,
    ShortlistService,
    caller_identity,
    spreadsheet_safe,
)

ANA = "arn:aws:sts::123456789012:assumed-role/innovation/ana"
BEN = "ben@example.com"
CHALLENGE = "Robots that pick and pack orders in our warehouses"


STARTUPS = [
    ("picker.io", "Picker", 0.91, ["robotics, warehouses"], "https://picker.io"),
    ("evil.com", '=HYPERLINK("http://x")', 0.72, ['+1 "quoted", with comma'], "https://evil.com"),
    ("packbot.ai", "PackBot", 0.55, ["packing"], ""),
]


class FakeMatcher:
    """What MatcherService answers for three startups (one with a name a spreadsheet would run);
    ``startups`` and ``index`` change as a new index version would change them."""

    def __init__(self) -> None:
        self.startups = list(STARTUPS)
        self.index = {d for d, *_ in STARTUPS} | {"crane.dev"}

    def match(self, body: Any, request_id: str) -> dict[str, Any]:
        request = MatchRequest.parse(body)
        return {
            "challenge_id": request.challenge_id or text_hash(request.challenge_text),
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
                for r, (d, n, s, why, w) in enumerate(self.startups)
            ],
        }

    def known(self, domains: list[str]) -> set[str]:
        return {d for d in domains if d in self.index}


class Setup:
    def __init__(self) -> None:
        self.store = MemoryShortlistStore()
        self.lake = MemoryObjectStore()
        self.matcher = FakeMatcher()
        ticks = itertools.count()
        self.ids = (f"{i:032x}" for i in itertools.count(1))
        self.service = ShortlistService(
            self.store,
            self.lake,
            self.matcher.match,
            self.matcher.known,
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


def test_a_save_keeps_the_matches_shown_even_when_the_ranking_now_differs(setup: Setup) -> None:
    request = {"challenge_text": CHALLENGE, "country": "Brazil"}
    shown = setup.matcher.match(request, "r1")  # what the page showed
    setup.matcher.startups = [STARTUPS[2], ("crane.dev", "Crane", 0.97, ["cranes"], "")]  # a new index since
    saved = setup.service.save({**request, "name": "As shown", "shown": shown}, ANA, "r2")
    assert saved["matches"] == shown["matches"] and saved["matches_from"] == "shown"
    assert (saved["challenge_id"], saved["index_version"], saved["size"]) == (shown["challenge_id"], "v1", "3")
    assert setup.service.open(saved["id"])["matches"] == shown["matches"]
    # a client that sends only the challenge gets the match of now, and is told so
    again = setup.service.save({**request, "name": "Matched now"}, ANA, "r3")
    assert [m["domain"] for m in again["matches"]] == ["packbot.ai", "crane.dev"]
    assert again["matches_from"] == "matched_on_save"
    assert setup.lake.list("shortlists/") == []  # the match logged what it showed; a save logs no other


def test_a_shown_startup_the_index_no_longer_holds_is_refused_by_name(setup: Setup) -> None:
    shown = setup.matcher.match({"challenge_text": CHALLENGE}, "r1")
    setup.matcher.index -= {"evil.com"}
    with pytest.raises(BadRequest, match=r"not in the matcher's index \(any more\), so not saved: evil.com$"):
        setup.service.save({"name": "Gone", "challenge_text": CHALLENGE, "shown": shown}, ANA, "r2")
    assert setup.service.list_saved() == {"shortlists": []}


def _shown(**change: Any) -> dict[str, Any]:
    answer = FakeMatcher().match({"challenge_text": CHALLENGE}, "r0")
    matches = answer["matches"]
    for key, value in change.items():
        if key.startswith("m0_"):
            matches[0][key[3:]] = value
        elif key == "drop_m0":
            matches[0].pop(value)
        else:
            answer[key] = value
    return answer


@pytest.mark.parametrize(
    ("shown", "message"),
    [
        ("a list", "'shown' must be the /match answer"),
        (_shown(index_version=""), "'shown.index_version'"),
        (_shown(model_version=None), "'shown.model_version'"),
        (_shown(challenge_id="another"), "answers challenge another, not this one"),
        (_shown(matches={"a": 1}), "at most 100 matches"),
        (_shown(matches=[_shown()["matches"][0]] * 101), "at most 100 matches"),
        (_shown(matches=["picker.io"]), r"'shown.matches\[0\]' must be an object"),
        (_shown(m0_html="<b>"), "fields a /match answer has not: html"),
        (_shown(m0_rank=2), "'rank' must be 1"),
        (_shown(m0_rank=True), "'rank' must be 1"),
        (_shown(drop_m0="score"), "'score' must be a number from 0 to 1"),
        (_shown(m0_score=1.5), "'score' must be a number from 0 to 1"),
        (_shown(m0_score=float("nan")), "'score' must be a number from 0 to 1"),
        (_shown(m0_score="0.9"), "'score' must be a number from 0 to 1"),
        (_shown(m0_domain="Not A Domain"), "'domain' must be a domain name"),
        (_shown(m0_name="x" * 301), "'name' must be a text of at most 300"),
        (_shown(m0_country=7), "'country' must be a text"),
        (_shown(m0_reasons="one reason"), "'reasons' must be a list"),
        (_shown(m0_reasons=["x" * 501]), "each of 'reasons'"),
        (_shown(m0_tags=["t"] * 51), "'tags' must be a list of at most 50"),
        (_shown(m0_team_size="12"), "'team_size' must be a whole number"),
        (_shown(m0_features={"cosine": "high"}), "'features' must map feature names to numbers"),
        (_shown(matches=[_shown()["matches"][0], {**_shown()["matches"][0], "rank": 2}]), "repeats picker.io"),
    ],
)
def test_bad_shown_results_are_refused_with_what_is_wrong_and_nothing_is_kept(
    setup: Setup, shown: Any, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        setup.service.save({"name": "Bad", "challenge_text": CHALLENGE, "shown": shown}, ANA, "r1")
    assert setup.service.list_saved() == {"shortlists": []}


def test_a_shown_match_may_hold_every_field_a_match_answer_has() -> None:
    assert {"rank", "model_version", *(f.name for f in dataclasses.fields(Match))} == SHOWN_FIELDS


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
