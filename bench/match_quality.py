"""Match quality: the matcher next to keyword search and random, on challenges built from the real data.

Run as ``python bench/match_quality.py [--data PATH] [--dims 256] [--every]``. It prints and never asserts.

The challenge set is ``bench/embedding_choice.py``'s: plain-language challenge texts written
for the 40 most common tags, 20 co-occurring tag pairs and 8 triples; a company is relevant
when it carries one of the challenge's tags. Every peer ranks the same companies (their
profile texts as the local stack writes them) for the same challenges, in this run:

- random; TF-IDF cosine (sublinear tf, smooth idf); BM25 (k1 1.2, b 0.75) over the same words;
- LSA cosine only (the local embedding model, no re-scoring);
- the matcher: ``thera.matching.rank`` with the serving model, over an index built the way
  the index builder builds it (tag centroids from the profiles).

The trap set (``bench/traps.py``) holds challenges where one word belongs to another field than
the need: a hospital *chain* hiring nurses, a coffee roaster named *Java*. Relevance comes from
the tags and industries each trap names. A matcher that lets one word pick the topic fails
there while keyword search, which still counts the other words, holds; so each set is printed
with the matcher's nDCG@20 next to TF-IDF's per challenge: the worst five, and how many fall
more than 0.15 below.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from common import default_data, percentile, print_header
from embedding_choice import K_NDCG, K_RECALL, Challenge, build_challenges, rank_metrics
from traps import MIN_RELEVANT, TRAPS, company_labels, relevant

from thera.adapters.lsa import LsaModel, fit_lsa
from thera.kernel.tokens import words
from thera.matching import CANDIDATES, PRIOR_MODEL, Index, MatchRequest, challenge_vectors, rank, tag_centroids
from thera.matching.index_store import DESCRIPTION_CHARS
from thera_local.models import DIMENSIONS, corpus_texts


def load(data: Path) -> list[dict[str, Any]]:
    with data.open(encoding="utf-8") as fh:
        return [c for c in (json.loads(line) for line in fh if line.strip()) if c.get("domain") and c.get("name")]


def profiles_of(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the index builder keeps per company (quality scores unknown here: the same for every company)."""
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
            "description": (c.get("long_description") or c.get("one_liner") or "")[:DESCRIPTION_CHARS],
        }
        for c in companies
    ]


class KeywordSearch:
    """TF-IDF cosine and BM25 over the same words (``thera.kernel.tokens.words``), with a small inverted index."""

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


GAP = 0.15  # a challenge this far below TF-IDF's nDCG@20 is one a person notices
BROAD = 0.18  # labels on more than this share of companies are left out of "top 20 tags"


def build_traps(companies: list[dict[str, Any]]) -> tuple[list[Challenge], list[str]]:
    """The trap challenges with enough relevant companies, and the misleading words of those left out."""
    made, dropped = [], []
    for trap in TRAPS:
        hits = relevant(trap, companies)
        if len(hits) >= MIN_RELEVANT and trap.has_word():
            labels = (*trap.tags, *(f"{i} (industry)" for i in trap.industries))
            made.append(Challenge("trap", labels, trap.text, hits))
        else:
            dropped.append(trap.word)
    return made, dropped


Scorer = Callable[[str], np.ndarray]


@dataclass
class Measured:
    metrics: list[tuple[float, float, float]] = field(default_factory=list)  # per challenge, in order
    times_ms: list[float] = field(default_factory=list)

    def mean(self) -> np.ndarray:
        return np.array(self.metrics).mean(axis=0)

    def ndcg(self) -> np.ndarray:
        return np.array([m[2] for m in self.metrics])


def measure(score: Scorer, challenges: list[Challenge]) -> Measured:
    result = Measured()
    for c in challenges:
        start = time.perf_counter()
        scores = score(c.text)
        result.times_ms.append((time.perf_counter() - start) * 1000)
        result.metrics.append(rank_metrics(scores, c.relevant))
    return result


def print_side_by_side(sets: dict[str, list[Challenge]], results: dict[str, dict[str, Measured]]) -> None:
    cols = f"{'P@20':>6} {'R@100':>6} {'nDCG@20':>7} {'p50 ms':>6} {'p95 ms':>6}"
    width = len(cols)
    print("\n" + f"{'':<28}" + "   ".join(f"{f'{s} ({len(c)})':^{width}}" for s, c in sets.items()))
    print(f"{'peer':<28}" + "   ".join(cols for _ in sets))
    for name in next(iter(results.values())):
        cells = []
        for s in sets:
            m = results[s][name]
            p, r, n = m.mean()
            cells.append(
                f"{p:>6.3f} {r:>6.3f} {n:>7.3f} {percentile(m.times_ms, 50):>6.1f} {percentile(m.times_ms, 95):>6.1f}"
            )
        print(f"{name:<28}" + "   ".join(cells))


def print_worst(
    label: str,
    challenges: list[Challenge],
    matcher: Measured,
    tfidf: Measured,
    top_labels: Callable[[str], list[tuple[str, int]]],
    every: bool = False,
) -> None:
    """The five challenges where the matcher falls furthest below TF-IDF, with what it ranked instead."""
    diff = matcher.ndcg() - tfidf.ndcg()
    below = int((diff < -GAP).sum())
    print(
        f"\n{label}: matcher nDCG@20 {matcher.ndcg().mean():.3f} vs TF-IDF {tfidf.ndcg().mean():.3f} "
        f"({100 * (matcher.ndcg().mean() / tfidf.ndcg().mean() - 1):+.1f} %); "
        f"{below} of {len(challenges)} challenges more than {GAP} below TF-IDF; "
        f"matcher ahead on {int((diff > 0).sum())}, behind on {int((diff < 0).sum())}"
    )
    print(
        f"  worst five (matcher - TF-IDF nDCG@{K_NDCG}); 'top 20 tags' = most common labels in the matcher's top 20"
        f" (those on over {BROAD:.0%} of companies left out)"
    )
    for i in np.argsort(diff, kind="stable")[:5]:
        c = challenges[i]
        print(f"  {matcher.ndcg()[i]:.3f} {tfidf.ndcg()[i]:.3f} {diff[i]:+.3f}  {c.text}")
        wanted = ", ".join(c.tags)
        print(f"      relevant: {wanted} ({len(c.relevant)} companies)")
        print("      top 20 tags: " + ", ".join(f"{t} {n}" for t, n in top_labels(c.text)))
    rest = np.argsort(diff, kind="stable")[5:below]
    if len(rest):
        print(f"  also more than {GAP} below (with the commonest label of the matcher's top 20):")
    for i in rest:
        c = challenges[i]
        label, n = top_labels(c.text)[0]
        print(f"  {matcher.ndcg()[i]:.3f} {tfidf.ndcg()[i]:.3f} {diff[i]:+.3f}  {c.text}  [{label} {n}]")
    if every:
        print(f"  every challenge, matcher - TF-IDF nDCG@{K_NDCG}:")
        for i in np.argsort(diff, kind="stable"):
            print(f"  {matcher.ndcg()[i]:.3f} {tfidf.ndcg()[i]:.3f} {diff[i]:+.3f}  {challenges[i].text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dims", type=int, default=DIMENSIONS)
    parser.add_argument("--every", action="store_true", help="print every challenge's nDCG@20 next to TF-IDF's")
    args = parser.parse_args()
    print_header()
    companies = load(args.data)
    texts = corpus_texts(companies)
    challenges = build_challenges(companies)
    traps, dropped = build_traps(companies)
    sets = {"tag challenges": challenges, "trap challenges": traps}
    print(f"data:    {args.data} ({len(companies):,} companies)")
    for label, cs in sets.items():
        median = int(np.median([len(c.relevant) for c in cs])) if cs else 0
        print(f"         {label}: {len(cs)}, median relevant companies {median:,}")
    if dropped:
        print(f"         traps left out (under {MIN_RELEVANT} relevant companies here): {', '.join(dropped)}")

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
        query, variants = challenge_vectors(index, text, model.embed_many)
        matches = rank(index, query, MatchRequest(text, top_k=K_RECALL), PRIOR_MODEL, variants)
        return scores_from_matches(len(companies), [position[m.domain] for m in matches])

    peers[f"matcher ({PRIOR_MODEL.version})"] = matcher
    results = {label: {name: measure(score, cs) for name, score in peers.items()} for label, cs in sets.items()}
    print_side_by_side(sets, results)
    size = index.vectors.nbytes + index.profiles.nbytes + index.tag_centroids.nbytes
    print(
        f"\nmatcher latency = embed the challenge + rank ({CANDIDATES} candidates re-scored), in process; "
        f"index in memory: "
        f"vectors {index.vectors.nbytes / 1e6:.1f} MB, all parts {size / 1e6:.1f} MB"
    )
    matcher_name = list(peers)[-1]
    for label, measured in results.items():
        best = max(measured["TF-IDF cosine"].mean()[2], measured["BM25"].mean()[2])
        print(
            f"{label}: matcher nDCG@20 vs the better keyword peer: "
            f"{100 * (measured[matcher_name].mean()[2] / best - 1):+.1f} %"
        )

    share = Counter(t for c in companies for t in company_labels(c))
    broad = {t for t, n in share.items() if n > BROAD * len(companies)}  # B2B, SaaS: say nothing about a topic

    def top_labels(text: str) -> list[tuple[str, int]]:
        top = np.argsort(-matcher(text), kind="stable")[:K_NDCG]
        labels = Counter(t for i in top for t in company_labels(companies[int(i)]) - broad)
        return labels.most_common(4)

    for label, cs in sets.items():
        print_worst(label, cs, results[label][matcher_name], results[label]["TF-IDF cosine"], top_labels, args.every)


if __name__ == "__main__":
    main()
