"""Ranking startups for a challenge: the in-memory index, features, scoring models and reasons.

numpy throughout; the index's profiles are an Arrow table, so building an ``Index`` imports pyarrow
(the weekly training, which scores with these models, ships without it and never builds one).

Two stages. First every profile that passes the filters gets a cheap linear score from
what is precomputed: cosine similarity to the challenge, its affinity to the topics the
challenge is about, and its quality scores. Topics are the index's tags (industries and
keywords): each has a centroid, the mean vector of the profiles that carry it, and the
challenge's nearest centroids are its topics. The best ``CANDIDATES`` (and the nearest by
cosine alone) then get the keyword overlap with the challenge's own words and are scored by the
serving model, which also says which features drove each score.

One word must not decide the list. A challenge is also embedded once per informative word with
that word left out (``leave_one_out``). A topic counts only as much as it holds in every such
variant (the minimum), and a candidate's similarity is the mean of its cosine to the whole
challenge and the least over the variants. "Our hospital chain needs to recruit nurses" without
"chain" is no longer about supply chains. A topic also needs the challenge's words: its
candidates must use one of them besides the strongest (``Evidence.supported``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from thera.card import card
from thera.tokens import stem, stems, words

if TYPE_CHECKING:  # pyarrow is imported where an index is built: the weekly training ships without it
    import pyarrow as pa

    from thera.vectors import TwoStage

FEATURES = ("similarity", "topic_affinity", "keyword_overlap", "health", "richness", "completeness")
CANDIDATES = 300
TOPICS = 5
MAX_TEXT_CHARS = 5000
MIN_TEXT_CHARS = 10
DEFAULT_TOP_K, MAX_TOP_K = 20, 100
TEXT_COLUMNS = ("name", "industries", "keywords", "description")  # what the lexical side reads of a profile
# Word rarity (IDF) is counted over at most IDF_SAMPLE profiles, evenly spaced: exact up to there,
# an estimate past it that costs the first request about a second rather than a minute at 1M.
IDF_SAMPLE = 20_000
# The challenge is embedded again without each of its MAX_VARIANTS rarest words (a Titan call each,
# thera.serving.EMBED_THREADS at a time): a paragraph's content words; a longer text is not swayed by one word anyway.
MAX_VARIANTS = 24
# A word supports a tag when at least SUPPORT_RATE of the tag's candidates (MIN_CARRIERS or more)
# use it and SUPPORT_LIFT times as often as all candidates do, or when the tag's name spells it.
SUPPORT_RATE, SUPPORT_LIFT, MIN_CARRIERS = 0.2, 1.5, 3
REASON_WORDS = 2  # a reason names a topic only when this many of the challenge's words support it

Floats = npt.NDArray[np.float32]


class BadRequest(ValueError):
    """The request cannot be answered as asked: the API answers 400 with this message."""


@dataclass(frozen=True)
class MatchRequest:
    challenge_text: str
    top_k: int = DEFAULT_TOP_K
    industry: str | None = None
    country: str | None = None
    challenge_id: str = ""

    @classmethod
    def parse(cls, body: Any) -> MatchRequest:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with a 'challenge_text'")
        text = body.get("challenge_text")
        if not isinstance(text, str) or len(text.strip()) < MIN_TEXT_CHARS:
            raise BadRequest(f"'challenge_text' must be a text of at least {MIN_TEXT_CHARS} characters")
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(f"'challenge_text' is {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")
        top_k = body.get("top_k", DEFAULT_TOP_K)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise BadRequest(f"'top_k' must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
        filters = {}
        for name in ("industry", "country", "challenge_id"):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
                raise BadRequest(f"'{name}' must be a non-empty text when given")
            filters[name] = value.strip() if isinstance(value, str) else None
        return cls(text.strip(), top_k, filters["industry"], filters["country"], filters["challenge_id"] or "")


@dataclass
class Index:
    """Profiles and their unit vectors, with what ranking needs precomputed.

    The profiles stay an Arrow table: what ranking reads of every profile (tags, quality scores,
    filter values) is turned into arrays once, and only the few profiles a request returns become
    Python objects. (Materializing every row took 8.9 s of a 9 s load at a million profiles.)
    """

    version: str
    model_id: str
    domains: list[str]
    vectors: Floats  # n x d, unit rows; 0 x d when ``search`` holds them (a two-stage index, thera.vectors)
    profiles: pa.Table  # one row per vector: name, industries, keywords, country, city, scores, description
    tag_names: list[str]
    tag_centroids: Floats  # t x d, unit rows
    search: TwoStage | None = None
    quality: Floats = field(init=False)  # n x 3: health, richness, completeness in [0, 1]
    tag_rows: npt.NDArray[np.int64] = field(init=False)  # CSR of profile -> tag ids (of tag_names)
    tag_cols: npt.NDArray[np.int64] = field(init=False)
    all_tags: list[str] = field(init=False)  # every tag any profile has, sorted, and the CSR of profile -> them
    all_tag_rows: npt.NDArray[np.int64] = field(init=False)
    all_tag_cols: npt.NDArray[np.int64] = field(init=False)
    industries: dict[str, str] = field(init=False)  # lowercase -> as written
    countries: dict[str, str] = field(init=False)
    _industry_values: tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]] = field(init=False, repr=False)
    _idf: dict[str, float] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = self.profiles.num_rows
        columns = set(self.profiles.column_names)
        self.quality = np.zeros((n, 3), dtype=np.float32)
        for j, name in enumerate(("health_score", "content_richness", "completeness")):
            if name in columns:
                scores = self.profiles[name].cast(pa.float32())  # a column of nulls only has type null
                self.quality[:, j] = pc.fill_null(scores, 0).to_numpy() / 100
        tags = [_list_values(self.profiles, name) for name in ("industries", "keywords")]
        self.all_tags, self.all_tag_rows, self.all_tag_cols = _tag_csr(n, tags)
        tag_id = {t: i for i, t in enumerate(self.tag_names)}
        to_tag = np.array([tag_id.get(t, -1) for t in self.all_tags], dtype=np.int64)
        self.tag_rows, self.tag_cols = _map_csr(self.all_tag_rows, to_tag[self.all_tag_cols])
        self._industry_values = tags[0]
        self.industries = {}
        for industry in tags[0][0]:
            self.industries.setdefault(industry.lower(), industry)
        self.countries = {}
        if "country" in columns:
            for country in pc.unique(self.profiles["country"]).to_pylist():  # in order of first appearance
                if country:
                    self.countries.setdefault(str(country).lower(), str(country))

    def __len__(self) -> int:
        return len(self.domains)

    def first_pass(self, query: Floats) -> Floats:
        """Every profile's cosine to the query: exact, or the two-stage search's first pass."""
        if self.search is None:
            out: Floats = self.vectors @ query
            return out
        return self.search.first_pass(query)

    def vectors_at(self, positions: npt.NDArray[np.int64]) -> Floats:
        """The exact unit vectors at these positions."""
        if self.search is None:
            out: Floats = self.vectors[positions]
            return out
        return self.search.rows(positions)

    def texts(self, positions: Sequence[int] | npt.NDArray[np.int64]) -> list[str]:
        """What a reader sees of these profiles: name, tags and description, as one text each."""
        from thera.tables import column_values

        part = self.profiles.select([c for c in TEXT_COLUMNS if c in self.profiles.column_names])
        part = part.take(np.asarray(positions, dtype=np.int64))
        columns = [column_values(part[c]) for c in part.column_names]
        return [
            " ".join(" ".join(v) if isinstance(v, list) else str(v or "") for v in values)
            for values in zip(*columns, strict=True)
        ]

    def word_weights(self) -> dict[str, float]:
        """IDF of each stem over the profiles' texts (``IDF_SAMPLE`` of them at most), and under ""
        the weight of a word no profile uses: rare words say more about a need."""
        if self._idf is None:
            n = len(self)
            sample = sorted_unique(np.linspace(0, n - 1, min(n, IDF_SAMPLE)).astype(np.int64))
            df: dict[str, int] = {}
            for text in self.texts(sample):
                for w in set(stems(text)):
                    df[w] = df.get(w, 0) + 1
            m = len(sample)
            self._idf = {w: math.log(1 + (m - c + 0.5) / (c + 0.5)) for w, c in df.items()}
            self._idf[""] = math.log(1 + (m + 0.5) / 0.5)
        return self._idf

    def rows(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        """The profiles at these positions, as Python objects."""
        from thera.tables import rows_of

        return rows_of(self.profiles.take(list(positions)))

    def tags_of(self, i: int) -> list[str]:
        """``profile_tags`` of profile i, sorted."""
        return [self.all_tags[t] for t in self.all_tag_cols[self.all_tag_rows[i] : self.all_tag_rows[i + 1]]]

    def mask(self, request: MatchRequest) -> npt.NDArray[np.bool_] | None:
        """Which profiles pass the filters (None: all); unknown filter values are a bad request."""
        import pyarrow.compute as pc

        keep: npt.NDArray[np.bool_] | None = None
        if request.industry is not None:
            wanted = self.industries.get(request.industry.lower())
            if wanted is None:
                known = ", ".join(sorted(self.industries.values())[:30])
                raise BadRequest(f"unknown industry {request.industry!r}; known: {known}")
            values, parents, codes = self._industry_values
            keep = np.zeros(len(self), dtype=np.bool_)
            keep[parents[codes == values.index(wanted)]] = True
        if request.country is not None:
            country = self.countries.get(request.country.lower())
            if country is None:
                raise BadRequest(f"unknown country {request.country!r}")
            in_country = pc.fill_null(pc.equal(self.profiles["country"], country), False).to_numpy()
            keep = in_country if keep is None else keep & in_country
        return keep


def _list_values(table: pa.Table, name: str) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A list-of-strings column as its distinct values (in order of first appearance) and, per item,
    the row it belongs to and its value's position: one pass over the items, no Python per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in table.column_names:
        return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lists = table[name].cast(pa.list_(pa.string())).combine_chunks()  # a column of empty lists: list<null>
    items = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    valid = items.is_valid().to_numpy(zero_copy_only=False)
    encoded = items.filter(valid).dictionary_encode()
    codes = encoded.indices.to_numpy().astype(np.int64)
    return list(encoded.dictionary.to_pylist()), parents[valid], codes


def _tag_csr(
    n: int, columns: list[tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]]
) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``profile_tags`` of every profile as a CSR over the sorted distinct tags."""
    normalized = [[_tag(v) if v else None for v in values] for values, _, _ in columns]
    names = sorted({t for tags in normalized for t in tags if t is not None})
    position = {t: i for i, t in enumerate(names)}
    rows, cols = [], []
    for tags, (_, parents, codes) in zip(normalized, columns, strict=True):
        ids = np.array([-1 if t is None else position[t] for t in tags], dtype=np.int64)
        cols.append(ids[codes])
        rows.append(parents)
    row, col = np.concatenate(rows), np.concatenate(cols)
    keep = col >= 0
    width = max(1, len(names))
    pairs = sorted_unique(row[keep] * width + col[keep])  # by profile, then tag; no repeats
    return names, _offsets(n, pairs // width), pairs % width


def _map_csr(
    offsets: npt.NDArray[np.int64], mapped: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The CSR with each column id replaced by ``mapped`` (same length as the ids), the -1s dropped."""
    row = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    keep = mapped >= 0
    order = np.lexsort((mapped[keep], row[keep]))
    return _offsets(len(offsets) - 1, row[keep][order]), mapped[keep][order]


def sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``np.unique`` of integers by sorting: numpy 2.5's ``np.unique`` hashes first, and took 31 s
    for 8M integers that a sort dedupes in 0.6 s (the tag pairs of a million profiles)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=np.bool_)
    keep[1:] = ordered[1:] != ordered[:-1]
    out: npt.NDArray[np.int64] = ordered[keep]
    return out


def _offsets(n: int, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=out[1:])
    return out


def _tag(value: Any) -> str:
    return str(value).strip().lower()


def profile_tags(profile: dict[str, Any]) -> set[str]:
    return {_tag(t) for t in [*(profile.get("industries") or []), *(profile.get("keywords") or [])] if t}


def tag_centroids(
    vectors: Floats, profiles: Sequence[dict[str, Any]], min_profiles: int = 3
) -> tuple[list[str], Floats]:
    """Each tag carried by at least ``min_profiles`` profiles, and the unit mean of their vectors."""
    members: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        for tag in profile_tags(p):
            members.setdefault(tag, []).append(i)
    names = sorted(t for t, rows in members.items() if len(rows) >= min_profiles)
    centroids = np.zeros((len(names), vectors.shape[1]), dtype=np.float32)
    for j, tag in enumerate(names):
        mean = vectors[members[tag]].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        centroids[j] = mean / norm if norm else mean
    return names, centroids


class Model(Protocol):
    """What scores candidates: a promoted model artefact, read without scikit-learn."""

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def score(self, features: Floats) -> Floats: ...

    def contributions(self, features: Floats) -> Floats: ...


def model_from_artifact(doc: dict[str, Any]) -> Model:
    kind = doc.get("kind", "logistic_regression")
    if list(doc.get("features", FEATURES)) != list(FEATURES):
        raise ValueError(f"model {doc.get('version')} was trained on other features: {doc.get('features')}")
    if kind == "logistic_regression":
        return ScoringModel.from_artifact(doc)
    if kind == "random_forest":
        return ForestModel.from_artifact(doc)
    raise ValueError(f"model kind {kind!r} cannot be scored here")


@dataclass(frozen=True)
class ForestModel:
    """A random forest as arrays per tree (scikit-learn's layout): scored with numpy, one level at a time."""

    version: str
    trees: list[dict[str, Any]]  # left, right, feature (int64), threshold, value (float32) per node
    importances: Floats
    kind: str = "random_forest"

    @classmethod
    def from_artifact(cls, doc: dict[str, Any]) -> ForestModel:
        trees: list[dict[str, Any]] = []
        for tree in doc["trees"]:
            trees.append(
                {
                    "left": np.asarray(tree["left"], dtype=np.int64),
                    "right": np.asarray(tree["right"], dtype=np.int64),
                    "feature": np.asarray(tree["feature"], dtype=np.int64),
                    "threshold": np.asarray(tree["threshold"], dtype=np.float64),  # as scikit-learn compares
                    "value": np.asarray(tree["value"], dtype=np.float32),
                }
            )
        importances = np.asarray([doc["importances"][f] for f in FEATURES], dtype=np.float32)
        return cls(str(doc["version"]), trees, importances)

    def score(self, features: Floats) -> Floats:
        total = np.zeros(len(features), dtype=np.float32)
        rows = np.arange(len(features))
        for tree in self.trees:
            node = np.zeros(len(features), dtype=np.int64)
            while True:
                inner = tree["left"][node] >= 0
                if not inner.any():
                    break
                f = tree["feature"][node[inner]]
                go_left = features[rows[inner], f].astype(np.float64) <= tree["threshold"][node[inner]]
                node[inner] = np.where(go_left, tree["left"][node[inner]], tree["right"][node[inner]])
            total += tree["value"][node]
        out: Floats = (total / max(1, len(self.trees))).astype(np.float32)
        return out

    def contributions(self, features: Floats) -> Floats:
        """How much each feature counts here: its importance in the forest times its value."""
        out: Floats = (features * self.importances).astype(np.float32)
        return out


@dataclass(frozen=True)
class ScoringModel:
    """A logistic model over ``FEATURES``: what the weekly training promotes, as plain numbers."""

    version: str
    coefficients: dict[str, float]
    intercept: float
    kind: str = "logistic_regression"

    @classmethod
    def from_artifact(cls, doc: dict[str, Any]) -> ScoringModel:
        if doc.get("kind", "logistic_regression") != "logistic_regression":
            raise ValueError(f"model kind {doc.get('kind')!r} cannot be scored here")
        missing = [f for f in FEATURES if f not in doc.get("coefficients", {})]
        if missing:
            raise ValueError(f"model {doc.get('version')} lacks coefficients for {', '.join(missing)}")
        return cls(str(doc["version"]), {f: float(doc["coefficients"][f]) for f in FEATURES}, float(doc["intercept"]))

    def contributions(self, features: Floats) -> Floats:
        weights = np.array([self.coefficients[f] for f in FEATURES], dtype=np.float32)
        return features * weights

    def score(self, features: Floats) -> Floats:
        z = self.contributions(features).sum(axis=1) + np.float32(self.intercept)
        out: Floats = (1 / (1 + np.exp(-z))).astype(np.float32)
        return out


# The model served until a trained one is promoted: weights set by hand and checked with
# bench/match_quality.py. Similarity and topic affinity carry the ranking and quality breaks
# ties. Keyword overlap is the share of the challenge's IDF mass a profile's text uses: rare
# words weigh, generic ones ("data", "services") hardly do.
PRIOR_MODEL = ScoringModel(
    "prior-v1",
    {
        "similarity": 4.0,
        "topic_affinity": 6.0,
        "keyword_overlap": 10.0,
        "health": 0.5,
        "richness": 0.3,
        "completeness": 0.5,
    },
    -6.0,
)


@dataclass
class Match:
    domain: str
    name: str
    score: float
    reasons: list[str]
    features: dict[str, float]
    industries: list[str]
    country: str | None
    # what the explorer shows of the startup (thera.card)
    one_liner: str = ""
    website: str = ""
    tags: list[str] = field(default_factory=list)
    city: str | None = None
    founded_year: int | None = None
    team_size: int | None = None
    health_score: int | None = None
    health_flags: list[str] = field(default_factory=list)


def topic_weights(index: Index, queries: Floats) -> tuple[Floats, list[int]]:
    """Affinity of the challenge to every tag (cosine to its centroid, the least over the rows of
    ``queries``: the challenge and its variants), and its ``TOPICS`` nearest tags."""
    if not index.tag_names:
        return np.zeros(0, dtype=np.float32), []
    sims = (index.tag_centroids @ np.atleast_2d(queries).T).min(axis=1)
    top = list(np.argsort(-sims)[:TOPICS])
    return sims, [int(t) for t in top]


def _topic_affinity(index: Index, sims: Floats, topics: list[int]) -> Floats:
    """Per profile: the best affinity among its tags that are topics of the challenge (0 when none)."""
    weights = np.zeros(len(index.tag_names) + 1, dtype=np.float32)
    weights[topics] = np.clip(sims[topics], 0, None)
    values = weights[index.tag_cols] if len(index.tag_cols) else np.zeros(0, dtype=np.float32)
    out = np.zeros(len(index), dtype=np.float32)
    starts, ends = index.tag_rows[:-1], index.tag_rows[1:]
    has = ends > starts
    if values.size:
        out[has] = np.maximum.reduceat(values, starts[has])
    return out


@dataclass(frozen=True)
class Said:
    """The challenge's words as stems, each with its share of the challenge's IDF mass and as written."""

    weights: dict[str, float]
    spoken: dict[str, str]

    @classmethod
    def of(cls, index: Index, text: str) -> Said:
        idf = index.word_weights()
        spoken: dict[str, str] = {}
        for word in words(text):
            spoken.setdefault(stem(word), word)
        raw = {w: idf.get(w, idf[""]) for w in spoken}
        total = sum(raw.values()) or 1.0
        return cls({w: v / total for w, v in raw.items()}, spoken)


def leave_one_out(index: Index, text: str) -> list[str]:
    """The challenge's words once per informative word with that word left out (its ``MAX_VARIANTS``
    rarest, in the order written): what ``rank`` embeds to see whether one word sways the meaning."""
    said = Said.of(index, text)
    if len(said.spoken) < 2:
        return []
    rarest = set(sorted(said.weights, key=lambda w: -said.weights[w])[:MAX_VARIANTS])
    written = [(w, stem(w)) for w in words(text)]
    return [" ".join(w for w, s in written if s != left) for left in said.spoken if left in rarest]


def challenge_vectors(index: Index, text: str, embed: Callable[[list[str]], Floats]) -> tuple[Floats, Floats]:
    """The challenge's vector and its leave-one-word-out variants' (k x d), from one ``embed`` of all."""
    vectors = np.asarray(embed([text, *leave_one_out(index, text)]), dtype=np.float32)
    return vectors[0], vectors[1:]


@dataclass
class Evidence:
    """Which of the challenge's words the candidates use: the keyword overlap of each (the share of
    the challenge's IDF mass its text uses) and which words support a tag."""

    said: Said
    vocab: list[str]
    shares: Floats  # per vocab word: its share of the challenge's IDF mass
    uses: Floats  # candidates x vocab, 1 where the candidate's text uses the word
    base: Floats  # per vocab word: share of all candidates that use it
    carried: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]  # (candidate row, tag id of all_tags) pairs
    _words: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, index: Index, candidates: npt.NDArray[np.int64], said: Said) -> Evidence:
        vocab = list(said.weights)
        column = {w: k for k, w in enumerate(vocab)}
        uses = np.zeros((len(candidates), len(vocab)), dtype=np.float32)
        if vocab:
            # a word's stem is a prefix of it: find the words that start with a challenge's stem, and
            # stem only those (stemming every word of 600 texts took 40-100 ms a request)
            prefixes = "|".join(re.escape(w) for w in sorted(vocab, key=len, reverse=True))
            found = re.compile(rf"\b(?:{prefixes})[^\W_]*")
            for row, text in enumerate(index.texts(candidates)):
                for word in set(found.findall(text.lower())):
                    k = column.get(stem(word))
                    if k is not None:
                        uses[row, k] = 1
        starts, ends = index.all_tag_rows[candidates], index.all_tag_rows[candidates + 1]
        counts = ends - starts
        rows = np.repeat(np.arange(len(candidates)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        carried = (rows, index.all_tag_cols[np.repeat(starts, counts) + offsets])
        shares = np.array([said.weights[w] for w in vocab], dtype=np.float32)
        base = uses.mean(axis=0) if len(candidates) else np.zeros(len(vocab), dtype=np.float32)
        return cls(said, vocab, shares, uses, base, carried)

    def carriers(self, tag: int) -> npt.NDArray[np.int64]:
        """The rows of the candidates that carry the tag."""
        rows, tags = self.carried
        out: npt.NDArray[np.int64] = rows[tags == tag]
        return out

    def _rate(self, tag: int) -> Floats:
        rows = self.carriers(tag)
        out: Floats = self.uses[rows].mean(axis=0) if len(rows) else np.zeros(len(self.vocab), dtype=np.float32)
        return out

    def supported(self, tag: int) -> bool:
        """Whether the tag's candidates use any of the challenge's words but its strongest among
        them: a topic that rests on one word of the challenge is none."""
        terms = self.shares * self._rate(tag)
        return bool(len(terms)) and float(terms.sum() - terms.max()) > 0

    def words_for(self, tag: int, name: str) -> list[str]:
        """The challenge's words (as written) that support the tag, most telling first."""
        if tag not in self._words:
            named = {stem(w) for w in words(name)}
            rate = self._rate(tag)
            lifted = (
                (len(self.carriers(tag)) >= MIN_CARRIERS) & (rate >= SUPPORT_RATE) & (rate >= SUPPORT_LIFT * self.base)
            )
            hits = [j for j, w in enumerate(self.vocab) if lifted[j] or w in named]
            self._words[tag] = [self.said.spoken[self.vocab[j]] for j in sorted(hits, key=lambda j: -self.shares[j])]
        return self._words[tag]


def rank(
    index: Index, query: Floats, request: MatchRequest, model: Model, variants: Floats | None = None
) -> list[Match]:
    """Candidates by the prior's linear score (whatever model serves) and by cosine, then the serving
    model re-scores them. ``variants``: the challenge embedded with one word left out each
    (``challenge_vectors``); topics and similarity count as much as they hold in all of them."""
    keep = index.mask(request)
    similarity = index.first_pass(query)  # exact, or approximate past a two-stage index's probed lists
    every = query[None, :] if variants is None or not len(variants) else np.vstack([query[None, :], variants])
    sims, topics = topic_weights(index, every)
    affinity = _topic_affinity(index, sims, topics)
    weights = PRIOR_MODEL.coefficients
    quick = (
        weights["similarity"] * similarity
        + weights["topic_affinity"] * affinity
        + index.quality @ np.array([weights[f] for f in FEATURES[3:]], dtype=np.float32)
    )
    allowed = int(keep.sum()) if keep is not None else len(index)
    count = min(CANDIDATES, allowed)
    if count == 0:
        return []
    pools = []
    for score in (quick, similarity):
        kept = np.where(keep, score, -np.inf) if keep is not None else score
        pools.append(np.argpartition(-kept, count - 1)[:count])
    candidates = sorted_unique(np.concatenate(pools))
    cosines = index.vectors_at(candidates) @ every.T  # exact, whatever the first pass was
    close = (cosines[:, 0] + cosines.min(axis=1)) / 2  # what one word alone lends counts half
    said = Said.of(index, request.challenge_text)
    found = Evidence.of(index, candidates, said)
    tag_ids = {t: i for i, t in enumerate(index.all_tags)}
    held = [t for t in topics if found.supported(tag_ids[index.tag_names[t]])]
    features = np.column_stack(
        [close, _topic_affinity(index, sims, held)[candidates], found.uses @ found.shares, index.quality[candidates]]
    ).astype(np.float32)
    scores = model.score(features)
    contributions = model.contributions(features)
    order = np.argsort(-scores, kind="stable")[: request.top_k]
    matches = []
    for j, profile in zip(order, index.rows([int(candidates[j]) for j in order]), strict=True):
        i = int(candidates[j])
        feats = {f: round(float(features[j][k]), 4) for k, f in enumerate(FEATURES)}
        supported = {}
        for t in index.all_tag_cols[index.all_tag_rows[i] : index.all_tag_rows[i + 1]]:
            said_words = found.words_for(int(t), index.all_tags[t])
            if len(said_words) >= REASON_WORDS:
                supported[index.all_tags[t]] = said_words
        used = [said.spoken[w] for k, w in enumerate(found.vocab) if found.uses[j, k]]
        used.sort(key=lambda w: -said.weights[stem(w)])
        matches.append(
            Match(
                domain=index.domains[i],
                name=str(profile.get("name") or index.domains[i]),
                score=round(float(scores[j]), 4),
                reasons=reasons(feats, contributions[j], supported, used),
                features=feats,
                industries=list(profile.get("industries") or []),
                country=profile.get("country"),
                **card(profile, index.domains[i]),
            )
        )
    return matches


def _quoted(said: list[str]) -> str:
    return ", ".join(f"'{w}'" for w in said)


def reasons(
    features: dict[str, float], contributions: Floats, topics: dict[str, list[str]], used: list[str]
) -> list[str]:
    """Human-readable reasons, the features that added most to the score first. ``topics``: the
    profile's tags that the challenge's words support, with those words; no other tag is named."""
    shared = sorted(topics)
    said: list[str] = []
    for tag in shared:
        said.extend(w for w in topics[tag] if w not in said)
    text = {
        "similarity": f"its description is close to the challenge (cosine {features['similarity']:.2f})",
        "topic_affinity": f"works in {', '.join(shared)}: the challenge says {_quoted(said)}" if shared else "",
        "keyword_overlap": f"its profile uses the challenge's words {_quoted(used)}" if used else "",
        "health": f"healthy website (score {round(features['health'] * 100)})",
        "richness": f"informative website (content richness {round(features['richness'] * 100)})",
        "completeness": f"well-documented profile (completeness {round(features['completeness'] * 100)})",
    }
    ranked = sorted(range(len(FEATURES)), key=lambda k: -float(contributions[k]))
    out = [text[FEATURES[k]] for k in ranked if float(contributions[k]) > 0.05 and features[FEATURES[k]] > 0]
    return [r for r in out if r][:4]


def pick_version(versions: Sequence[tuple[str, float]], draw: float) -> str:
    """Champion/challenger: the version whose cumulative traffic weight first exceeds ``draw`` in [0, 1)."""
    total = sum(w for _, w in versions)
    if not versions or total <= 0:
        raise ValueError("the serving pointer names no version with a positive weight")
    point = draw * total
    for version, weight in versions:
        point -= weight
        if point < 0:
            return version
    return versions[-1][0]


def text_hash(text: str) -> str:
    """Challenges that differ only in case and spacing share a hash (shortlists, AMS)."""
    return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:16]
