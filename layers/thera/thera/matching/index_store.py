"""The matcher's index: built from the lake by the index builder, loaded by the matcher.

An index version is four objects under ``index/v=<version>/``: the unit vectors as one
``.npy`` (read in place from the object's bytes, no Parquet decoding), the profiles the matcher filters,
scores and explains with (Parquet), and the tag names and centroids for topic affinity. Past
``thera.matching.vectors.TWO_STAGE_MIN_ROWS`` profiles the vectors are instead a partition (four small
``.npy``) and the rows in list order as shards under ``vectors/``, which the matcher copies to
local storage (``write_vectors``, ``load_index``).
``index/current.json`` names the current version; it is written last, so a matcher never
sees half an index. The builder merges every gold part (newest version per domain) with
every embeddings part of the current model (newest per domain) and skips the work when
the set of parts has not changed since the current version.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thera.kernel import keys
from thera.kernel.ports import ObjectStore
from thera.kernel.schemas import QUALITY_SCORES, STARTUP_FIELDS
from thera.kernel.tables import column_values, from_parquet, to_parquet
from thera.matching import Index, tag_centroids
from thera.matching.vectors import TWO_STAGE_MIN_ROWS, Partition, TwoStage, partition, probe_for, shard_rows, shards

PROFILE_COLUMNS = (*STARTUP_FIELDS, *QUALITY_SCORES, "description")
# What the explorer's card shows besides them (thera.profiles.card); an index without them still serves.
CARD_COLUMNS = ("website_url", "team_size", "founded_year", "health_flags")
DESCRIPTION_CHARS = 280
PARTITION_OBJECTS = ("centroids", "assignment", "order", "offsets")
DOWNLOAD_THREADS = 4  # shards in flight, each up to twice in memory while read (128 MB at 4); 8 fetched faster


@dataclass
class IndexOutcome:
    status: str  # built | unchanged | empty | lease_held (another run is building)
    version: str = ""
    model_id: str = ""
    profiles: int = 0
    tags: int = 0
    gold_parts: int = 0
    embedding_parts: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _newest(tables: list[pa.Table], columns: list[str]) -> pa.Table:
    table = pa.concat_tables([t.select(columns) for t in tables], promote_options="permissive")
    table = table.sort_by([("domain", "ascending"), ("version", "descending")])
    domains = table["domain"].combine_chunks()
    first = pc.not_equal(domains[1:], domains[:-1]) if len(domains) > 1 else pa.array([], pa.bool_())
    keep = pa.concat_arrays([pa.array([True]), first.fill_null(True)]) if len(domains) else pa.array([], pa.bool_())
    return table.filter(keep)


def build_index(store: ObjectStore, now: datetime) -> IndexOutcome:
    gold_keys, vector_keys = store.list(keys.GOLD_PROFILES), store.list(keys.EMBEDDINGS)
    outcome = IndexOutcome("empty", gold_parts=len(gold_keys), embedding_parts=len(vector_keys))
    if not gold_keys or not vector_keys:
        return outcome
    sources = hashlib.sha256("\n".join([*gold_keys, *vector_keys]).encode()).hexdigest()[:20]
    current = read_pointer(store)
    if current and current.get("sources") == sources:
        outcome.status, outcome.version, outcome.model_id = "unchanged", current["version"], current["model_id"]
        outcome.profiles, outcome.tags = current["profiles"], current["tags"]
        return outcome
    vectors_tables = [from_parquet(store.get(k)) for k in vector_keys]
    newest_model = max(vectors_tables, key=lambda t: pc.max(t["embedded_at"]).as_py())["model_id"][0].as_py()
    of_model = [t.filter(pc.equal(t["model_id"], newest_model)) for t in vectors_tables]
    vectors = _newest([t for t in of_model if t.num_rows], ["domain", "version", "vector"])
    profiles = _newest([from_parquet(store.get(k)) for k in gold_keys], [*PROFILE_COLUMNS, *CARD_COLUMNS, "version"])
    profiles = profiles.filter(pc.is_in(profiles["domain"], vectors["domain"]))
    vectors = vectors.take(pc.index_in(profiles["domain"], vectors["domain"]))
    rows = profiles.select([*PROFILE_COLUMNS, *CARD_COLUMNS]).to_pylist()
    for row in rows:
        row["description"] = (row.get("description") or "")[:DESCRIPTION_CHARS]
    flat = vectors["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    matrix = np.ascontiguousarray(flat.reshape(len(rows), -1), dtype=np.float32)
    names, centroids = tag_centroids(matrix, rows)
    version = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{sources[:8]}"
    search = write_vectors(store.put, version, matrix, two_stage=len(rows) >= TWO_STAGE_MIN_ROWS)
    store.put(keys.index_object(version, "tags.npy"), _npy(centroids))
    store.put(keys.index_object(version, "profiles.parquet"), to_parquet(pa.Table.from_pylist(rows)))
    store.put(keys.index_object(version, "tags.json"), json.dumps(names).encode())
    pointer = {
        "version": version,
        "model_id": newest_model,
        "dimensions": int(matrix.shape[1]),
        "profiles": len(rows),
        "tags": len(names),
        "sources": sources,
        "built_at": now.isoformat(),
        **({"search": search} if search else {}),
    }
    store.put(keys.INDEX_POINTER, json.dumps(pointer, indent=2).encode())
    if current and current["version"] != version:
        mark_superseded(store, current["version"])
    outcome.status, outcome.version, outcome.model_id = "built", version, newest_model
    outcome.profiles, outcome.tags = len(rows), len(names)
    return outcome


def mark_superseded(store: ObjectStore, version: str) -> None:
    """Tag a replaced version's objects: the bucket's lifecycle rule expires them days later, while a
    matcher that loaded the version just before the pointer moved still reads it. After the pointer's
    write: a crash in between leaves the old version untagged (kept), never the current one tagged."""
    for key in store.list(keys.index_object(version, "")):
        store.tag(key, keys.SUPERSEDED_TAG)


def write_vectors(
    put: Callable[[str, bytes], None], version: str, matrix: np.ndarray[Any, Any], two_stage: bool
) -> dict[str, Any] | None:
    """The vectors' objects: ``vectors.npy``, or for a two-stage search the partition and the rows in
    list order as shards (``thera.matching.vectors``); what the pointer records of the latter."""
    if not two_stage:
        put(keys.index_object(version, "vectors.npy"), _npy(matrix))
        return None
    part = partition(matrix)
    for name in PARTITION_OBJECTS:
        put(keys.index_object(version, f"{name}.npy"), _npy(getattr(part, name)))
    count = 0
    for i, shard in enumerate(shards(matrix, part)):
        put(keys.index_object(version, _shard(i)), _npy(shard))
        count += 1
    dims = int(matrix.shape[1])
    return {
        "kind": "two_stage",
        "probe": probe_for(len(matrix), part.lists),
        "dimensions": dims,
        "lists": part.lists,
        "shards": count,
        "shard_rows": shard_rows(dims),
    }


def _shard(i: int) -> str:
    return f"vectors/part-{i:05d}.npy"


def _npy(matrix: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    return buffer.getvalue()


def read_pointer(store: ObjectStore) -> dict[str, Any] | None:
    if store.metadata(keys.INDEX_POINTER) is None:
        return None
    doc: dict[str, Any] = json.loads(store.get(keys.INDEX_POINTER))
    return doc


def read_npy(data: bytes) -> np.ndarray[Any, Any]:
    """The array in an ``.npy`` object, read-only and in place: no copy of a matrix of gigabytes.

    ``np.load`` of an ``io.BytesIO`` copies the array out of the bytes in small reads: three
    passes over the vectors and twice their size in memory, which bounds the matcher's memory.
    The bytes sit on 4 KiB pages where numpy asks for huge pages, so a scan of a matrix of a
    gigabyte or more runs some 5-15% slower (bench/vector_search.py); below that, no slower.
    """
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        return np.load(io.BytesIO(data), allow_pickle=False)  # type: ignore[no-any-return]
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=stream.tell())
    return flat.reshape(shape[::-1]).transpose() if fortran_order else flat.reshape(shape)


def scratch_dir() -> Path:
    """Where a matcher copies the float32 rows of a two-stage index: Lambda's ephemeral storage."""
    return Path(tempfile.gettempdir()) / "thera-index"


def load_index(store: ObjectStore, pointer: dict[str, Any], scratch: Path | None = None) -> Index:
    """The index version the pointer names. A two-stage index keeps its partition in memory and copies
    its float32 rows to ``scratch`` (the shards fetched in parallel while the profiles load), removing
    the copies of other versions there."""
    version = pointer["version"]
    search = pointer.get("search")
    if search:
        with ThreadPoolExecutor(max_workers=1) as pool:
            copying = pool.submit(_load_two_stage, store, version, search, scratch or scratch_dir())
            index = _load_rest(store, pointer, np.zeros((0, search["dimensions"]), dtype=np.float32))
            index.search = copying.result()
        return index
    return _load_rest(store, pointer, read_npy(store.get(keys.index_object(version, "vectors.npy"))))


def _load_two_stage(store: ObjectStore, version: str, search: dict[str, Any], scratch: Path) -> TwoStage:
    parts = {name: read_npy(store.get(keys.index_object(version, f"{name}.npy"))) for name in PARTITION_OBJECTS}
    part = Partition(**parts)
    dims = part.centroids.shape[1]
    if scratch.exists():
        for old in scratch.iterdir():
            if old.name != version:
                shutil.rmtree(old, ignore_errors=True)
    path = scratch / version / "vectors.f32"
    if not path.exists() or path.stat().st_size != len(part.order) * dims * 4:
        names = [keys.index_object(version, _shard(i)) for i in range(search["shards"])]
        _download(store.get, names, path, search["shard_rows"] * dims * 4)
    return TwoStage(part, path, dims, search.get("probe", probe_for(len(part.order), part.lists)))


def _download(get: Callable[[str], bytes], names: list[str], path: Path, step: int) -> None:
    """The shards fetched in parallel as whole objects, each written at its place in one local file:
    at most ``DOWNLOAD_THREADS`` shards in memory at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def fetch(i: int) -> None:
        array = np.ascontiguousarray(read_npy(get(names[i])), dtype=np.float32)
        if os.pwrite(fd, memoryview(array).cast("B"), i * step) != array.nbytes:
            raise OSError(f"short write of {names[i]} to {partial}")

    try:
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            list(pool.map(fetch, range(len(names))))
    finally:
        os.close(fd)
    partial.replace(path)


def _load_rest(store: ObjectStore, pointer: dict[str, Any], vectors: np.ndarray[Any, Any]) -> Index:
    version = pointer["version"]
    centroids = read_npy(store.get(keys.index_object(version, "tags.npy")))
    profiles = from_parquet(store.get(keys.index_object(version, "profiles.parquet"))).combine_chunks()
    names = json.loads(store.get(keys.index_object(version, "tags.json")))
    domains = column_values(profiles["domain"])
    index = Index(version, pointer["model_id"], domains, vectors, profiles, names, centroids)
    index.word_weights()  # here, while a two-stage index's shards download, not on the first request
    return index
