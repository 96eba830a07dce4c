"""A local embedding provider: latent semantic analysis (TF-IDF + truncated SVD) fitted on company texts.

The Docker-free local runtime and the tests need embeddings without Bedrock and without a model
download. LSA fitted on the company corpus gives vectors in which companies that use related words sit
close together, from a single ``.npz`` file. Embedding a text needs numpy only: the matcher runs this
at query time and must not import scipy or scikit-learn, which only ``fit_lsa`` uses.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from thera.kernel.ports import Embedding
from thera.kernel.tokens import STOP_WORDS, estimate_tokens, words

FORMAT_VERSION = 1
Floats = npt.NDArray[np.float32]
Indices = npt.NDArray[np.intp]

_ROWS_PER_CHUNK = 16_384  # term occurrences gathered at once by embed_many: bounds its memory


def _terms(text: str, stop_words: frozenset[str], ngram_max: int) -> list[str]:
    """Unigrams, plus word pairs adjacent once stop words are gone when ``ngram_max`` is 2."""
    unigrams = words(text, stop_words)
    if ngram_max >= 2:
        return unigrams + [f"{a} {b}" for a, b in itertools.pairwise(unigrams)]
    return unigrams


def _sublinear(counts: npt.NDArray[np.float32]) -> Floats:
    """1 + log(tf): a word said five times is not five times the topic."""
    return (np.log(counts) + np.float32(1)).astype(np.float32)


def _hash(arrays: Iterable[npt.NDArray[Any]]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        data = np.ascontiguousarray(array)
        digest.update(f"{data.dtype.str}{data.shape}".encode())
        digest.update(data.tobytes())
    return digest.hexdigest()


class LsaModel:
    """TF-IDF weights of a text projected on the SVD basis fitted on the corpus, then L2-normalized.

    Satisfies ``thera.kernel.ports.EmbeddingProvider``. ``tokens`` in an embedding is
    ``thera.kernel.tokens.estimate_tokens``, the count the cost budget reserves, so accounting is exact here.
    """

    def __init__(
        self,
        terms: Sequence[str],
        idf: npt.ArrayLike,
        components: npt.ArrayLike,
        *,
        ngram_max: int = 1,
        stop_words: Iterable[str] = STOP_WORDS,
    ) -> None:
        self._terms = list(terms)
        self._idf: Floats = np.ascontiguousarray(idf, dtype=np.float32)
        self._components: Floats = np.ascontiguousarray(components, dtype=np.float32)
        self._ngram_max = int(ngram_max)
        self._stop_words = frozenset(stop_words)
        n, d = self._components.shape if self._components.ndim == 2 else (-1, -1)
        if n != len(self._terms) or self._idf.shape != (n,) or d < 1:
            raise ValueError(
                f"inconsistent model: {len(self._terms)} terms, idf {self._idf.shape}, "
                f"components {self._components.shape}"
            )
        if self._ngram_max not in (1, 2):
            raise ValueError("ngram_max must be 1 or 2")
        self._index = {term: i for i, term in enumerate(self._terms)}
        if len(self._index) != n:
            raise ValueError("duplicate terms")
        content = _hash(
            [
                np.array([FORMAT_VERSION, self._ngram_max], dtype="<i8"),
                np.frombuffer("\n".join(sorted(self._stop_words)).encode(), dtype=np.uint8),
                np.frombuffer("\n".join(self._terms).encode(), dtype=np.uint8),
                self._idf.astype("<f4"),
                self._components.astype("<f4"),
            ]
        )
        self._model_id = f"local-lsa-{d}-{content[:10]}"

    # ------------------------------------------------------------------ EmbeddingProvider
    @property
    def model_id(self) -> str:
        """Names the exact vectors (hash of vocabulary, weights and basis): a refit on other data is another id."""
        return self._model_id

    @property
    def dimensions(self) -> int:
        return int(self._components.shape[1])

    def embed(self, text: str) -> Embedding:
        """One text's unit vector (all zeros when it has no known term) and its estimated tokens."""
        vector = self.embed_many([text])[0]
        return Embedding(vector=cast(list[float], vector.tolist()), tokens=estimate_tokens(text))

    # ------------------------------------------------------------------ batch and introspection
    @property
    def vocabulary_size(self) -> int:
        return len(self._terms)

    @property
    def ngram_max(self) -> int:
        return self._ngram_max

    def term_weights(self, text: str) -> tuple[Indices, Floats]:
        """The text's sparse TF-IDF row (term indices, sublinear tf x idf) before projection.

        Not L2-normalized: the projected vector is normalized anyway, and scale does not change it.
        """
        counts = Counter(
            i for t in _terms(text, self._stop_words, self._ngram_max) if (i := self._index.get(t)) is not None
        )
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return idx, _sublinear(tf) * self._idf[idx]

    def embed_many(self, texts: Sequence[str]) -> Floats:
        """Unit vectors of many texts (n x d float32), row i equal to ``embed(texts[i]).vector``.

        Per chunk of texts, the basis rows of all their terms are gathered, weighted and summed per
        text in one ``reduceat``: no Python loop over dimensions, and memory bounded by the chunk.
        """
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        rows: list[int] = []
        parts: list[tuple[Indices, Floats]] = []
        pending = 0
        for row, text in enumerate(texts):
            idx, weights = self.term_weights(text)
            if not len(idx):
                continue
            rows.append(row)
            parts.append((idx, weights))
            pending += len(idx)
            if pending >= _ROWS_PER_CHUNK:
                self._project(parts, rows, out)
                rows, parts, pending = [], [], 0
        if parts:
            self._project(parts, rows, out)
        return out

    def _project(self, parts: list[tuple[Indices, Floats]], rows: list[int], out: Floats) -> None:
        idx = np.concatenate([p[0] for p in parts])
        weights = np.concatenate([p[1] for p in parts])
        starts = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
        summed = np.add.reduceat(self._components[idx] * weights[:, None], starts, axis=0)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        out[rows] = np.divide(summed, norms, out=np.zeros_like(summed), where=norms > 0)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """One ``.npz`` (no pickles), written beside the target and renamed: readers never see half a file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        try:
            with tmp.open("wb") as f:
                np.savez(
                    f,
                    format_version=np.array(FORMAT_VERSION),
                    ngram_max=np.array(self._ngram_max),
                    stop_words=np.frombuffer("\n".join(sorted(self._stop_words)).encode(), dtype=np.uint8),
                    terms=np.frombuffer("\n".join(self._terms).encode(), dtype=np.uint8),
                    idf=self._idf,
                    components=self._components,
                )
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LsaModel:
        with np.load(Path(path), allow_pickle=False) as data:
            version = int(data["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: LSA model format {version}, this code reads {FORMAT_VERSION}")
            terms = bytes(data["terms"]).decode()
            stop_words = bytes(data["stop_words"]).decode()
            return cls(
                terms.split("\n") if terms else [],
                data["idf"],
                data["components"],
                ngram_max=int(data["ngram_max"]),
                stop_words=stop_words.split("\n") if stop_words else [],
            )


def fit_lsa(
    texts: Sequence[str],
    dimensions: int = 256,
    *,
    ngram_max: int = 1,
    min_df: int = 2,
    max_df: float = 1.0,
    max_features: int | None = None,
    stop_words: Iterable[str] = STOP_WORDS,
    seed: int = 0,
) -> LsaModel:
    """Fit TF-IDF (sublinear tf, smooth idf, L2 rows) and a truncated SVD on ``texts``; deterministic per seed.

    Terms must occur in at least ``min_df`` texts (drops typos and names) and at most a ``max_df`` share of
    them; ``max_features`` keeps the most frequent. The model has ``min(dimensions, rank)`` dimensions, so a
    corpus smaller than ``dimensions`` gives a smaller model rather than meaningless extra axes.
    """
    # scipy, scikit-learn and threadpoolctl are imported here, by name: only fitting needs them (embedding
    # must not import them), and they ship no type stubs (their attributes are Any).
    sparse = importlib.import_module("scipy.sparse")

    if dimensions < 1:
        raise ValueError("dimensions must be at least 1")
    if ngram_max not in (1, 2):
        raise ValueError("ngram_max must be 1 or 2")
    stop = frozenset(stop_words)
    docs = [Counter(_terms(text, stop, ngram_max)) for text in texts]
    n_docs = len(docs)
    if n_docs == 0:
        raise ValueError("no texts to fit on")
    df = Counter(term for doc in docs for term in doc)
    ceiling = max_df * n_docs
    kept = [(n, t) for t, n in df.items() if min_df <= n <= ceiling]
    if max_features is not None:
        kept = sorted(kept, key=lambda nt: (-nt[0], nt[1]))[:max_features]
    if not kept:
        raise ValueError(f"no term occurs in at least min_df={min_df} of {n_docs} texts")
    terms = sorted(t for _, t in kept)  # a fixed order: same corpus, same arrays, same model_id
    index = {t: i for i, t in enumerate(terms)}
    doc_freq = np.array([df[t] for t in terms], dtype=np.float64)
    idf = np.log((1 + n_docs) / (1 + doc_freq)) + 1  # smooth idf: as if one more text held every term

    indptr = [0]
    indices: list[int] = []
    counts: list[int] = []
    for doc in docs:
        for term, count in doc.items():
            if (i := index.get(term)) is not None:
                indices.append(i)
                counts.append(count)
        indptr.append(len(indices))
    cols = np.array(indices, dtype=np.int64)
    values = (1 + np.log(np.array(counts, dtype=np.float64))) * idf[cols]
    matrix = sparse.csr_matrix((values, cols, np.array(indptr, dtype=np.int64)), shape=(n_docs, len(terms)))
    row_norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sparse.diags(1 / np.where(row_norms > 0, row_norms, 1)) @ matrix  # each text weighs the same

    rank = min(matrix.shape)
    d = min(dimensions, rank)
    # One BLAS thread: the arrays (and model_id) then do not depend on the core count, and a busy box is
    # not oversubscribed (threaded OpenBLAS fitted 2-3x slower next to the running local stack).
    with importlib.import_module("threadpoolctl").threadpool_limits(limits=1):
        if d + 10 >= rank or matrix.shape[0] * matrix.shape[1] <= 4_000_000:
            _, singular, vt = np.linalg.svd(matrix.toarray(), full_matrices=False)  # small: exact
        else:
            extmath = importlib.import_module("sklearn.utils.extmath")
            _, singular, vt = extmath.randomized_svd(matrix, d, n_iter=7, random_state=seed)
    singular, vt = singular[:d], vt[:d]
    d = max(1, int(np.sum(singular > singular[0] * 1e-6))) if singular[0] > 0 else 1  # numerical rank
    basis = vt[:d].T
    # SVD leaves each axis' sign free: fix it (largest entry positive) so refits agree exactly.
    signs = np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(d)])
    basis = basis * np.where(signs == 0, 1, signs)
    return LsaModel(terms, idf.astype(np.float32), basis.astype(np.float32), ngram_max=ngram_max, stop_words=stop)
