"""Decisions made before Thera: each row checked with a reason, duplicates dropped, features computed at training."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes import MemoryObjectStore
from tests.unit.served import Served, served_sample
from thera.kernel import keys
from thera.matching import FEATURES, PRIOR_MODEL, BadRequest, MatchRequest, challenge_vectors, rank
from thera.matching.index_store import load_index, read_pointer
from thera.matching.serving import embed_all
from thera.training.imported import MAX_BATCH_ROWS, Featurizer, check_batch, import_batch, resolve, stored
from thera.training.training import labelled_set

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
TEXT = "We need robots and automation for our warehouses and factories"


def row(**changes: Any) -> dict[str, Any]:
    good = {
        "challenge_text": TEXT,
        "domain": "acme-robots.com",
        "decision": "accept",
        "decided_at": "2025-06-03T14:20:00Z",
        "who": "ana.souza",
    }
    return {**good, **changes}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (row(domain="not a domain"), "'domain' must be a domain name such as acme.com, got 'not a domain'"),
        (row(domain="https://acme.com/"), "'domain' must be a domain name"),
        (row(domain="acme"), "'domain' must be a domain name"),
        (row(domain=None), "'domain' must be a domain name"),
        (row(decision="maybe"), "'decision' must be accept or reject, got 'maybe'"),
        (row(decided_at="last tuesday"), "'decided_at' must be an ISO 8601 time"),
        (row(decided_at="2025-13-01"), "'decided_at' must be an ISO 8601 time"),
        (row(decided_at="2027-01-01T00:00:00Z"), "'decided_at' 2027-01-01T00:00:00+00:00 is in the future"),
        (row(challenge_text="   "), "'challenge_text' must be a text of at least 10 characters"),
        (row(challenge_text="robots"), "at least 10 characters"),
        (row(challenge_text="x" * 5001), "'challenge_text' is 5001 characters; at most 5000"),
        (row(who=""), "'who' must name who decided"),
        (row(who="  "), "'who' must name who decided"),
        (row(who="x" * 201), "'who' must name who decided (1 to 200 characters)"),
        ("acme.com,accept", "a row must be an object"),
    ],
)
def test_each_bad_row_is_refused_with_its_number_and_a_one_line_reason(bad: Any, reason: str) -> None:
    good, refused = check_batch({"rows": [row(), bad, row(domain="beta.io")], "first_row": 2}, NOW)
    assert [g["domain"] for g in good] == ["acme-robots.com", "beta.io"]
    (refusal,) = refused
    assert refusal.row == 3 and reason in refusal.reason and "\n" not in refusal.reason


def test_a_good_row_is_stored_normalized_who_included() -> None:
    good, refused = check_batch(
        {"rows": [row(domain=" Acme-Robots.COM ", decision="Reject", decided_at="2025-06-03 11:20-03:00")]}, NOW
    )
    assert refused == []
    (record,) = good
    assert record["domain"] == "acme-robots.com" and record["decision"] == "reject" and record["who"] == "ana.souza"
    assert record["decided_at"] == "2025-06-03T14:20:00+00:00"  # one instant, one spelling: duplicates compare
    assert check_batch({"rows": [row(decided_at="2025-06-03")]}, NOW)[0][0]["decided_at"] == "2025-06-03T00:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([row()], "a JSON object with 'rows'"),
        ({"rows": []}, "a JSON object with 'rows'"),
        ({"rows": [row()] * (MAX_BATCH_ROWS + 1)}, f"at most {MAX_BATCH_ROWS} rows, got {MAX_BATCH_ROWS + 1}"),
        ({"rows": [row()], "first_row": 0}, "'first_row' must be a positive integer"),
    ],
)
def test_a_malformed_or_oversized_batch_is_a_bad_request(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_batch(body, NOW)


def test_duplicates_are_dropped_and_counted_within_a_batch_and_against_earlier_imports() -> None:
    store = MemoryObjectStore()
    first = import_batch(store, {"rows": [row(), row(), row(domain="beta.io"), row(decision="maybe")]}, NOW, "d1")
    assert (first["rows"], first["stored"], first["duplicates"], first["refused"]) == (4, 2, 1, 1)
    assert first["errors"] == [{"row": 4, "reason": "'decision' must be accept or reject, got 'maybe'"}]
    assert first["key"].startswith("labels/imported/date=d1/") and first["key"].endswith(".jsonl")
    # the same decision again, spelt differently (case and spacing of the text, the domain's case, the offset)
    again = row(challenge_text=f"  {TEXT.upper()} ", domain="ACME-ROBOTS.COM", decided_at="2025-06-03T11:20:00-03:00")
    second = import_batch(store, {"rows": [again, row(decision="reject"), row(domain="beta.io")]}, NOW, "d2")
    assert (second["stored"], second["duplicates"], second["refused"]) == (1, 2, 0)
    assert import_batch(store, {"rows": [row()]}, NOW, "d3") == {
        "rows": 1,
        "stored": 0,
        "duplicates": 1,
        "refused": 0,
        "errors": [],
        "key": None,
    }
    records = list(stored(store))
    assert len(records) == 3 and len(store.list(keys.LABELS_IMPORTED)) == 2
    assert {r["who"] for r in records} == {"ana.souza"} and all(r["imported_at"] == NOW.isoformat() for r in records)


@pytest.fixture(scope="module")
def served() -> Served:
    return served_sample()


def featurizer(served: Served) -> Featurizer:
    index = load_index(served.store, read_pointer(served.store) or {})
    return Featurizer(index, lambda texts: embed_all(served.model, texts), served.model.model_id)


def test_imported_decisions_get_the_features_the_matcher_computes_and_unknown_domains_are_counted(
    served: Served,
) -> None:
    matcher = featurizer(served)
    query, variants = challenge_vectors(matcher.index, TEXT, matcher.embed)
    shown = rank(matcher.index, query, MatchRequest(TEXT, top_k=3), PRIOR_MODEL, variants)
    store = MemoryObjectStore()
    rows = [
        row(domain=shown[0].domain, decided_at="2025-01-01T00:00:00Z", decision="reject"),
        row(domain=shown[0].domain, decided_at="2025-02-01T00:00:00Z"),  # the later decision counts
        row(domain=shown[2].domain, decision="reject"),
        row(domain="gone-since.com"),
    ]
    import_batch(store, {"rows": rows}, NOW, "d1")
    resolved = resolve(list(stored(store)), lambda: matcher)
    assert resolved.counts() == {
        "labels": 2,
        "accepted": 1,
        "rejected": 1,
        "replaced": 1,
        "skipped_unknown_domain": 1,
        "skipped_no_index": 0,
    }
    by_domain = {r["domain"]: (r["decision"], f) for r, f in resolved.decisions}
    for match in (shown[0], shown[2]):
        assert by_domain[match.domain][1] == [match.features[f] for f in FEATURES]  # what /match logged for it
    assert by_domain[shown[0].domain][0] == "accept"

    # the training set counts them beside the feedback on shortlists
    matches = [{"domain": "x.io", "features": dict.fromkeys(FEATURES, 0.5)}]
    shortlist: dict[str, Any] = {"challenge_id": "c1", "at": "2026-11-20T10:00:00+00:00", "matches": matches}
    feedback = [{"challenge_id": "c1", "domain": "x.io", "decision": "accept", "at": "2026-11-20T10:05:00+00:00"}]
    labelled = labelled_set([shortlist], feedback, resolved.decisions)
    assert len(labelled.labels) == 3 and labelled.imported == 2
    assert labelled.at == sorted(labelled.at) and labelled.domains == [shown[0].domain, shown[2].domain, "x.io"]
    assert labelled.labels.tolist() == [1, 0, 1] and labelled.features[2].tolist() == [0.5] * len(FEATURES)


def test_a_decision_on_a_startup_the_first_stage_passes_over_still_gets_its_features(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a million profiles the first stage keeps a few hundred candidates; a startup someone rejected
    before Thera is often not among them, and its decision is a label all the same."""
    ranking = importlib.import_module("thera.matching.rank")  # the module: the package exports its function

    matcher = featurizer(served)
    query, variants = challenge_vectors(matcher.index, TEXT, matcher.embed)
    monkeypatch.setattr(ranking, "CANDIDATES", 5)  # a first stage that keeps 5 of the sample's startups
    few = {m.domain for m in rank(matcher.index, query, MatchRequest(TEXT, top_k=100), PRIOR_MODEL, variants)}
    outside = next(d for d in reversed(matcher.index.domains) if d not in few)
    store = MemoryObjectStore()
    import_batch(store, {"rows": [row(domain=outside, decision="reject")]}, NOW, "d1")
    resolved = resolve(list(stored(store)), lambda: matcher)
    assert resolved.counts()["labels"] == 1 and resolved.counts()["rejected"] == 1
    ((record, features),) = resolved.decisions
    assert record["domain"] == outside and len(features) == len(FEATURES)
    position = matcher.index.domains.index(outside)
    alone = rank(matcher.index, query, MatchRequest(TEXT, top_k=100), PRIOR_MODEL, variants, include=[position])
    assert features == [float(next(m for m in alone if m.domain == outside).features[f]) for f in FEATURES]


def test_without_an_index_imported_decisions_are_counted_not_guessed() -> None:
    store = MemoryObjectStore()
    import_batch(store, {"rows": [row(), row(domain="beta.io")]}, NOW, "d1")
    assert resolve(list(stored(store)), lambda: None).counts()["skipped_no_index"] == 2
    assert resolve([], lambda: pytest.fail("no index is loaded when nothing was imported")).counts()["labels"] == 0


def test_an_index_of_another_embedding_model_is_a_clear_error(served: Served) -> None:
    store = MemoryObjectStore()
    import_batch(store, {"rows": [row()]}, NOW, "d1")
    other = featurizer(served)
    other = Featurizer(other.index, other.embed, "amazon.titan-embed-text-v2:0")
    with pytest.raises(ValueError, match=r"the index holds .* vectors; the training embeds with amazon\.titan"):
        resolve(list(stored(store)), lambda: other)
    assert json.loads(store.get(store.list("labels/")[0]).decode().splitlines()[0])["domain"] == "acme-robots.com"
