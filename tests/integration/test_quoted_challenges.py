"""The two challenges quoted in issue 16, ranked over the whole shared dataset with the local embedding.

Relevance comes from the dataset's tags and industries. The ranking before the issue's fix put
ten supply-chain companies first for the hospital and no startup that trains people in the
bank's top ten but one (0.0 and 0.1 of the top 10); the thresholds sit above those.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import ROOT
from thera.adapters.lsa import fit_lsa
from thera.matching import PRIOR_MODEL, Index, Match, MatchRequest, challenge_vectors, rank, tag_centroids
from thera.matching.index_store import DESCRIPTION_CHARS
from thera_local.models import DIMENSIONS, corpus_texts

DATA = Path(os.environ.get("THERA_COMPANIES") or ROOT.parent / "shared" / "data" / "yc_companies.jsonl")
HIRING = {"Recruiting", "HR Tech", "Talent Acquisition", "Human Resources", "Recruiting and Talent"}
TRAINING = {"Education", "eLearning", "AI-Enhanced Learning", "HR Tech", "Human Resources"}
LOGISTICS = {"Supply Chain", "Supply Chain and Logistics", "Logistics"}
OTHER_SECTORS = {"Healthcare", "Government", "GovTech"}
HEALTHCARE = {"Healthcare", "Healthcare IT", "Healthcare Services", "Digital Health", "Health Tech"}


@pytest.fixture(scope="module")
def world() -> tuple[Any, Index, dict[str, set[str]]]:
    if not DATA.exists():
        pytest.skip(f"the shared dataset is not next to this checkout ({DATA}); set THERA_COMPANIES to its path")
    with DATA.open(encoding="utf-8") as fh:
        companies = [c for c in map(json.loads, fh) if c.get("domain") and c.get("name")]
    texts = corpus_texts(companies)
    model = fit_lsa(texts, DIMENSIONS)
    vectors = model.embed_many(texts)
    profiles = [
        {
            "name": c["name"],
            "industries": c.get("industries") or [],
            "keywords": c.get("tags") or [],
            "country": c.get("country"),
            "health_score": 100,
            "content_richness": 50,
            "completeness": 75,
            "description": (c.get("long_description") or c.get("one_liner") or "")[:DESCRIPTION_CHARS],
        }
        for c in companies
    ]
    names, centroids = tag_centroids(vectors, profiles)
    domains = [c["domain"] for c in companies]
    index = Index("quoted", model.model_id, domains, vectors, pa.Table.from_pylist(profiles), names, centroids)
    labels = {c["domain"]: set(c.get("tags") or []) | set(c.get("industries") or []) for c in companies}
    return model, index, labels


def top10(world: tuple[Any, Index, dict[str, set[str]]], text: str) -> list[Match]:
    model, index, _ = world
    query, variants = challenge_vectors(index, text, model.embed_many)
    return rank(index, query, MatchRequest(text, top_k=10), PRIOR_MODEL, variants)


def share(matches: list[Match], labels: dict[str, set[str]], wanted: set[str]) -> float:
    return sum(bool(labels[m.domain] & wanted) for m in matches) / len(matches)


def test_hospital_chain_hiring_nurses_gets_recruiting_not_supply_chain(world: Any) -> None:
    matches = top10(world, "Our hospital chain needs a platform to recruit and onboard nurses quickly")
    labels = world[2]
    assert len(matches) == 10
    assert share(matches, labels, HIRING | HEALTHCARE) >= 0.6  # was 0.0: the chain's field or the need
    assert share(matches, labels, HIRING) >= 0.1  # was 0.0; one company of the 5,950 is labeled both
    assert share(matches, labels, LOGISTICS) <= 0.4  # was 1.0
    for m in matches:
        assert not any("supply chain" in r or "logistics" in r for r in m.reasons), m.reasons


def test_bank_training_staff_on_compliance_gets_training_not_other_sectors(world: Any) -> None:
    matches = top10(world, "A bank wants software to train its employees on compliance")
    labels = world[2]
    assert len(matches) == 10
    assert share(matches, labels, TRAINING) >= 0.4  # was 0.1
    assert share(matches, labels, OTHER_SECTORS) <= 0.1  # was 0.3: compliance for healthcare, government
