"""The in-memory index: profiles as an Arrow table and their unit vectors, with what ranking needs
precomputed (quality scores, the profile -> tag CSR, tag centroids, filter values, word rarity).

numpy throughout; building an ``Index`` imports pyarrow (the weekly training, which scores with
``thera.matching.models``, ships without it and never builds one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from thera.kernel.tokens import stem, stems, words
from thera.matching.models import Floats
from thera.matching.request import BadRequest, MatchRequest

if TYPE_CHECKING:  # pyarrow is imported where an index is built: the weekly training ships without it
    import pyarrow as pa

    from thera.matching.vectors import TwoStage

TEXT_COLUMNS = ("name", "industries", "keywords", "description")  # what the lexical side reads of a profile
# Word rarity (IDF) is counted over at most IDF_SAMPLE profiles, evenly spaced: exact up to there,
# an estimate past it that costs the first request about a second rather than a minute at 1M.
IDF_SAMPLE = 20_000
# A word at most this share of the sample uses is rare: the sample's profiles that use it are kept
# (``Index.users``), so that a challenge's rarest words find the profiles that say them.
RARE_SHARE = 0.01


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
    vectors: Floats  # n x d, unit rows; 0 x d when ``search`` holds them (a two-stage index, thera.matching.vectors)
    profiles: pa.Table  # one row per vector: name, industries, keywords, country, city, scores, description
    tag_names: list[str]
    tag_centroids: Floats  # t x d, unit rows
    search: TwoStage | None = None
    quality: Floats = field(init=False)  # n x 3: health, richness, completeness in [0, 1]
    tag_rows: npt.NDArray[np.int64] = field(init=False)  # CSR of profile -> tag ids (of tag_names)
    tag_cols: npt.NDArray[np.int64] = field(init=False)
    tag_members: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] = field(init=False)  # the CSR of tag -> profiles
    all_tags: list[str] = field(init=False)  # every tag any profile has, sorted, and the CSR of profile -> them
    all_tag_rows: npt.NDArray[np.int64] = field(init=False)
    all_tag_cols: npt.NDArray[np.int64] = field(init=False)
    topic_tags: npt.NDArray[np.int64] = field(init=False)  # per tag of tag_names, its id in all_tags (-1: none)
    industries: dict[str, str] = field(init=False)  # lowercase -> as written
    countries: dict[str, str] = field(init=False)
    _industry_values: tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]] = field(init=False, repr=False)
    _idf: dict[str, float] | None = field(init=False, repr=False, default=None)
    _quality_scores: tuple[bytes, Floats] | None = field(init=False, repr=False, default=None)
    _tag_stems: dict[int, frozenset[str]] = field(init=False, repr=False, default_factory=dict)
    _users: dict[str, npt.NDArray[np.int64]] = field(init=False, repr=False, default_factory=dict)

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
        self.tag_members = _transpose(self.tag_rows, self.tag_cols, len(self.tag_names))
        self.topic_tags = np.full(len(self.tag_names), -1, dtype=np.int64)
        self.topic_tags[to_tag[to_tag >= 0]] = np.flatnonzero(to_tag >= 0)
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

    def first_pass(self, query: Floats) -> tuple[Floats, npt.NDArray[np.int64] | None]:
        """Every profile's cosine to the query, and the rows where it is exact (None: all of them;
        past a two-stage index's probed lists it is their list's mean)."""
        if self.search is None:
            out: Floats = self.vectors @ query
            return out, None
        return self.search.first_pass(query)

    def vectors_at(self, positions: npt.NDArray[np.int64]) -> Floats:
        """The exact unit vectors at these positions."""
        if self.search is None:
            out: Floats = self.vectors[positions]
            return out
        return self.search.rows(positions)

    def texts(self, positions: Sequence[int] | npt.NDArray[np.int64]) -> list[str]:
        """What a reader sees of these profiles: name, tags and description, as one text each."""
        from thera.kernel.tables import column_values

        part = self.profiles.select([c for c in TEXT_COLUMNS if c in self.profiles.column_names])
        part = part.take(np.asarray(positions, dtype=np.int64))
        columns = [column_values(part[c]) for c in part.column_names]
        return [
            " ".join(" ".join(v) if isinstance(v, list) else str(v or "") for v in values)
            for values in zip(*columns, strict=True)
        ]

    def words_starting(
        self, positions: npt.NDArray[np.int64], prefixes: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], list[str]]:
        """The words of these profiles' texts (``texts``, in lowercase) that start with one of
        ``prefixes`` (letters and digits): (index into ``positions``, word) pairs, a word as often as
        the profile says it. Arrow's kernels join the texts and find those that hold any (RE2's ASCII
        ``\\b`` finds a superset), and Python's regex reads only those: splitting 600 texts in Python
        took 3-5 ms."""
        import pyarrow as pa
        import pyarrow.compute as pc

        at: list[int] = []
        found: list[str] = []
        if not prefixes or not len(positions):
            return np.zeros(0, dtype=np.int64), found
        part = self.profiles.select([c for c in TEXT_COLUMNS if c in self.profiles.column_names])
        part = part.take(np.asarray(positions, dtype=np.int64))
        pieces = []
        for column in part.columns:
            joined = pc.binary_join(column, " ") if pa.types.is_list(column.type) else column.cast(pa.string())
            pieces.append(pc.fill_null(joined, ""))
        text = pc.utf8_lower(pc.binary_join_element_wise(*pieces, " "))
        alternatives = "|".join(sorted(prefixes, key=len, reverse=True))
        start = r"\b" if all(p.isascii() for p in prefixes) else r"(?:^|[^\p{L}\p{N}])"
        holds = pc.match_substring_regex(text, f"{start}(?:{alternatives})").to_numpy(zero_copy_only=False)
        words = re.compile(rf"\b(?:{alternatives})[^\W_]*")
        for row, one in zip(np.flatnonzero(holds).tolist(), text.filter(holds).to_pylist(), strict=True):
            for word in words.findall(one):
                at.append(row)
                found.append(word)
        return np.array(at, dtype=np.int64), found

    def quality_score(self, weights: Floats) -> Floats:
        """``quality @ weights`` per profile, kept for the weights last asked for (the prior's, on every
        request: 1.2 ms a request at 1M profiles). Read-only."""
        key = np.asarray(weights, dtype=np.float32).tobytes()
        if self._quality_scores is None or self._quality_scores[0] != key:
            scores = self.quality @ np.asarray(weights, dtype=np.float32)
            scores.flags.writeable = False
            self._quality_scores = (key, scores)
        return self._quality_scores[1]

    def word_weights(self) -> dict[str, float]:
        """IDF of each stem over the profiles' texts (``IDF_SAMPLE`` of them at most), and under ""
        the weight of a word no profile uses: rare words say more about a need."""
        if self._idf is None:
            n = len(self)
            sample = sorted_unique(np.linspace(0, n - 1, min(n, IDF_SAMPLE)).astype(np.int64))
            users: dict[str, list[int]] = {}
            stemmed: dict[str, str] = {}  # each distinct word stemmed once: 30 times fewer calls
            for row, text in zip(sample.tolist(), self.texts(sample), strict=True):
                for w in {stemmed.get(w) or stemmed.setdefault(w, stem(w)) for w in set(words(text))}:
                    users.setdefault(w, []).append(row)
            m = len(sample)
            self._idf = {w: math.log(1 + (m - len(rows) + 0.5) / (len(rows) + 0.5)) for w, rows in users.items()}
            self._idf[""] = math.log(1 + (m + 0.5) / 0.5)
            rare = max(1, int(RARE_SHARE * m))
            self._users = {w: np.array(rows, dtype=np.int64) for w, rows in users.items() if len(rows) <= rare}
        return self._idf

    def users(self, word: str) -> npt.NDArray[np.int64]:
        """The profiles of the ``IDF_SAMPLE`` that use this stem, when it is rare (``RARE_SHARE``), in
        row order; none for a common or unknown word."""
        self.word_weights()
        return self._users.get(word, np.zeros(0, dtype=np.int64))

    def rows(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        """The profiles at these positions, as Python objects."""
        from thera.kernel.tables import rows_of

        return rows_of(self.profiles.take(list(positions)))

    def tag_stems(self, tag: int) -> frozenset[str]:
        """The stems of the words of ``all_tags[tag]``'s name, kept once asked for."""
        if tag not in self._tag_stems:
            self._tag_stems[tag] = frozenset(stems(self.all_tags[tag]))
        return self._tag_stems[tag]

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
    row, mapped = row[keep], mapped[keep]
    within = np.diff(mapped) > 0
    if not np.all(within | (np.diff(row) > 0)):  # a mapping that keeps each row's order needs no sort
        order = np.lexsort((mapped, row))
        row, mapped = row[order], mapped[order]
    return _offsets(len(offsets) - 1, row), mapped


def _transpose(
    offsets: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The CSR of column -> rows of a CSR of row -> columns (``width`` columns); rows in order."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    small = cols.astype(np.uint16) if width <= 2**16 else cols  # numpy sorts 16-bit keys by radix
    order = np.argsort(small, kind="stable")
    return _offsets(width, cols), rows[order]


def sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``np.unique`` of integers by sorting: numpy 2.5's ``np.unique`` hashes first, and took 31 s
    for 8M integers that a sort dedupes in 0.6 s (the tag pairs of a million profiles)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=np.bool_)
    keep[1:] = ordered[1:] != ordered[:-1]
    out: npt.NDArray[np.int64] = ordered[keep]
    return out


def csr_rows(
    offsets: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The entries of these rows of a CSR, as (position in ``rows``, column) pairs, without a Python loop."""
    starts, counts = offsets[rows], offsets[rows + 1] - offsets[rows]
    at = np.repeat(np.arange(len(rows)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return at, cols[np.repeat(starts, counts) + within]


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
