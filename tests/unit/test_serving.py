"""The matcher's service on an in-memory lake (``tests/unit/served.py``): the score floor and imported decisions."""

from __future__ import annotations

import json

import pytest

from tests.unit.served import Served, served_sample

CHALLENGE = "We need robots and automation for our warehouses and factories"


@pytest.fixture(scope="module")
def served() -> Served:
    return served_sample()


def test_without_a_floor_every_ranked_match_is_returned(served: Served) -> None:
    answer = served.service().match({"challenge_text": CHALLENGE, "top_k": 20}, "r-all")
    assert len(answer["matches"]) == 20
    assert answer["below_floor"] == 0 and answer["min_score"] == 0.0


def test_matches_under_the_floor_are_left_out_and_counted(served: Served) -> None:
    everything = served.service().match({"challenge_text": CHALLENGE, "top_k": 20}, "r-all")["matches"]
    floor = everything[4]["score"]  # the fifth score: the first five stay (ties at the floor stay too)
    kept = [m for m in everything if m["score"] >= floor]
    answer = served.service(min_score=floor).match({"challenge_text": CHALLENGE, "top_k": 20}, "r-floor")
    assert [m["domain"] for m in answer["matches"]] == [m["domain"] for m in kept]
    assert [m["rank"] for m in answer["matches"]] == list(range(1, len(kept) + 1))
    assert all(m["score"] >= floor for m in answer["matches"])
    assert answer["below_floor"] == 20 - len(kept) > 0 and answer["min_score"] == floor
    # the shortlist logs what was shown, so neither the AMS nor the training counts a match nobody saw
    logged = json.loads(served.store.get(next(k for k in served.store.list("shortlists/") if "r-floor" in k)))
    assert [m["domain"] for m in logged["matches"]] == [m["domain"] for m in kept]


def test_a_floor_above_every_score_leaves_an_empty_answer_that_says_why(served: Served) -> None:
    answer = served.service(min_score=0.999).match({"challenge_text": CHALLENGE, "top_k": 10}, "r-none")
    assert answer["matches"] == [] and answer["below_floor"] == 10
