"""Ranking, filters, bad input, champion/challenger and AMS, on a small hand-made index."""

from __future__ import annotations

import importlib
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from thera.kernel.tokens import stems
from thera.matching import (
    PRIOR_MODEL,
    BadRequest,
    Index,
    MatchRequest,
    challenge_vectors,
    leave_one_out,
    pick_version,
    profile_tags,
    rank,
    tag_centroids,
)
from thera.training.ams import average_match_score

AXES = {"robots": 0, "payments": 1, "biotech": 2, "food": 3}


def vec(*weights: tuple[str, float]) -> np.ndarray:
    v = np.zeros(4, dtype=np.float32)
    for axis, w in weights:
        v[AXES[axis]] = w
    return v / np.linalg.norm(v)


def profile(name: str, industries: list[str], keywords: list[str], country: str, health: int = 90) -> dict[str, Any]:
    return {
        "name": name,
        "industries": industries,
        "keywords": keywords,
        "country": country,
        "health_score": health,
        "content_richness": 60,
        "completeness": 80,
    }


@pytest.fixture
def index() -> Index:
    rows = [
        ("arm.io", profile("Arm", ["Industrials"], ["Robotics", "Hardware"], "Brazil"), vec(("robots", 1))),
        (
            "grip.io",
            profile("Grip", ["Industrials"], ["Robotics"], "United States"),
            vec(("robots", 0.9), ("food", 0.3)),
        ),
        ("bolt.io", profile("Bolt", ["Industrials"], ["Robotics"], "Brazil", 20), vec(("robots", 0.95), ("food", 0.1))),
        ("pay.io", profile("Pay", ["Fintech"], ["Payments"], "Brazil"), vec(("payments", 1))),
        (
            "coin.io",
            profile("Coin", ["Fintech"], ["Payments", "Crypto"], "Mexico"),
            vec(("payments", 0.8), ("robots", 0.2)),
        ),
        ("cell.io", profile("Cell", ["Healthcare"], ["Biotech"], "Brazil"), vec(("biotech", 1))),
        ("gene.io", profile("Gene", ["Healthcare"], ["Biotech"], "Brazil"), vec(("biotech", 0.9), ("food", 0.2))),
        ("farm.io", profile("Farm", ["Consumer"], ["Food"], "Brazil"), vec(("food", 1))),
    ]
    vectors = np.stack([r[2] for r in rows])
    profiles = [r[1] for r in rows]
    names, centroids = tag_centroids(vectors, profiles, min_profiles=1)
    return Index("v1", "m", [r[0] for r in rows], vectors, pa.Table.from_pylist(profiles), names, centroids)


def test_ranks_by_meaning_topic_and_quality_with_reasons(index: Index) -> None:
    matches = rank(index, vec(("robots", 1)), MatchRequest("robot arms for our warehouses", top_k=3), PRIOR_MODEL)
    assert [m.domain for m in matches] == ["arm.io", "grip.io", "bolt.io"]
    assert matches[0].score > matches[1].score > matches[2].score
    topic = next(r for r in matches[0].reasons if r.startswith("works in "))
    assert "robotics" in topic.split(":")[0] and "'robot'" in topic.split(":")[1]
    assert any("cosine" in r for r in matches[0].reasons)


def test_filters_keep_only_matching_profiles_and_unknown_values_are_refused(index: Index) -> None:
    request = MatchRequest("robot arms for our warehouses", top_k=10, industry="industrials", country="brazil")
    assert [m.domain for m in rank(index, vec(("robots", 1)), request, PRIOR_MODEL)] == ["arm.io", "bolt.io"]
    fintech = MatchRequest("robot arms for our warehouses", top_k=10, industry="Fintech")
    assert {m.domain for m in rank(index, vec(("robots", 1)), fintech, PRIOR_MODEL)} == {"pay.io", "coin.io"}
    with pytest.raises(BadRequest, match="unknown industry 'Space'"):
        rank(index, vec(("robots", 1)), MatchRequest("robot arms for our warehouses", industry="Space"), PRIOR_MODEL)
    with pytest.raises(BadRequest, match="unknown country"):
        rank(index, vec(("robots", 1)), MatchRequest("robot arms for our warehouses", country="Atlantis"), PRIOR_MODEL)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "challenge_text"),
        ({"challenge_text": "   "}, "at least 10"),
        ({"challenge_text": "x" * 5001}, "at most 5000"),
        ({"challenge_text": "robots for warehouses", "top_k": 0}, "top_k"),
        ({"challenge_text": "robots for warehouses", "top_k": 101}, "top_k"),
        ({"challenge_text": "robots for warehouses", "top_k": "20"}, "top_k"),
        ({"challenge_text": "robots for warehouses", "industry": ""}, "industry"),
        ("not an object", "JSON object"),
    ],
)
def test_bad_requests_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        MatchRequest.parse(body)


def test_champion_challenger_split_stays_within_tolerance() -> None:
    rng = random.Random(7)
    draws = [pick_version([("champion", 0.9), ("challenger", 0.1)], rng.random()) for _ in range(20_000)]
    share = draws.count("challenger") / len(draws)
    assert abs(share - 0.1) < 0.01  # 3 standard deviations of a binomial share at n=20,000 is 0.0064
    assert {pick_version([("only", 1.0)], rng.random()) for _ in range(100)} == {"only"}
    with pytest.raises(ValueError, match="positive weight"):
        pick_version([("a", 0.0)], 0.5)


def test_ams_on_a_hand_computed_example() -> None:
    shortlists = [
        {"challenge_id": "c1", "at": "1", "matches": [{"domain": "a", "score": 0.5}, {"domain": "b", "score": 0.9}]},
        # c1 asked again later: its latest shortlist is the one that counts
        {"challenge_id": "c1", "at": "2", "matches": [{"domain": "a", "score": 0.6}, {"domain": "c", "score": 0.4}]},
        {"challenge_id": "c2", "at": "1", "matches": [{"domain": "a", "score": 0.2}]},
    ]
    feedback = {("c1", "a"): "accept", ("c2", "a"): "reject", ("c9", "a"): "accept"}
    rows, overall = average_match_score(shortlists, feedback)
    # c1: a accepted -> 1.0, c unlabelled -> 0.4: (1.0 + 0.4) / 2 = 0.7; c2: a rejected -> 0.0
    assert [(r.challenge_id, r.matches, r.accepted, r.rejected, round(r.ams, 6)) for r in rows] == [
        ("c1", 2, 1, 0, 0.7),
        ("c2", 1, 0, 1, 0.0),
    ]
    assert overall is not None and round(overall.ams, 6) == 0.35 and (overall.accepted, overall.rejected) == (1, 1)
    assert average_match_score([], {}) == ([], None)


def test_index_reads_the_profile_table_as_the_row_by_row_definitions_say(seed: int) -> None:
    """Tags, quality and filter values are computed column-wise from Arrow: they must agree with
    ``profile_tags`` and the row-by-row reading on awkward rows (nulls, empty and missing lists,
    repeated and mixed-case tags, blank tags, one value in two columns), drawn from the run's seed."""
    rng = random.Random(seed)
    words = ["Robotics", "robotics ", "AI", "ai", " ", "", "B2B", "Fintech", "Health Tech", None]
    rows: list[dict[str, Any]] = []
    for _ in range(400):
        rows.append(
            {
                "industries": None if rng.random() < 0.1 else [rng.choice(words) for _ in range(rng.randint(0, 3))],
                "keywords": None if rng.random() < 0.1 else [rng.choice(words) for _ in range(rng.randint(0, 4))],
                "country": rng.choice(["Brazil", "brazil", "Mexico", None, ""]),
                "health_score": rng.choice([None, 0, 55, 100]),
                "content_richness": rng.randint(0, 100),
                "completeness": rng.randint(0, 100),
            }
        )
    table = pa.Table.from_pylist(rows)
    vectors = np.eye(len(rows), 4, dtype=np.float32)
    names = sorted({t for r in rows for t in profile_tags(r)})[::2]  # some tags have centroids, some not
    centroids = np.zeros((len(names), 4), dtype=np.float32)
    index = Index("v", "m", [f"d{i}.io" for i in range(len(rows))], vectors, table, names, centroids)

    for i, row in enumerate(rows):
        assert index.tags_of(i) == sorted(profile_tags(row))
        with_centroid = [index.tag_names[t] for t in index.tag_cols[index.tag_rows[i] : index.tag_rows[i + 1]]]
        assert with_centroid == sorted(profile_tags(row) & set(names))
        expected = [(row[k] or 0) / 100 for k in ("health_score", "content_richness", "completeness")]
        assert index.quality[i].tolist() == pytest.approx(expected)
    assert index.rows([3, 0]) == [rows[3], rows[0]]

    # a filter value names the spelling seen first, whatever its case
    first_ai = next(t for r in rows for t in r["industries"] or [] if t and t.lower() == "ai")
    keep = index.mask(MatchRequest("any challenge text", industry="Ai"))
    assert keep is not None and keep.tolist() == [first_ai in (r["industries"] or []) for r in rows]
    first_brazil = next(r["country"] for r in rows if (r["country"] or "").lower() == "brazil")
    keep = index.mask(MatchRequest("any challenge text", country="BRAZIL"))
    assert keep is not None and keep.tolist() == [r["country"] == first_brazil for r in rows]


def test_words_stem_so_that_a_challenge_meets_a_profile() -> None:
    assert stems("recruiting recruiters nurses robotics onboarding") == stems("recruit recruit nurse robot onboard")


SUPPLY = "Supply chain visibility for shippers: track every container and pallet across the chain."
HIRING = "Recruit, hire and onboard nurses and clinical staff quickly for hospitals and clinics."


@pytest.fixture
def trap_index() -> Index:
    """The embedding is fooled ("chain" points at supply chains); the texts are not."""
    rows = [(f"ship{i}.io", f"Ship{i}", ["Supply Chain"], ["Logistics", "Supply Chain"], SUPPLY, 1.0) for i in range(8)]
    rows += [(f"hire{i}.io", f"Hire{i}", ["Recruiting"], ["HR Tech", "Recruiting"], HIRING, 0.5) for i in range(4)]
    rows += [(f"misc{i}.io", f"Misc{i}", ["Consumer"], ["Food"], "Meal kits delivered at home.", 0.0) for i in range(3)]
    vectors = np.stack([vec(("payments", chain), ("food", 1 - chain)) for *_, chain in rows])
    profiles = [
        {**profile(name, industries, keywords, "Brazil"), "description": text}
        for _, name, industries, keywords, text, _ in rows
    ]
    names, centroids = tag_centroids(vectors, profiles, min_profiles=1)
    return Index("v1", "m", [r[0] for r in rows], vectors, pa.Table.from_pylist(profiles), names, centroids)


HOSPITAL = "Our hospital chain needs a platform to recruit and onboard nurses quickly"


def fooled_by_chain(texts: list[str]) -> np.ndarray:
    """An embedding that one word sways: any text with "chain" in it is about supply chains."""
    return np.stack(
        [vec(("payments", 1)) if "chain" in t.split() else vec(("payments", 0.5), ("food", 1)) for t in texts]
    )


def test_leave_one_out_drops_each_informative_word_once(trap_index: Index) -> None:
    variants = leave_one_out(trap_index, HOSPITAL)
    said = ["hospital", "chain", "needs", "platform", "recruit", "onboard", "nurses", "quickly"]
    assert variants == [" ".join(w for w in said if w != left) for left in said]
    assert leave_one_out(trap_index, "nurses") == []


def test_one_misleading_word_neither_fills_the_list_nor_names_a_topic(trap_index: Index) -> None:
    query, variants = challenge_vectors(trap_index, HOSPITAL, fooled_by_chain)
    request = MatchRequest(HOSPITAL, top_k=12)
    fooled = {m.domain[:4]: m.features for m in rank(trap_index, query, request, PRIOR_MODEL)}
    assert fooled["ship"]["similarity"] > fooled["hire"]["similarity"]  # the whole challenge alone

    matches = rank(trap_index, query, request, PRIOR_MODEL, variants)
    assert [m.domain[:4] for m in matches[:4]] == ["hire"] * 4
    held = {m.domain[:4]: m.features for m in matches}
    assert held["ship"]["similarity"] < fooled["ship"]["similarity"]  # what "chain" alone lent counts half
    assert held["hire"]["similarity"] == fooled["hire"]["similarity"]
    assert held["ship"]["topic_affinity"] == 0 < held["hire"]["topic_affinity"]
    topic = next(r for r in matches[0].reasons if r.startswith("works in "))
    assert topic.startswith("works in hr tech, recruiting: the challenge says ")
    assert "'recruit'" in topic and "'onboard'" in topic
    for m in matches:
        assert not any("supply chain" in r or "logistics" in r for r in m.reasons), m.reasons


def test_word_weights_count_rarity_over_an_even_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    import thera.matching.index

    texts = ["robot arms"] * 90 + ["robot nurses"] * 10
    profiles = [{**profile(f"P{i}", ["Industrials"], [], "Brazil"), "description": t} for i, t in enumerate(texts)]
    vectors = np.stack([vec(("robots", 1))] * len(texts))
    names, centroids = tag_centroids(vectors, profiles)
    table = pa.Table.from_pylist(profiles)
    full = Index("v1", "m", [f"p{i}.io" for i in range(len(texts))], vectors, table, names, centroids)
    monkeypatch.setattr(thera.matching.index, "IDF_SAMPLE", 20)
    sampled = Index("v1", "m", [f"p{i}.io" for i in range(len(texts))], vectors, table, names, centroids)
    for weights in (full.word_weights(), sampled.word_weights()):
        assert weights["nurs"] > weights["arm"] > weights["robot"]  # rarer weighs more
        assert weights[""] > weights["nurs"]  # a word no profile uses weighs most
    assert sampled.word_weights()["arm"] == pytest.approx(full.word_weights()["arm"], rel=0.1)


def test_sorted_unique_is_numpys_unique() -> None:
    from thera.matching import sorted_unique

    values = np.random.default_rng(3).integers(0, 50, 500)
    assert sorted_unique(values).tolist() == sorted(set(values.tolist()))
    assert sorted_unique(np.zeros(0, dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("seed", range(5))
def test_top_with_a_hint_finds_the_same_rows_as_a_full_partition(seed: int) -> None:
    from thera.matching.rank import top

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 40, 5_000).astype(np.float32)  # many ties, as lists' mean cosines are
    values[rng.random(5_000) < 0.3] = -np.inf  # filtered out
    hint = np.sort(rng.choice(5_000, size=400, replace=False))
    for count in (1, 30, 300):
        found = top(values, count, hint)
        assert len(set(found.tolist())) == count
        assert np.sort(values[found]).tolist() == np.sort(values)[-count:].tolist()
    assert sorted(top(values, 10_000, hint).tolist()) == list(range(5_000))
    bad_hint = np.flatnonzero(values == -np.inf)[:400]  # a hint of filtered rows bounds nothing
    assert np.sort(values[top(values, 50, bad_hint)]).tolist() == np.sort(values)[-50:].tolist()


@pytest.mark.parametrize("seed", range(8))
def test_topic_affinity_of_every_profile_is_the_best_of_its_topic_tags(index: Index, seed: int) -> None:
    from thera.matching.rank import _topic_affinity

    rng = np.random.default_rng(seed)
    sims = rng.uniform(-0.2, 1, len(index.tag_names)).astype(np.float32)
    topics = sorted(rng.choice(len(index.tag_names), size=3, replace=False).tolist())
    expected = [
        max(
            [
                max(0.0, float(sims[index.tag_names.index(t)]))
                for t in index.tags_of(i)
                if index.tag_names.index(t) in topics
            ]
            or [0.0]
        )
        for i in range(len(index))
    ]
    assert _topic_affinity(index, sims, topics).tolist() == pytest.approx(expected)
    rows = np.array([5, 0, 3], dtype=np.int64)
    assert _topic_affinity(index, sims, topics, rows).tolist() == pytest.approx([expected[5], expected[0], expected[3]])


def test_a_csr_with_its_columns_mapped_stays_sorted_by_row_then_column() -> None:
    from thera.matching.index import _map_csr

    offsets = np.array([0, 3, 3, 5], dtype=np.int64)
    for mapped, starts, cols in [
        ([4, -1, 9, 1, 2], [0, 2, 2, 4], [4, 9, 1, 2]),  # keeps each row's order: no sort needed
        ([9, 4, -1, 2, 1], [0, 2, 2, 4], [4, 9, 1, 2]),  # reverses it: sorted again
    ]:
        got_starts, got_cols = _map_csr(offsets, np.array(mapped, dtype=np.int64))
        assert got_starts.tolist() == starts
        assert got_cols.tolist() == cols


def farm_index(texts: dict[str, str], far: frozenset[str] = frozenset()) -> Index:
    """Profiles with these descriptions, every one near the robots axis but those in ``far``."""
    profiles = [
        {**profile(name, ["Industrials"], ["Hardware"], "Brazil"), "description": text} for name, text in texts.items()
    ]
    vectors = np.stack([vec(("food", 1)) if name in far else vec(("robots", 1)) for name in texts])
    names, centroids = tag_centroids(vectors, profiles, min_profiles=100)  # no topics: the words decide
    domains = [f"{n.lower()}.io" for n in texts]
    return Index("v1", "m", domains, vectors, pa.Table.from_pylist(profiles), names, centroids)


def test_the_needs_rare_words_weigh_most_and_words_said_again_count_again() -> None:
    texts = {f"Bot{i}": "Robots for every team that wants software." for i in range(8)}
    texts["Chatty"] = "Software for the team, software the team wants, software that every team wants."
    texts["Cowlar"] = "Collars that watch each dairy cow in the herd."
    index = farm_index(texts)
    challenge = "A team wants software to watch its dairy herd"
    matches = rank(index, vec(("robots", 1)), MatchRequest(challenge, top_k=3), PRIOR_MODEL)
    assert [m.name for m in matches[:2]] == ["Cowlar", "Chatty"]  # Chatty says it all again; the Bots once
    assert matches[0].features["keyword_overlap"] > 2 * matches[1].features["keyword_overlap"]


def test_the_rarest_words_find_their_profiles_where_the_embedding_looks_away(monkeypatch: pytest.MonkeyPatch) -> None:
    ranking = importlib.import_module("thera.matching.rank")  # the package exports the function rank
    monkeypatch.setattr(ranking, "CANDIDATES", 2)  # the embedding's pools hold 2 of 11 profiles
    texts = {f"Bot{i}": f"Robot arm number {i} for factories." for i in range(10)}
    texts["Cowlar"] = "A fitbit for dairy cattle: collars that watch each cow in the herd."
    index = farm_index(texts, far=frozenset({"Cowlar"}))  # the embedding does not know cattle: Cowlar points elsewhere
    challenge = "A cattle ranch wants to plan artificial insemination and feeding for its herd"
    matches = rank(index, vec(("robots", 1)), MatchRequest(challenge, top_k=len(texts)), PRIOR_MODEL)
    assert "cowlar.io" in [m.domain for m in matches]  # only candidates are ranked
    cowlar = next(m for m in matches if m.domain == "cowlar.io")
    assert any("'cattle'" in r and "'herd'" in r for r in cowlar.reasons), cowlar.reasons


NIGHT_WATCH = "An IT team wants alerts about the health of its servers and databases at night"


def read_by_health(texts: list[str]) -> np.ndarray:
    """An embedding that reads any text with "health" in it as the health field, whatever else it says."""
    return np.stack([vec(("biotech", 1)) if "health" in t.split() else vec(("robots", 1)) for t in texts])


def test_a_common_word_that_sways_the_reading_neither_fills_the_list_nor_names_a_topic() -> None:
    """Every profile says "health" (a common word); only the embedding reads it as a field. The
    nearest topics all hang on it, so the challenge is read without it: the ops profiles first."""
    ops = "Health checks and alerts when servers and databases fail."
    rows = [(f"ops{i}", ["Infrastructure"], ["DevOps", "Monitoring"], ops, "robots") for i in range(6)]
    fields = ["Sleep Tech", "Health Tech", "Wellness", "Telehealth", "Mental Health"]
    rows += [
        (f"rest{i}", ["Healthcare"], [f], "Better sleep and health every night.", "biotech")
        for i, f in enumerate(fields)
    ]
    profiles = [{**profile(n, ind, kw, "Brazil"), "description": d} for n, ind, kw, d, _ in rows]
    vectors = np.stack([vec((axis, 1)) for *_, axis in rows])
    names, centroids = tag_centroids(vectors, profiles, min_profiles=1)
    index = Index("v1", "m", [f"{r[0]}.io" for r in rows], vectors, pa.Table.from_pylist(profiles), names, centroids)

    query, variants = challenge_vectors(index, NIGHT_WATCH, read_by_health)
    matches = rank(index, query, MatchRequest(NIGHT_WATCH, top_k=len(rows)), PRIOR_MODEL, variants)
    assert [m.domain[:3] for m in matches[:6]] == ["ops"] * 6
    assert all(m.features["similarity"] == 0 for m in matches if m.domain.startswith("rest"))
    for m in matches:
        assert not any(f.lower() in r for f in fields for r in m.reasons), m.reasons
