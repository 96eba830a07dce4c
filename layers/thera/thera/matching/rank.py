"""Ranking a challenge over the index: candidates, features, the serving model's scores and reasons.

Two stages. First every profile that passes the filters gets a cheap linear score from
what is precomputed: cosine similarity to the challenge, its affinity to the topics the
challenge is about, and its quality scores. Topics are the index's tags (industries and
keywords): each has a centroid, the mean vector of the profiles that carry it, and the
challenge's nearest centroids are its topics. The best ``CANDIDATES`` (and as many nearest by
cosine alone, and the ``LEXICAL`` profiles that use most of the challenge's rarest words, which an
embedding that does not know a word misses) then get the keyword overlap with the challenge's own
words (``Evidence.overlap``) and are scored by the serving model, which also says which features
drove each score.

One word must not decide the list. A challenge is also embedded once per informative word with
that word left out (``leave_one_out``). A topic counts only as much as it holds in every such
variant (the minimum), and a candidate's similarity is the mean of its cosine to the whole
challenge and the least over the variants. "Our hospital chain needs to recruit nurses" without
"chain" is no longer about supply chains. A topic also needs the challenge's words: its
candidates must use one of them besides the strongest (``Evidence.supported``).

The minimum is not enough when one common word carries the embedding's reading and others lean
the same way: in "An IT team wants alerts about the health of its servers and databases at
night" the health topics lose most of their affinity without "health", but what is left ("night")
still makes sleep tech a topic, and half of the health startups' cosine still counts. The variants
show such a reading: when the challenge's nearest topics all keep little of their affinity in
their weakest variant, and the nearest loses most without a word that says less than the
challenge's average word (a smaller share of its IDF mass), that word sways the reading
(``swaying``). The challenge is then read without it: the candidates' similarity is taken from that
variant, and a tag that does not hold there is no topic. A need word that defines the field ("A
fashion agency wants to book models") is rarer than the average word and keeps its reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from thera.kernel.tokens import stem, words
from thera.matching.index import Index, csr_rows, sorted_unique
from thera.matching.models import FEATURES, PRIOR_MODEL, Floats, Model
from thera.matching.request import MatchRequest
from thera.profiles.card import card

CANDIDATES = 300
# And the LEXICAL profiles that use most of the challenge's LEXICAL_WORDS rarest words, however far
# their vectors are: a word the embedding does not know ("insemination") still finds its users.
LEXICAL, LEXICAL_WORDS = 50, 8
TOPICS = 5
# The challenge is embedded again without each of its MAX_VARIANTS rarest words (a Titan call each,
# thera.matching.serving.EMBED_THREADS at a time): a paragraph's content words; a longer text is
# not swayed by one word anyway.
MAX_VARIANTS = 24
# A word supports a tag when at least SUPPORT_RATE of the tag's candidates (MIN_CARRIERS or more)
# use it and SUPPORT_LIFT times as often as all candidates do, or when the tag's name spells it.
SUPPORT_RATE, SUPPORT_LIFT, MIN_CARRIERS = 0.2, 1.5, 3
REASON_WORDS = 2  # a reason names a topic only when this many of the challenge's words support it
# A word sways the reading when the challenge's TOPICS nearest tags keep on average less than SWAY of
# their affinity in their weakest variant, the nearest loses most without it, and its share of the
# challenge's IDF mass is under SWAY_SHARE of the average word's; read without it, a tag that keeps
# less than HOLD of its affinity is no topic. (SWAY 0.1-0.2, SWAY_SHARE 0.7-0.9 or HOLD 0.4-0.7 move
# bench/match_quality.py's means by at most 0.002 and leave no challenge 0.15 below TF-IDF.)
SWAY, SWAY_SHARE, HOLD = 0.15, 0.8, 0.5
K1 = 1.2  # BM25's saturation of a word's uses: a profile that repeats a word says it more, each time less


@dataclass
class Match:
    domain: str
    name: str
    score: float
    reasons: list[str]
    features: dict[str, float]
    industries: list[str]
    country: str | None
    # what the explorer shows of the startup (thera.profiles.card)
    one_liner: str = ""
    website: str = ""
    tags: list[str] = field(default_factory=list)
    city: str | None = None
    founded_year: int | None = None
    team_size: int | None = None
    health_score: int | None = None
    health_flags: list[str] = field(default_factory=list)


def topic_weights(index: Index, queries: Floats, said: Said | None = None) -> tuple[Floats, list[int], int]:
    """Affinity of the challenge to every tag (cosine to its centroid, the least over the rows of
    ``queries``: the challenge and its ``leave_one_out`` variants), its ``TOPICS`` nearest tags, and
    the row it is read from (``swaying``, given the challenge's words ``said``; 0: the whole
    challenge). Read without a word, a tag that keeps less than ``HOLD`` of its affinity is no topic."""
    if not index.tag_names:
        return np.zeros(0, dtype=np.float32), [], 0
    cosines = index.tag_centroids @ np.atleast_2d(queries).T
    sims = cosines.min(axis=1)
    reading = 0 if said is None else swaying(said, cosines)
    eligible = sims if reading == 0 else np.where(cosines[:, reading] >= HOLD * cosines[:, 0], sims, -np.inf)
    top = [int(t) for t in np.argsort(-eligible)[:TOPICS] if np.isfinite(eligible[t])]
    return sims, top, reading


def swaying(said: Said, cosines: Floats) -> int:
    """The column of ``cosines`` (tags x the challenge, then its ``leave_one_out`` variants) to read
    the challenge from: the variant without the word that sways it, or 0 (the whole challenge).

    A word sways it when the challenge's ``TOPICS`` nearest tags keep on average less than ``SWAY``
    of their affinity in their weakest variant, the nearest loses most without that word, and the
    word carries less than ``SWAY_SHARE`` of the average share of the challenge's IDF mass: a common
    word ("health") that the embedding reads as a field where the rarer words name another. A rare
    need word ("fashion" in "A fashion agency wants to book models") keeps its reading. Work on the
    tags only: nothing here grows with the number of profiles."""
    left = left_out(said)
    if cosines.shape[1] != len(left) + 1 or len(left) < 2:
        return 0
    nearest = np.argsort(-cosines[:, 0])[:TOPICS]
    full = cosines[nearest, 0]
    if not np.all(full > 0) or float(np.mean(cosines[nearest, 1:].min(axis=1) / full)) >= SWAY:
        return 0
    word = int(np.argmin(cosines[nearest[0], 1:]))
    shares = np.array([said.weights[w] for w in left])
    return word + 1 if shares[word] < SWAY_SHARE * shares.mean() else 0


def _topic_affinity(index: Index, sims: Floats, topics: list[int], rows: npt.NDArray[np.int64] | None = None) -> Floats:
    """Per profile (or per one of ``rows``): the best affinity among its tags that are topics of the
    challenge (0 when none)."""
    weights = np.zeros(len(index.tag_names) + 1, dtype=np.float32)
    weights[topics] = np.clip(sims[topics], 0, None)
    if rows is not None:
        at, tags = csr_rows(index.tag_rows, index.tag_cols, rows)
        best = np.zeros(len(rows), dtype=np.float32)
        np.maximum.at(best, at, weights[tags])
        return best
    out = np.zeros(len(index), dtype=np.float32)
    offsets, members = index.tag_members
    for t in sorted(topics, key=lambda t: weights[t]):  # the best written last: each profile keeps its best
        out[members[offsets[t] : offsets[t + 1]]] = weights[t]
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
    written = [(w, stem(w)) for w in words(text)]
    return [" ".join(w for w, s in written if s != left) for left in left_out(Said.of(index, text))]


def left_out(said: Said) -> list[str]:
    """The stems ``leave_one_out`` leaves out, one per variant, in its order."""
    if len(said.spoken) < 2:
        return []
    rarest = set(sorted(said.weights, key=lambda w: -said.weights[w])[:MAX_VARIANTS])
    return [w for w in said.spoken if w in rarest]


def challenge_vectors(index: Index, text: str, embed: Callable[[list[str]], Floats]) -> tuple[Floats, Floats]:
    """The challenge's vector and its leave-one-word-out variants' (k x d), from one ``embed`` of all."""
    vectors = np.asarray(embed([text, *leave_one_out(index, text)]), dtype=np.float32)
    return vectors[0], vectors[1:]


@dataclass
class Evidence:
    """Which of the challenge's words the candidates use: the keyword overlap of each (``overlap``)
    and which words support a tag."""

    said: Said
    vocab: list[str]
    shares: Floats  # per vocab word: its share of the challenge's IDF mass
    uses: Floats  # candidates x vocab, 1 where the candidate's text uses the word
    base: Floats  # per vocab word: share of all candidates that use it
    carried: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]  # (candidate row, tag id of all_tags) pairs
    counts: Floats  # candidates x vocab: how often the candidate's text uses the word

    @classmethod
    def of(cls, index: Index, candidates: npt.NDArray[np.int64], said: Said) -> Evidence:
        vocab = list(said.weights)
        column = {w: k for k, w in enumerate(vocab)}
        counts = np.zeros((len(candidates), len(vocab)), dtype=np.float32)
        at, found = index.words_starting(candidates, vocab)  # a word's stem is a prefix of it
        stemmed = {w: column.get(stem(w)) for w in set(found)}
        for row, word in zip(at.tolist(), found, strict=True):
            k = stemmed[word]
            if k is not None:
                counts[row, k] += 1
        uses = (counts > 0).astype(np.float32)
        carried = csr_rows(index.all_tag_rows, index.all_tag_cols, candidates)
        shares = np.array([said.weights[w] for w in vocab], dtype=np.float32)
        base = uses.mean(axis=0) if len(candidates) else np.zeros(len(vocab), dtype=np.float32)
        return cls(said, vocab, shares, uses, base, carried, counts)

    def overlap(self) -> Floats:
        """Per candidate, its keyword overlap in [0, 1): the challenge's words its text uses, each
        weighing its squared IDF (as TF-IDF weighs a word on both sides: the rare words of a need
        say what it is, "wants" and "team" hardly), each counted with BM25's saturation (``K1``)."""
        weights = self.shares.astype(np.float64) ** 2
        weights /= weights.sum() or 1.0
        out: Floats = ((self.counts / (self.counts + K1)) @ weights).astype(np.float32)
        return out

    def _rates(self, tags: npt.NDArray[np.int64]) -> tuple[Floats, Floats]:
        """Per tag (sorted ids of ``index.all_tags``): how many candidates carry it, and the share of
        them that use each of the challenge's words (tags x vocab), as one product."""
        rows, carried = self.carried
        at = np.minimum(np.searchsorted(tags, carried), max(0, len(tags) - 1))
        hit = (tags[at] == carried) if len(tags) else np.zeros(len(carried), dtype=np.bool_)
        member = np.zeros((len(tags), len(self.uses)), dtype=np.float32)
        member[at[hit], rows[hit]] = 1
        counts = member.sum(axis=1)
        rate: Floats = ((member @ self.uses) / np.maximum(counts, 1)[:, None]).astype(np.float32, copy=False)
        return counts, rate

    def supported(self, tag: int) -> bool:
        """Whether the tag's candidates use any of the challenge's words but its strongest among
        them: a topic that rests on one word of the challenge is none."""
        terms = self.shares * self._rates(np.array([tag], dtype=np.int64))[1][0]
        return bool(len(terms)) and float(terms.sum() - terms.max()) > 0

    def words_for(self, tags: npt.NDArray[np.int64], index: Index) -> dict[int, list[str]]:
        """Per tag (ids of ``index.all_tags``, sorted): the challenge's words (as written) that support
        it, most telling first."""
        counts, rate = self._rates(tags)
        lifted = (counts >= MIN_CARRIERS)[:, None] & (rate >= SUPPORT_RATE) & (rate >= SUPPORT_LIFT * self.base)
        by_share = sorted(range(len(self.vocab)), key=lambda j: -self.shares[j])
        out = {}
        for k, tag in enumerate(tags.tolist()):
            named = index.tag_stems(tag)
            out[tag] = [self.said.spoken[self.vocab[j]] for j in by_share if lifted[k, j] or self.vocab[j] in named]
        return out


def rank(
    index: Index,
    query: Floats,
    request: MatchRequest,
    model: Model,
    variants: Floats | None = None,
    include: Sequence[int] = (),
) -> list[Match]:
    """Candidates by the prior's linear score (whatever model serves) and by cosine, then the
    serving model re-scores them. ``variants``: the challenge embedded with one word left out each
    (``challenge_vectors``); topics and similarity count as much as they hold in all of them.
    ``include``: index positions scored as candidates whatever the first stage says (a decision
    imported on a startup the first stage would pass over still gets its features)."""
    keep = index.mask(request)
    similarity, exact = index.first_pass(query)
    every = query[None, :] if variants is None or not len(variants) else np.vstack([query[None, :], variants])
    said = Said.of(index, request.challenge_text)
    sims, topics, reading = topic_weights(index, every, said)
    affinity = _topic_affinity(index, sims, topics)
    weights = PRIOR_MODEL.coefficients
    quick = similarity * np.float32(weights["similarity"])
    quick += index.quality_score(np.array([weights[f] for f in FEATURES[3:]], dtype=np.float32))
    quick += np.float32(weights["topic_affinity"]) * affinity
    allowed = int(keep.sum()) if keep is not None else len(index)
    count = min(CANDIDATES, allowed)
    if count == 0:
        return []
    if keep is not None:
        quick[~keep] = -np.inf
    pools = [top(quick, count, exact), nearest(similarity, exact, keep, count)]
    pools.append(lexical(index, said, keep))
    pools.append(np.asarray(include, dtype=np.int64))
    candidates = sorted_unique(np.concatenate(pools))
    cosines = index.vectors_at(candidates) @ every.T  # exact, whatever the first pass was
    close = (cosines[:, reading] + cosines.min(axis=1)) / 2  # as read; what one word alone lends counts half
    found = Evidence.of(index, candidates, said)
    held = [t for t in topics if found.supported(int(index.topic_tags[t]))]
    features = np.column_stack(
        [close, _topic_affinity(index, sims, held, candidates), found.overlap(), index.quality[candidates]]
    ).astype(np.float32)
    scores = model.score(features)
    contributions = model.contributions(features)
    order = np.argsort(-scores, kind="stable")[: request.top_k]
    shown = candidates[order]
    support = found.words_for(sorted_unique(csr_rows(index.all_tag_rows, index.all_tag_cols, shown)[1]), index)
    matches = []
    for j, profile in zip(order, index.rows(shown.tolist()), strict=True):
        i = int(candidates[j])
        feats = {f: round(float(features[j][k]), 4) for k, f in enumerate(FEATURES)}
        supported = {}
        for t in index.all_tag_cols[index.all_tag_rows[i] : index.all_tag_rows[i + 1]].tolist():
            if len(support[t]) >= REASON_WORDS:
                supported[index.all_tags[t]] = support[t]
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


def top(values: Floats, count: int, among: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    """The rows of the ``count`` largest ``values``, in no order. ``among``: rows likely to hold many
    of them (a two-stage index's probed rows): the ``count``-th largest there bounds the answer, and
    only the rows at or above it are partitioned (over 1M values: 1.0 ms instead of 3.9)."""
    n = len(values)
    if count >= n:
        return np.arange(n)
    if among is not None and len(among) > count:
        bound = np.partition(values[among], len(among) - count)[len(among) - count]
        if np.isfinite(bound):
            rows = np.flatnonzero(values >= bound)
            out: npt.NDArray[np.int64] = rows[np.argpartition(values[rows], len(rows) - count)[len(rows) - count :]]
            return out
    return np.argpartition(values, n - count)[n - count :]


def lexical(index: Index, said: Said, keep: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.int64]:
    """The ``LEXICAL`` profiles that pass the filters and use most of the challenge's
    ``LEXICAL_WORDS`` rarest words (by their shares of its IDF mass), among those ``Index.users``
    holds: rare words have few users, so this costs a few thousand rows at most."""
    rarest = sorted(said.weights, key=lambda w: -said.weights[w])[:LEXICAL_WORDS]
    users = [index.users(w) for w in rarest]
    rows = np.concatenate([np.zeros(0, dtype=np.int64), *users])
    weights = np.concatenate(
        [np.zeros(0), *(np.full(len(u), said.weights[w]) for u, w in zip(users, rarest, strict=True))]
    )
    if keep is not None:
        passing = keep[rows]
        rows, weights = rows[passing], weights[passing]
    if len(rows) <= LEXICAL:
        return rows
    order = np.argsort(rows, kind="stable")
    rows, weights = rows[order], weights[order]
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
    rows, weights = rows[starts], np.add.reduceat(weights, starts)
    if len(rows) <= LEXICAL:
        return rows
    out: npt.NDArray[np.int64] = rows[np.argpartition(-weights, LEXICAL - 1)[:LEXICAL]]
    return out


def nearest(
    similarity: Floats, exact: npt.NDArray[np.int64] | None, keep: npt.NDArray[np.bool_] | None, count: int
) -> npt.NDArray[np.int64]:
    """The ``count`` rows nearest by cosine among those scored exactly (``exact``; None: all) that pass
    the filters: a two-stage index's probed lists hold the nearest rows, the rest are estimates."""
    rows = np.arange(len(similarity)) if exact is None else exact
    if keep is not None:
        rows = rows[keep[rows]]
    if len(rows) <= count:
        return rows
    out: npt.NDArray[np.int64] = rows[np.argpartition(-similarity[rows], count - 1)[:count]]
    return out


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
