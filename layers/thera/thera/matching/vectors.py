"""Two-stage vector search for indexes too large to hold as float32 in the matcher's memory.

At a million profiles of 1,024 dimensions the float32 vectors are 4 GB: more than a matcher
of 1,769 MB holds, and one scan of them takes 100-140 ms on two cores. Past
``TWO_STAGE_MIN_ROWS`` the index builder partitions the vectors (k-means on a sample, an
inverted file) and writes them in list order as shards; the matcher keeps in memory only
the compressed part, each profile's list (its code) and the list centroids, and copies the
float32 rows to a local file (``/tmp``) that it reads with ``pread``.

First pass: every profile's similarity is approximated by its list's (the cosine to the
mean of its list's vectors), and the ``probe`` lists nearest the challenge (``PROBE_ROWS``
rows' worth) are scored exactly from the file, each list one contiguous read. Ranking blends
that with the topic and quality scores as before, and the candidates it keeps are re-scored
exactly from their rows (``rows``), against the challenge and its variants.

Why a partition and not int8 or a projection (a scratch run on the bench's data, 1M x 1,024,
this 2-core machine, 2026-12-05): NumPy has no int8 or float16 matrix-vector product, so an
int8 scan goes through float32 conversions (1.4 s a query); a sign-bit (Hamming) scan of all
rows took 48 ms; a 64-dimension projection scanned in 8.5 ms but kept only 91 % of the true
top 20 among its best 2,000 rows. Reading a few lists exactly costs less than any of them.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

TWO_STAGE_MIN_ROWS = 200_000  # below, the float32 vectors stay in memory and every request scans them all
SHARD_BYTES = 16 * 2**20  # vectors in list order are written as objects of this size: parallel whole-object GETs
PROBE_ROWS = 8_192  # rows scored exactly per request, in whole lists: 32 MB read at 1,024 dimensions
MIN_PROBE = 8  # lists; at 100k x 1,024 (316 lists) 8 lists kept recall@20 at 0.9875, 16 at 0.9952
SAMPLE_PER_LIST = 32  # k-means trains on this many rows per list
ITERATIONS = 8
CHUNK_ROWS = 65_536


def lists_for(rows: int) -> int:
    """About the square root of the rows, as inverted files are sized: a list holds ~sqrt(n) rows."""
    return max(1, round(math.sqrt(rows)))


@dataclass(frozen=True)
class Partition:
    """What the builder computes: list centroids (means, not unit), each row's list, rows in list order."""

    centroids: Floats  # lists x d
    assignment: npt.NDArray[np.int32]  # n: the list of each profile row
    order: npt.NDArray[np.int32]  # n: profile rows in list order
    offsets: Ints  # lists + 1: where each list starts in ``order``

    @property
    def lists(self) -> int:
        return len(self.centroids)


def _nearest(matrix: Floats, centroids: Floats) -> npt.NDArray[np.int32]:
    out = np.empty(len(matrix), dtype=np.int32)
    for start in range(0, len(matrix), CHUNK_ROWS):
        block = np.ascontiguousarray(matrix[start : start + CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return out


def partition(matrix: Floats, lists: int | None = None, seed: int = 0) -> Partition:
    """Spherical k-means on a sample (``SAMPLE_PER_LIST`` rows a list), then every row to its nearest list."""
    n = len(matrix)
    lists = min(n, lists or lists_for(n))
    rng = np.random.default_rng(seed)
    sample_rows = np.sort(rng.choice(n, size=min(n, lists * SAMPLE_PER_LIST), replace=False))
    sample = np.ascontiguousarray(matrix[sample_rows], dtype=np.float32)
    centroids = sample[rng.choice(len(sample), size=lists, replace=False)].copy()
    for _ in range(ITERATIONS):
        nearest = _nearest(sample, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        counts = np.bincount(nearest, minlength=lists)
        empty = counts == 0  # an empty list takes a random sample row
        sums[empty] = sample[rng.choice(len(sample), size=int(empty.sum()))]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = (sums / np.where(norms > 0, norms, 1)).astype(np.float32)
    assignment = _nearest(matrix, centroids)
    counts = np.bincount(assignment, minlength=lists)
    means = np.zeros_like(centroids)  # the mean vector of each list: q . mean is its rows' mean cosine
    for start in range(0, n, CHUNK_ROWS):
        block = np.ascontiguousarray(matrix[start : start + CHUNK_ROWS], dtype=np.float32)
        np.add.at(means, assignment[start : start + len(block)], block)
    means /= np.maximum(counts, 1)[:, None].astype(np.float32)
    order = np.argsort(assignment, kind="stable").astype(np.int32)
    offsets = np.zeros(lists + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Partition(means, assignment, order, offsets)


def probe_for(rows: int, lists: int) -> int:
    """Lists to score exactly: ``PROBE_ROWS`` rows' worth, at least ``MIN_PROBE``, at most all."""
    return min(lists, max(MIN_PROBE, math.ceil(PROBE_ROWS * lists / max(1, rows))))


def shard_rows(dims: int) -> int:
    return max(1, SHARD_BYTES // (4 * dims))


def shards(matrix: Floats, part: Partition) -> Iterator[Floats]:
    """The float32 rows in list order, ``shard_rows`` at a time, as the builder writes them."""
    step = shard_rows(matrix.shape[1])
    for start in range(0, len(part.order), step):
        yield np.ascontiguousarray(matrix[part.order[start : start + step]], dtype=np.float32)


class TwoStage:
    """The matcher's search over a partition whose float32 rows (in list order) sit in a local file."""

    def __init__(self, part: Partition, path: Path, dims: int, probe: int) -> None:
        self.part = part
        self.path = path
        self.dims = dims
        self.probe = min(probe, part.lists)
        self.position = np.empty(len(part.order), dtype=np.int64)  # profile row -> row in the file
        self.position[part.order] = np.arange(len(part.order))
        # each profile's list as native indices: gathering the lists' scores by them took 1.0 ms a
        # request at 1M rows, by the stored int32 2.5 ms
        self._assignment = part.assignment.astype(np.intp)
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)  # a replaced index's file is deleted: its space freed on close
        self._buffer = np.empty((0, dims), dtype=np.float32)  # the probed lists' rows, grown as needed
        self._exact_rows = np.zeros(0, dtype=np.int64)  # the last first pass's probed rows, sorted
        self._exact_at = np.zeros(0, dtype=np.int64)  # and where each sits in the buffer

    def __len__(self) -> int:
        return len(self.part.order)

    def _read(self, start: int, out: Floats) -> None:
        got = os.preadv(self._fd, [memoryview(out).cast("B")], start * self.dims * 4)
        if got != out.nbytes:
            raise OSError(f"{self.path}: read {got} of {out.nbytes} bytes at row {start}")

    def first_pass(self, query: Floats) -> tuple[Floats, Ints]:
        """Every profile's similarity: its list's mean cosine, exact in the ``probe`` nearest lists
        (read one after the other into one buffer, scored with one matrix-vector product: many
        small products lose to BLAS's thread start-up on a busy machine); and the rows scored
        exactly, sorted. Their vectors stay in memory for ``rows`` until the next first pass."""
        by_list = self.part.centroids @ query
        out: Floats = np.take(by_list, self._assignment)
        probed = np.sort(np.argpartition(-by_list, self.probe - 1)[: self.probe])
        starts, ends = self.part.offsets[probed], self.part.offsets[probed + 1]
        total = int((ends - starts).sum())
        if len(self._buffer) < total:
            self._buffer = np.empty((total, self.dims), dtype=np.float32)
        at = 0
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            self._read(start, self._buffer[at : at + end - start])
            at += end - start
        rows = np.concatenate([self.part.order[a:b] for a, b in zip(starts, ends, strict=True)])
        out[rows] = self._buffer[:total] @ query
        order = np.argsort(rows)
        self._exact_rows, self._exact_at = rows[order], order
        return out, self._exact_rows

    def rows(self, rows: Ints) -> Floats:
        """The exact vectors of these profile rows: from memory when the last first pass scored them,
        else read from the file."""
        matrix = np.empty((len(rows), self.dims), dtype=np.float32)
        held = np.zeros(len(rows), dtype=np.bool_)
        found = np.zeros(len(rows), dtype=np.int64)
        if len(self._exact_rows):
            found = np.minimum(np.searchsorted(self._exact_rows, rows), len(self._exact_rows) - 1)
            held = self._exact_rows[found] == rows
        matrix[held] = self._buffer[self._exact_at[found[held]]]  # scored by the last first pass: in memory
        missing = np.flatnonzero(~held)
        at = self.position[rows[missing]]
        for j in np.argsort(at).tolist():  # in file order: the reads move forward through the file
            self._read(int(at[j]), matrix[missing[j]])
        return matrix
