"""The local LSA embedding provider: shape, determinism, persistence and real retrieval on the sample."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from thera.adapters.lsa import LsaModel, fit_lsa
from thera.kernel.ports import EmbeddingProvider
from thera.kernel.tokens import estimate_tokens

SAMPLE = Path(__file__).resolve().parents[2] / "local" / "data" / "companies_sample.jsonl"
DIMS = 64


def profile(company: dict[str, Any]) -> str:
    return "\n".join(
        [
            company["name"],
            company.get("one_liner") or "",
            company.get("long_description") or "",
            "Industries: " + ", ".join(company.get("industries") or []),
            "Keywords: " + ", ".join(company.get("tags") or []),
        ]
    )


@pytest.fixture(scope="module")
def companies() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def texts(companies: list[dict[str, Any]]) -> list[str]:
    return [profile(c) for c in companies]


@pytest.fixture(scope="module")
def model(texts: list[str]) -> LsaModel:
    return fit_lsa(texts, DIMS)


def test_vectors_are_unit_length_with_the_model_dimensions(model: LsaModel, texts: list[str]) -> None:
    provider: EmbeddingProvider = model
    assert provider.dimensions == DIMS
    assert re.fullmatch(rf"local-lsa-{DIMS}-[0-9a-f]{{10}}", provider.model_id)
    vectors = model.embed_many(texts[:50])
    assert vectors.shape == (50, DIMS)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for text, row in zip(texts[:50], vectors, strict=True):
        embedding = provider.embed(text)
        assert len(embedding.vector) == DIMS
        assert np.array_equal(np.asarray(embedding.vector, dtype=np.float32), row)


@pytest.fixture(scope="module")
def bigram_model(texts: list[str]) -> LsaModel:
    return fit_lsa(texts, DIMS, ngram_max=2)


@pytest.mark.parametrize("fitted", ["model", "bigram_model"])
def test_the_same_corpus_gives_the_same_model(texts: list[str], fitted: str, request: pytest.FixtureRequest) -> None:
    first: LsaModel = request.getfixturevalue(fitted)
    second = fit_lsa(texts, DIMS, ngram_max=first.ngram_max)
    assert second.model_id == first.model_id
    assert np.array_equal(second.embed_many(texts[:20]), first.embed_many(texts[:20]))


def test_another_corpus_gives_another_model_id(texts: list[str], model: LsaModel) -> None:
    assert fit_lsa(texts[:-1], DIMS).model_id != model.model_id


def test_bigrams_add_terms(model: LsaModel, bigram_model: LsaModel) -> None:
    assert (model.ngram_max, bigram_model.ngram_max) == (1, 2)
    assert bigram_model.vocabulary_size > model.vocabulary_size
    assert bigram_model.model_id != model.model_id


def test_save_and_load_give_the_same_model(model: LsaModel, texts: list[str], tmp_path: Path) -> None:
    path = tmp_path / "lsa.npz"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["lsa.npz"]
    loaded = LsaModel.load(path)
    assert loaded.model_id == model.model_id
    assert loaded.dimensions == model.dimensions
    assert loaded.vocabulary_size == model.vocabulary_size
    assert np.array_equal(loaded.embed_many(texts[:20]), model.embed_many(texts[:20]))


@pytest.mark.parametrize(
    ("tag", "query"),
    [
        ("Fintech", "We are looking for startups that can help us with banking, lending and money management."),
        ("Developer Tools", "We need help for our software engineers to write, test and debug code faster."),
        ("Education", "Something for teaching students: schools, tutoring and online courses."),
    ],
)
def test_a_topic_query_ranks_companies_with_that_tag_first(
    model: LsaModel, texts: list[str], companies: list[dict[str, Any]], tag: str, query: str
) -> None:
    scores = model.embed_many(texts) @ np.asarray(model.embed(query).vector, dtype=np.float32)
    tagged = np.array([tag in (c.get("tags") or []) for c in companies])
    assert scores[tagged].mean() > scores[~tagged].mean() + 0.1
    top = np.argsort(-scores)[:10]
    assert tagged[top].mean() >= max(0.3, 4 * tagged.mean())  # random vectors: about the base rate


@pytest.mark.parametrize("text", ["", "   ", "zzqx qqvv", "the and of it", "!?"])
def test_a_text_without_known_terms_is_the_zero_vector(model: LsaModel, text: str) -> None:
    embedding = model.embed(text)
    assert list(embedding.vector) == [0.0] * DIMS
    assert embedding.tokens == estimate_tokens(text)


@pytest.mark.parametrize(
    "text", ["Stripe", "Payments infrastructure for the internet.", "Ünïcode wörds, e-commerce & 100x faster!"]
)
def test_tokens_are_the_budget_estimate(model: LsaModel, text: str) -> None:
    assert model.embed(text).tokens == estimate_tokens(text)


def test_a_corpus_smaller_than_the_dimensions_gives_fewer_dimensions(texts: list[str]) -> None:
    small = fit_lsa(texts[:5], 256, min_df=1)
    assert 1 <= small.dimensions <= 5
    assert small.model_id.startswith(f"local-lsa-{small.dimensions}-")
    vectors = small.embed_many(texts[:5])
    assert vectors.shape == (5, small.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_fitting_needs_texts_with_shared_terms() -> None:
    with pytest.raises(ValueError, match="no texts"):
        fit_lsa([])
    with pytest.raises(ValueError, match="min_df"):
        fit_lsa(["alpha beta", "gamma delta"])


def test_embedding_imports_neither_scipy_nor_scikit_learn(model: LsaModel, tmp_path: Path) -> None:
    path = tmp_path / "lsa.npz"
    model.save(path)
    code = (
        "import sys\n"
        "from thera.adapters.lsa import LsaModel\n"
        f"LsaModel.load({str(path)!r}).embed_many(['payments for online stores'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'sklearn')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
