"""The matcher's index: built from the lake by the index builder, loaded by the matcher.

An index version is four objects under ``index/v=<version>/``: the unit vectors as one
``.npy`` (read in place from the object's bytes, no Parquet decoding), the profiles the matcher filters,
scores and explains with (Parquet), and the tag names and centroids for topic affinity.
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
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thera import keys
from thera.card import website_link
from thera.matching import Index, tag_centroids
from thera.ports import ObjectStore
from thera.tables import column_values, from_parquet, to_parquet

PROFILE_COLUMNS = (
    "domain",
    "name",
    "industries",
    "keywords",
    "country",
    "city",
    "health_score",
    "content_richness",
    "completeness",
    "description",
)
# What the explorer's card shows besides them (thera.card); an index without them still serves.
CARD_COLUMNS = ("website_url", "team_size", "founded_year", "health_flags")
DESCRIPTION_CHARS = 280


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
        row["website_url"] = website_link(row.get("website_url"), row["domain"])  # the page links only these
    flat = vectors["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    matrix = np.ascontiguousarray(flat.reshape(len(rows), -1), dtype=np.float32)
    names, centroids = tag_centroids(matrix, rows)
    version = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{sources[:8]}"
    store.put(keys.index_object(version, "vectors.npy"), _npy(matrix))
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
    }
    store.put(keys.INDEX_POINTER, json.dumps(pointer, indent=2).encode())
    outcome.status, outcome.version, outcome.model_id = "built", version, newest_model
    outcome.profiles, outcome.tags = len(rows), len(names)
    return outcome


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


def load_index(store: ObjectStore, pointer: dict[str, Any]) -> Index:
    version = pointer["version"]
    vectors = read_npy(store.get(keys.index_object(version, "vectors.npy")))
    centroids = read_npy(store.get(keys.index_object(version, "tags.npy")))
    profiles = from_parquet(store.get(keys.index_object(version, "profiles.parquet"))).combine_chunks()
    names = json.loads(store.get(keys.index_object(version, "tags.json")))
    domains = column_values(profiles["domain"])
    return Index(version, pointer["model_id"], domains, vectors, profiles, names, centroids)
