"""Which local embedding: LSA dimensions and n-grams, next to plain TF-IDF cosine and random vectors.

Run as ``python bench/embedding_choice.py [--data PATH] [--dims 64,128,256,384] [--repeat R]``. It prints and
never asserts: the numbers compare configurations measured in the same run on the same machine.

Each company becomes the profile text the matcher embeds (name, one-liner, description, industries,
keywords). The challenges come from the data: the 40 most common tags, pairs of them that co-occur far
more than chance, and a few hand-picked triples of related tags. Each challenge is a buyer's request in
plain business language, written per tag so that it avoids the tag's own words where it can, and a
company is relevant when it carries one of the challenge's tags. A configuration that only matches
words would miss most of them; random vectors show the floor (the share of relevant companies).

Topics are not everything: a query naming something specific needs precise words. The known-item task
looks for each company by its one-liner among profiles written without one-liners, with models fitted
on those profiles (a model fitted on text holding the query would have learnt the pairing).

TF-IDF is the same tokenizer and weights as the LSA model (``LsaModel.term_weights``), cosine on the
sparse rows without the SVD; its "fit" is fitting a 1-dimension model, mostly vocabulary and idf.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy
import sklearn
from common import default_data, print_header
from scipy import sparse

from thera.adapters.lsa import LsaModel, fit_lsa
from thera.kernel.tokens import STOP_WORDS
from thera_local.standins.apollo import load_companies

TEMPLATE = "We are looking for startups that can help us with {}."
# A buyer's words for each of the 40 most common tags, avoiding the tag's own words where possible.
PHRASES: dict[str, str] = {
    "B2B": "selling software and services to other companies rather than to individual shoppers",
    "SaaS": "subscription cloud software that teams use through a web browser",
    "Artificial Intelligence": "smart systems that learn from data to reason and make decisions like a person",
    "AI": "models that understand language and images and take decisions on their own",
    "Fintech": "modern financial services such as digital banking, lending and money management",
    "Developer Tools": "helping software engineers write, test, debug and ship code faster",
    "Marketplace": "platforms that connect buyers with sellers or service providers and take a cut of each deal",
    "Generative AI": "large language models that write text, draw images or create content from prompts",
    "Consumer": "apps that everyday people use in their personal lives",
    "Machine Learning": "training predictive models on large datasets and running them in production",
    "Healthcare": "caring for patients in hospitals and clinics, and the work of doctors and nurses",
    "Analytics": "turning business data into dashboards, metrics and insights for better decisions",
    "E-commerce": "online stores and retail brands selling products over the internet, checkout and shopping carts",
    "Health Tech": "software for clinicians, electronic medical records and the patient experience",
    "Open Source": "freely available code maintained by a community of contributors on GitHub",
    "Productivity": "helping people get more done with less busywork: notes, calendars and to-do lists",
    "Education": "teaching students: schools, tutoring, online courses and learning",
    "AI Assistant": "a virtual helper or copilot that answers questions and completes tasks through chat",
    "Payments": "accepting card transactions, moving money, invoicing and payouts",
    "API": "a programmable interface that developers integrate with a few lines of code",
    "Climate": "cutting carbon emissions with clean energy, and fighting global warming",
    "Hardware": "physical devices, chips, sensors and electronics",
    "Biotech": "drug discovery, biology, therapeutics and genetic research in the lab",
    "Logistics": "shipping, freight, trucking and getting goods from warehouses to customers",
    "Sales": "finding leads, closing deals and helping account executives grow revenue",
    "Enterprise Software": "systems deployed across large corporations with strict security and compliance needs",
    "Robotics": "autonomous machines and robot arms that do physical work",
    "Infrastructure": "the cloud servers, databases and backend systems that applications run on",
    "Digital Health": "virtual care, telemedicine and wellness apps for patients at home",
    "Marketing": "advertising campaigns, brand awareness, social media growth and customer acquisition",
    "Enterprise": "serving large companies and Fortune 500 customers",
    "Consumer Health Services": "personal wellness, fitness, therapy and mental wellbeing services for individuals",
    "Data Engineering": "data pipelines and warehouses, moving data between systems reliably",
    "Hard Tech": "deep engineering problems such as aerospace, energy and advanced materials",
    "Finance": "accounting, banking, investing and managing money for companies",
    "Crypto / Web3": "blockchain, tokens, digital currencies and decentralized applications",
    "Security": "protecting systems from hackers, breaches, fraud and cyber attacks",
    "Automation": "replacing repetitive manual work with software that does it by itself",
    "Video": "recording, editing and streaming film footage and clips",
    "Manufacturing": "factories, production lines and making physical goods at scale",
}
TRIPLES: list[tuple[str, str, str]] = [
    ("Artificial Intelligence", "AI", "Machine Learning"),
    ("Healthcare", "Health Tech", "Digital Health"),
    ("Fintech", "Payments", "Finance"),
    ("Hardware", "Robotics", "Manufacturing"),
    ("Developer Tools", "API", "Infrastructure"),
    ("Sales", "Marketing", "Analytics"),
    ("Climate", "Hard Tech", "Manufacturing"),
    ("Generative AI", "AI Assistant", "Productivity"),
]
SINGLES, PAIRS = 40, 20
MIN_RELEVANT = 5  # a challenge with fewer relevant companies says little (the sample has few of some tags)
K_PRECISION, K_RECALL, K_NDCG = 20, 100, 20
Matrix = npt.NDArray[np.float32]


# ----------------------------------------------------------------------------- data
def profile_text(company: dict[str, Any]) -> str:
    """The company as the matcher embeds it: who, what, in which industries, with which keywords."""
    parts = [
        str(company.get("name") or ""),
        str(company.get("one_liner") or ""),
        str(company.get("long_description") or ""),
        "Industries: " + ", ".join(company.get("industries") or []),
        "Keywords: " + ", ".join(company.get("tags") or []),
    ]
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class Challenge:
    kind: str  # "1 tag", "2 tags", "3 tags"
    tags: tuple[str, ...]
    text: str
    relevant: frozenset[int]  # company indices carrying one of the tags


def challenge_text(tags: Sequence[str]) -> str:
    phrases = [PHRASES[t] for t in tags]
    if len(phrases) == 1:
        return TEMPLATE.format(phrases[0])
    return TEMPLATE.format("; ".join(phrases[:-1]) + "; and " + phrases[-1])


def build_challenges(companies: list[dict[str, Any]]) -> list[Challenge]:
    """Single tags, co-occurring pairs (by lift) and the hand-picked triples, each with enough relevant companies."""
    tag_sets = [set(c.get("tags") or []) for c in companies]
    counts = Counter(t for tags in tag_sets for t in tags)
    singles = [t for t, _ in counts.most_common() if t in PHRASES][:SINGLES]
    n = len(companies)
    pair_counts = Counter(pair for tags in tag_sets for pair in itertools.combinations(sorted(tags & set(singles)), 2))
    lift = {p: c * n / (counts[p[0]] * counts[p[1]]) for p, c in pair_counts.items() if c >= MIN_RELEVANT}
    pairs = sorted(lift, key=lambda p: (-lift[p], p))[:PAIRS]
    triples = [t for t in TRIPLES if all(counts[x] for x in t)]

    def make(kind: str, tags: tuple[str, ...]) -> Challenge:
        relevant = frozenset(i for i, ts in enumerate(tag_sets) if ts & set(tags))
        return Challenge(kind, tags, challenge_text(tags), relevant)

    made = [make("1 tag", (t,)) for t in singles]
    made += [make("2 tags", p) for p in pairs]
    made += [make("3 tags", t) for t in triples]
    return [c for c in made if len(c.relevant) >= MIN_RELEVANT]


def shared_words(challenge: Challenge) -> set[str]:
    """Words of the challenge text that also appear in its tag names: how much it gives away verbatim."""
    words = {w for w in challenge.text.lower().replace("-", " ").split() if w not in STOP_WORDS}
    words = {w.strip(".,;:") for w in words}
    tag_words = {w for t in challenge.tags for w in t.lower().replace("/", " ").replace("-", " ").split()}
    return words & tag_words


# ----------------------------------------------------------------------------- metrics
def rank_metrics(scores: npt.NDArray[np.floating[Any]], relevant: frozenset[int]) -> tuple[float, float, float]:
    """precision@20, recall@100 and binary nDCG@20 of one challenge's scores over all companies."""
    order = np.argsort(-scores, kind="stable")[: max(K_PRECISION, K_RECALL, K_NDCG)]
    hits = np.fromiter((int(i) in relevant for i in order), dtype=bool, count=len(order))
    precision = hits[:K_PRECISION].mean()
    recall = hits[:K_RECALL].sum() / len(relevant)
    discounts = 1 / np.log2(np.arange(2, K_NDCG + 2))
    ideal = discounts[: min(len(relevant), K_NDCG)].sum()
    ndcg = (hits[:K_NDCG] * discounts).sum() / ideal
    return float(precision), float(recall), float(ndcg)


Vectors = npt.NDArray[np.float32] | sparse.csr_matrix  # rows of unit length (or zero)


def similarities(queries: Vectors, docs: Vectors) -> npt.NDArray[np.floating[Any]]:
    product = queries @ docs.T
    return np.asarray(product.toarray() if sparse.issparse(product) else product)


def known_item_ranks(queries: Vectors, docs: Vectors) -> npt.NDArray[np.float64]:
    """Rank of docs[i] for queries[i] (ties count half, so a blank query is not rewarded), in chunks."""
    ranks = []
    for start in range(0, queries.shape[0], 512):
        scores = similarities(queries[start : start + 512], docs)
        rows = np.arange(scores.shape[0])
        own = scores[rows, rows + start][:, None]
        ranks.append(1 + (scores > own).sum(axis=1) + 0.5 * ((scores == own).sum(axis=1) - 1))
    return np.concatenate(ranks)


@dataclass(frozen=True)
class Workload:
    profiles: list[str]  # what the models are fitted on and what the challenges search
    challenges: list[Challenge]
    item_queries: list[str]  # a company's one-liner ...
    item_docs: list[str]  # ... must find that company's profile without its one-liner


def build_workload(companies: list[dict[str, Any]]) -> Workload:
    """Profiles and challenges, plus a known-item task that needs precise words rather than topics."""
    with_both = [c for c in companies if c.get("one_liner") and c.get("long_description")]
    return Workload(
        profiles=[profile_text(c) for c in companies],
        challenges=build_challenges(companies),
        item_queries=[str(c["one_liner"]) for c in with_both],
        item_docs=[profile_text({**c, "one_liner": ""}) for c in with_both],
    )


@dataclass
class Result:
    name: str
    terms: int | None = None
    model_mb: float | None = None
    fit_s: list[float] = field(default_factory=list)
    many_per_s: list[float] = field(default_factory=list)
    one_per_s: list[float] = field(default_factory=list)
    metrics: list[tuple[float, float, float]] = field(default_factory=list)  # per challenge, in order
    item_ranks: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class Encoder:
    many: Callable[[Sequence[str]], Vectors]
    one: Callable[[str], Any] | None  # None: nothing fitted, nothing timed (the random baseline)
    terms: int | None = None
    model_mb: float | None = None
    dimensions: int | None = None


def measure(result: Result, work: Workload, fit: Callable[[list[str]], Encoder]) -> None:
    """Fit, time both embedding paths on the profiles, score the challenges; then the known items.

    The known-item task gets its own fit on the profiles without one-liners: a model fitted on text
    holding the query would have learnt that very pairing, which a real query never gives it.
    """
    encoder, seconds = timed(lambda: fit(work.profiles))
    result.terms, result.model_mb = encoder.terms, encoder.model_mb
    if encoder.dimensions is not None and not result.name.endswith("]"):
        asked = int(result.name.split()[1])
        result.name += f" [{encoder.dimensions}]" if encoder.dimensions != asked else ""
    if encoder.one is not None:
        result.fit_s.append(seconds)
    docs, seconds = timed(lambda: encoder.many(work.profiles))
    if encoder.one is not None:
        result.many_per_s.append(len(work.profiles) / seconds)
        one = encoder.one
        _, seconds = timed(lambda: [one(p) for p in work.profiles])
        result.one_per_s.append(len(work.profiles) / seconds)
    scores = similarities(encoder.many([c.text for c in work.challenges]), docs)
    result.metrics = [rank_metrics(row, c.relevant) for row, c in zip(scores, work.challenges, strict=True)]
    encoder = fit(work.item_docs)
    result.item_ranks = known_item_ranks(encoder.many(work.item_queries), encoder.many(work.item_docs))


# ----------------------------------------------------------------------------- configurations
def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def model_mb(model: LsaModel) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        model.save(path)
        return path.stat().st_size / 2**20


def lsa(corpus: list[str], dims: int, ngram_max: int) -> Encoder:
    model = fit_lsa(corpus, dims, ngram_max=ngram_max)
    sample = corpus[:200]
    one = np.array([model.embed(p).vector for p in sample], dtype=np.float32)
    if not np.array_equal(one, model.embed_many(sample)):  # printed, not asserted: the tests own that
        gap = float(np.abs(one - model.embed_many(sample)).max())
        print(f"  NOTE: embed and embed_many differ by up to {gap:.2e} ({dims} dims, n-grams up to {ngram_max})")
    return Encoder(
        model.embed_many,
        lambda text: model.embed(text).vector,
        model.vocabulary_size,
        model_mb(model),
        model.dimensions,
    )


def tfidf_rows(model: LsaModel, texts: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalized sparse TF-IDF rows from the model's own tokenizer and weights."""
    parts = [model.term_weights(t) for t in texts]
    indptr = np.cumsum([0] + [len(idx) for idx, _ in parts])
    indices = np.concatenate([idx for idx, _ in parts]) if parts else np.zeros(0, np.intp)
    values = np.concatenate([w for _, w in parts]) if parts else np.zeros(0, np.float32)
    rows = sparse.csr_matrix((values, indices, indptr), shape=(len(texts), model.vocabulary_size))
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1 / np.where(norms > 0, norms, 1)) @ rows)


def tfidf(corpus: list[str], ngram_max: int) -> Encoder:
    model = fit_lsa(corpus, 1, ngram_max=ngram_max)  # the vocabulary and idf; the 1-d SVD is cheap
    return Encoder(
        lambda texts: tfidf_rows(model, texts), lambda text: tfidf_rows(model, [text]), model.vocabulary_size
    )


def random_vectors(dims: int) -> Encoder:
    """A fixed random unit vector per distinct text: the floor every configuration must clear."""

    def many(texts: Sequence[str]) -> Matrix:
        vectors = np.array(
            [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dims) for t in texts], dtype=np.float32
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return Encoder(many, None)


# ----------------------------------------------------------------------------- report
def mean_metrics(result: Result, challenges: list[Challenge], kind: str | None = None) -> tuple[float, ...]:
    rows = [m for m, c in zip(result.metrics, challenges, strict=True) if kind is None or c.kind == kind]
    return tuple(statistics.fmean(col) for col in zip(*rows, strict=True))


def paired_delta(result: Result, reference: Result) -> tuple[float, float]:
    """Mean nDCG@20 difference to the reference over the same challenges, and its standard error.

    Challenges differ far more from each other than configurations do, so the paired difference is
    what says whether a configuration is better, not the two means side by side.
    """
    diffs = [m[2] - r[2] for m, r in zip(result.metrics, reference.metrics, strict=True)]
    return statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))


def print_table(results: list[Result], challenges: list[Challenge], reference: Result) -> None:
    def num(values: list[float], fmt: str) -> str:
        return format(statistics.median(values), fmt) if values else "-"

    kinds = sorted({c.kind for c in challenges})
    head = (
        f"{'configuration':<20}{'terms':>7}{'npz MB':>7}{'fit s':>7}{'many/s':>8}{'embed/s':>8}"
        f"{'P@20':>7}{'R@100':>7}{'nDCG@20':>8}{'Δ nDCG ± se':>15}"
        + "".join(f"{'nDCG ' + k:>13}" for k in kinds)
        + f"{'item MRR':>9}{'item@10':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        p, rec, ndcg = mean_metrics(r, challenges)
        delta, se = paired_delta(r, reference)
        per_kind = "".join(f"{mean_metrics(r, challenges, k)[2]:>13.3f}" for k in kinds)
        mrr, at10 = float(np.mean(1 / r.item_ranks)), float(np.mean(r.item_ranks <= 10))
        print(
            f"{r.name:<20}{r.terms if r.terms is not None else '-':>7}"
            f"{format(r.model_mb, '.1f') if r.model_mb is not None else '-':>7}"
            f"{num(r.fit_s, '.2f'):>7}{num(r.many_per_s, ',.0f'):>8}{num(r.one_per_s, ',.0f'):>8}"
            f"{p:>7.3f}{rec:>7.3f}{ndcg:>8.3f}{f'{delta:+.3f} ± {se:.3f}':>15}{per_kind}{mrr:>9.3f}{at10:>8.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=None, help="companies JSONL (yc_companies.jsonl format)")
    parser.add_argument("--dims", default="64,128,256,384", help="LSA dimensions to compare, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="fits and timings per configuration; medians shown")
    parser.add_argument("--show", type=int, default=3, help="challenge texts to print as examples")
    args = parser.parse_args(argv)
    dims = [int(d) for d in args.dims.split(",") if d]

    started = time.perf_counter()
    data: Path = args.data or default_data()
    print_header(f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}")
    print(f"data:    {data}")
    companies = load_companies(data)
    work = build_workload(companies)
    challenges = work.challenges
    kinds = sorted({c.kind for c in challenges})
    words = statistics.fmean(len(p.split()) for p in work.profiles)
    print(f"         {len(companies):,} companies, profile texts of {words:.0f} words on average")
    by_kind = ", ".join(f"{sum(c.kind == k for c in challenges)} of {k}" for k in kinds)
    relevant = statistics.median(len(c.relevant) for c in challenges)
    print(f"challenges: {len(challenges)} ({by_kind}); median relevant companies {relevant:,.0f}")
    leaky = [c for c in challenges if shared_words(c)]
    leaked = Counter(w for c in leaky for w in shared_words(c))
    print(f"         {len(leaky)} share a word with their tag names ({', '.join(sorted(leaked))})")
    for c in challenges[:: max(1, len(challenges) // max(1, args.show))][: args.show]:
        print(f"  e.g. {' + '.join(c.tags)}: {c.text!r} ({len(c.relevant):,} relevant)")
    print(
        f"known items: {len(work.item_queries):,} one-liners, each to find its company among "
        f"{len(work.item_docs):,} profiles written without one-liners (and models fitted on those)"
    )
    print(flush=True)

    plans: list[tuple[Result, Callable[[list[str]], Encoder]]] = []
    for ngram_max in (1, 2):
        for d in dims:
            name = f"LSA {d} {'uni' if ngram_max == 1 else 'uni+bi'}"
            plans.append((Result(name), lambda corpus, d=d, n=ngram_max: lsa(corpus, d, n)))
    for ngram_max in (1, 2):
        name = f"TF-IDF {'uni' if ngram_max == 1 else 'uni+bi'}"
        plans.append((Result(name), lambda corpus, n=ngram_max: tfidf(corpus, n)))
    random_dims = dims[len(dims) // 2]
    plans.append((Result(f"random {random_dims}"), lambda corpus: random_vectors(random_dims)))
    for _ in range(max(1, args.repeat)):  # interleaved, so a noisy neighbour hurts every configuration alike
        for result, fit in plans:
            measure(result, work, fit)
            print(f"  measured {result.name}", file=sys.stderr, flush=True)
    results = [r for r, _ in plans]
    reference = next(r for r in results if r.name == "TF-IDF uni")

    base_rate = statistics.fmean(len(c.relevant) / len(companies) for c in challenges)
    best_recall = statistics.fmean(min(1.0, K_RECALL / len(c.relevant)) for c in challenges)
    print(f"means over {len(challenges)} challenges: a random ranking's P@20 is about {base_rate:.3f},")
    print(f"  the best possible R@100 {best_recall:.3f} (below 1: some have over {K_RECALL} relevant companies);")
    print("  Δ nDCG = paired difference to TF-IDF uni over the same challenges, ± its standard error;")
    print("  item MRR, item@10 = mean reciprocal rank of the known item, share found in the top 10;")
    print("  many/s = embed_many texts/s, embed/s = one embed() call per text (on the profile texts);")
    print("  an LSA model whose corpus has lower rank than asked gets fewer dimensions (shown in brackets)")
    print()
    print_table(results, challenges, reference)
    print()
    print(f"total wall time {time.perf_counter() - started:.1f} s ({max(1, args.repeat)} run(s) per configuration)")


if __name__ == "__main__":
    main()
