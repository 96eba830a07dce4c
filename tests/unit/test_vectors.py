"""The two-stage vector search: same top 20 as the exact scan, its objects round-trip, its local copy."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from thera.kernel import keys
from thera.kernel.tables import to_parquet
from thera.matching import PRIOR_MODEL, Index, MatchRequest, rank
from thera.matching.index_store import load_index, write_vectors
from thera.matching.vectors import TwoStage, partition

ROWS, DIMS, CLUSTERS = 20_000, 64, 200
VERSION = "v1"


class DictStore:
    """The ObjectStore port over a dict; counts gets per key."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets: dict[str, int] = {}

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.objects[key] = data

    def get(self, key: str) -> bytes:
        self.gets[key] = self.gets.get(key, 0) + 1
        return self.objects[key]

    def metadata(self, key: str) -> dict[str, str] | None:
        return {} if key in self.objects else None

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def tag(self, key: str, tags: dict[str, str]) -> None:
        raise AssertionError("loading an index tags nothing")


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    """Seeded clusters as in bench/vector_search.py: a centre plus noise of the same norm."""
    rng = np.random.default_rng(5)
    centres = unit(rng.standard_normal((CLUSTERS, DIMS)))
    noise = rng.standard_normal((ROWS, DIMS)) / np.sqrt(DIMS)
    return unit(centres[rng.integers(0, CLUSTERS, ROWS)] + noise)


def stored_index(matrix: np.ndarray, two_stage: bool, scratch: Path) -> tuple[DictStore, dict[str, Any], Index]:
    store = DictStore()
    search = write_vectors(store.put, VERSION, matrix, two_stage=two_stage)
    domains = [f"d{i}.io" for i in range(len(matrix))]
    profiles = pa.table(
        {
            "domain": domains,
            "name": domains,
            "industries": pa.array([[] for _ in domains], pa.list_(pa.string())),
            "keywords": pa.array([[] for _ in domains], pa.list_(pa.string())),
            "country": ["Brazil"] * len(domains),
            "health_score": [90] * len(domains),
            "content_richness": [60] * len(domains),
            "completeness": [80] * len(domains),
        }
    )
    store.put(keys.index_object(VERSION, "profiles.parquet"), to_parquet(profiles))
    store.put(keys.index_object(VERSION, "tags.json"), b"[]")
    tags = io.BytesIO()
    np.save(tags, np.zeros((0, DIMS), dtype=np.float32))
    store.put(keys.index_object(VERSION, "tags.npy"), tags.getvalue())
    pointer = {"version": VERSION, "model_id": "m", **({"search": search} if search else {})}
    return store, pointer, load_index(store, pointer, scratch)


def test_two_stage_returns_the_exact_top_20(matrix: np.ndarray, tmp_path: Path) -> None:
    _, _, exact = stored_index(matrix, two_stage=False, scratch=tmp_path)
    _, _, two = stored_index(matrix, two_stage=True, scratch=tmp_path)
    assert exact.search is None and two.search is not None and two.vectors.shape == (0, DIMS)
    queries = unit(matrix[np.random.default_rng(9).integers(0, ROWS, 30)] + 0.05)
    request = MatchRequest("a challenge for the vector search", top_k=20)
    for query in queries:
        want = [m.domain for m in rank(exact, query, request, PRIOR_MODEL)]
        got = rank(two, query, request, PRIOR_MODEL)
        assert [m.domain for m in got] == want
        row = int(got[0].domain[1:-3])
        assert got[0].features["similarity"] == pytest.approx(float(matrix[row] @ query), abs=1e-4)  # exact, re-scored


def test_the_partition_and_the_rows_round_trip_through_build_and_load(matrix: np.ndarray, tmp_path: Path) -> None:
    store, pointer, index = stored_index(matrix, two_stage=True, scratch=tmp_path)
    search = pointer["search"]
    assert keys.index_object(VERSION, "vectors.npy") not in store.objects  # the 2nd copy of the rows is not written
    assert search["kind"] == "two_stage" and search["dimensions"] == DIMS
    assert search["shards"] == len(store.list(keys.index_object(VERSION, "vectors/")))
    built = partition(matrix)
    loaded = index.search
    assert isinstance(loaded, TwoStage)
    for name in ("centroids", "assignment", "order", "offsets"):
        np.testing.assert_array_equal(getattr(loaded.part, name), getattr(built, name))
    assert sorted(loaded.part.order.tolist()) == list(range(ROWS))  # every row in exactly one list
    on_disk = np.fromfile(loaded.path, dtype=np.float32).reshape(ROWS, DIMS)
    np.testing.assert_array_equal(on_disk, matrix[built.order])  # the local copy holds the rows in list order
    rows = np.array([0, 17, ROWS - 1])
    query = matrix[5]
    np.testing.assert_allclose(loaded.rows(rows) @ query, matrix[rows] @ query, rtol=1e-6)
    similarity, exact = loaded.first_pass(query)
    np.testing.assert_allclose(similarity[exact], matrix[exact] @ query, rtol=1e-5)  # exact where it says so
    elsewhere = np.setdiff1d(np.arange(ROWS), exact)[:5]
    mixed = np.concatenate([exact[::7], elsewhere])[::-1]  # rows held from the first pass and rows read anew
    np.testing.assert_array_equal(loaded.rows(mixed), matrix[mixed])


def test_the_local_copy_is_reused_and_other_versions_are_removed(matrix: np.ndarray, tmp_path: Path) -> None:
    store, pointer, first = stored_index(matrix, two_stage=True, scratch=tmp_path)
    assert first.search is not None
    stale = tmp_path / "v0" / "vectors.f32"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    shard = keys.index_object(VERSION, "vectors/part-00000.npy")
    before = store.gets[shard]
    again = load_index(store, pointer, tmp_path)
    assert store.gets[shard] == before  # the rows already copied are not fetched again
    assert not stale.parent.exists()
    assert again.search is not None and again.search.path == first.search.path
    assert json.loads(json.dumps(pointer))["search"]["lists"] == first.search.part.lists


def test_small_indexes_keep_their_vectors_in_memory(matrix: np.ndarray, tmp_path: Path) -> None:
    _store, pointer, index = stored_index(matrix[:500], two_stage=False, scratch=tmp_path)
    assert "search" not in pointer and index.search is None
    np.testing.assert_array_equal(index.vectors, matrix[:500])
    assert not any(tmp_path.iterdir())  # nothing copied to local storage
