"""Match quality: the matcher next to keyword search and random, on challenges built from the real data.

Run as ``python bench/match_quality.py [--data PATH] [--dims 256]``. It prints and never asserts.

The challenge set is ``bench/embedding_choice.py``'s: plain-language challenge texts written
for the 40 most common tags, 20 co-occurring tag pairs and 8 triples; a company is relevant
when it carries one of the challenge's tags. Every peer ranks the same companies (their
profile texts as the local stack writes them) for the same challenges, in this run:

- random; TF-IDF cosine (sublinear tf, smooth idf); BM25 (k1 1.2, b 0.75) over the same words;
- LSA cosine only (the local embedding model, no re-scoring);
- the matcher: ``thera.matching.rank`` with the serving model, over an index built the way
  the index builder builds it (tag centroids from the profiles).

The relevance labels come from the tags, and the matcher's topic affinity uses the tags of
the indexed profiles (never of the challenge): it is what makes a paraphrase like "robot
arms that do physical work" find the companies tagged Robotics. The known-item column is a
check that does not depend on tags: each company's one-liner has to find that company.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from common import default_data, percentile, print_header
from embedding_choice import K_RECALL, build_challenges, rank_metrics

from thera.adapters.lsa import LsaModel, fit_lsa
from thera.matching import CANDIDATES, PRIOR_MODEL, Index, MatchRequest, rank, tag_centroids
from thera.tokens import words
from thera_local.models import DIMENSIONS, corpus_texts


def load(data: Path) -> list[dict[str, Any]]:
    with data.open(encoding="utf-8") as fh:
        return [c for c in (json.loads(line) for line in fh if line.strip()) if c.get("domain") and c.get("name")]


def profiles_of(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the index keeps per company (quality scores unknown here: the same for every company)."""
    return [
        {
            "name": c["name"],
            "industries": c.get("industries") or [],
            "keywords": c.get("tags") or [],
            "country": c.get("country"),
            "city": c.get("city"),
            "health_score": 100,
            "content_richness": 50,
            "completeness": 75,
        }
        for c in companies
    ]


class KeywordSearch:
    """TF-IDF cosine and BM25 over the same words (``thera.tokens.words``), with a small inverted index."""

    def __init__(self, texts: list[str]) -> None:
        self.docs = [Counter(words(t)) for t in texts]
        self.lengths = np.array([sum(d.values()) for d in self.docs], dtype=np.float64)
        df = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log((1 + n) / (1 + f)) + 1 for w, f in df.items()}
        self.bm25_idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, d in enumerate(self.docs):
            for w, c in d.items():
                self.postings.setdefault(w, []).append((i, c))
        self.norms = np.array(
            [math.sqrt(sum(((1 + math.log(c)) * self.idf[w]) ** 2 for w, c in d.items())) or 1.0 for d in self.docs]
        )
        self.avg = float(self.lengths.mean())

    def tfidf(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self.docs))
        for w, qc in Counter(words(query)).items():
            if w in self.idf:
                q = (1 + math.log(qc)) * self.idf[w]
                for i, c in self.postings[w]:
                    scores[i] += q * (1 + math.log(c)) * self.idf[w]
        return scores / self.norms

    def bm25(self, query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
        scores = np.zeros(len(self.docs))
        for w in set(words(query)):
            if w in self.bm25_idf:
                for i, c in self.postings[w]:
                    scores[i] += self.bm25_idf[w] * c * (k1 + 1) / (c + k1 * (1 - b + b * self.lengths[i] / self.avg))
        return scores


def scores_from_matches(n: int, ranked: list[int]) -> np.ndarray:
    scores = np.full(n, -1.0)
    scores[ranked] = np.arange(len(ranked), 0, -1, dtype=np.float64)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dims", type=int, default=DIMENSIONS)
    args = parser.parse_args()
    print_header()
    companies = load(args.data)
    texts = corpus_texts(companies)
    challenges = build_challenges(companies)
    print(f"data:    {args.data} ({len(companies):,} companies); {len(challenges)} challenges")

    start = time.perf_counter()
    model: LsaModel = fit_lsa(texts, args.dims)
    vectors = model.embed_many(texts)
    profiles = profiles_of(companies)
    names, centroids = tag_centroids(vectors, profiles)
    table = pa.Table.from_pylist(profiles)
    index = Index("bench", model.model_id, [c["domain"] for c in companies], vectors, table, names, centroids)
    print(f"index:   {len(index):,} profiles, {len(names)} tags, built in {time.perf_counter() - start:.1f} s")
    keywords = KeywordSearch(texts)
    rng = np.random.default_rng(0)
    peers: dict[str, Any] = {
        "random": lambda text: rng.random(len(companies)),
        "TF-IDF cosine": keywords.tfidf,
        "BM25": keywords.bm25,
        f"LSA {model.dimensions} cosine only": lambda text: vectors @ np.asarray(model.embed(text).vector),
    }
    position = {d: i for i, d in enumerate(index.domains)}

    def matcher(text: str) -> np.ndarray:
        query = np.asarray(model.embed(text).vector, dtype=np.float32)
        matches = rank(index, query, MatchRequest(text, top_k=K_RECALL), PRIOR_MODEL)
        return scores_from_matches(len(companies), [position[m.domain] for m in matches])

    peers[f"matcher ({PRIOR_MODEL.version})"] = matcher
    rows = []
    for name, score in peers.items():
        metrics, times = [], []
        for c in challenges:
            start = time.perf_counter()
            scores = score(c.text)
            times.append((time.perf_counter() - start) * 1000)
            metrics.append(rank_metrics(scores, c.relevant))
        mean = np.array(metrics).mean(axis=0)
        rows.append((name, *mean, percentile(times, 50), percentile(times, 95)))
    print(f"\n{'peer':<28} {'P@20':>7} {'R@100':>7} {'nDCG@20':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for name, p, r, n, p50, p95 in rows:
        print(f"{name:<28} {p:>7.3f} {r:>7.3f} {n:>8.3f} {p50:>7.1f} {p95:>7.1f}")
    size = index.vectors.nbytes + index.profiles.nbytes + index.tag_centroids.nbytes
    print(
        f"\nmatcher latency = embed the challenge + rank ({CANDIDATES} candidates re-scored), in process; "
        f"index in memory: "
        f"vectors {index.vectors.nbytes / 1e6:.1f} MB, all parts {size / 1e6:.1f} MB"
    )
    best_keyword = max(rows[1][3], rows[2][3])
    print(f"\nmatcher nDCG@20 vs the better keyword peer: {100 * (rows[-1][3] / best_keyword - 1):+.1f} %")


if __name__ == "__main__":
    main()
