"""Vector search: the matcher's top 20 over 100k and 1M profiles at 256 and 1024 dimensions, next to NumPy and FAISS.

Run as ``python bench/vector_search.py [--sizes 100000,1000000] [--dims 256,1024] [--queries 200]
[--threads T]``. It prints and never asserts: the numbers compare peers measured in the same run on
the same machine.

Data (seeded, cached under ``bench/out/vectors/``, git-ignored): 1,000 cluster centres drawn
uniformly on the unit sphere; each profile vector is a centre chosen uniformly at random plus
Gaussian noise of the same norm as the centre (so a profile's cosine to its centre is about 0.7),
normalized to unit length, float32. Rows are generated in chunks of 100,000, each chunk from its
own seed, so the 100k set is the first 100k rows of the 1M set. Queries come from the same
process with another seed. The profiles next to the vectors are the YC companies (replicated, one
domain per row) as the index builder keeps them, with equal quality scores and no tag centroids:
the matcher's ranking is then the cosine ranking, and its recall is a check of that.

Peers, each configuration and each peer in a fresh subprocess (its load time and peak RSS are its
own). Before each peer the parent reads that peer's files once, and the peer loads its index twice
(dropping the first): the faster load is shown, so a page-cache miss (on this machine a kernel
reclaimer evicts cold pages) counts as little as possible against a peer.

- thera: ``thera.matching.index_store.load_index`` over an ObjectStore backed by the files of an index version
  (``vectors.npy``, ``tags.npy``, ``profiles.parquet``, ``tags.json``), then one
  ``thera.matching.rank(index, query, MatchRequest(top_k=20), PRIOR_MODEL)`` per query: the
  matcher's request path without the embedding call and the shortlist write. Its load time is
  shown whole and for the vectors alone (reading ``vectors.npy`` and ``thera.matching.index_store.read_npy``):
  the rest is the profiles, which NumPy and FAISS do not load.
- thera two-stage: the objects ``thera.matching.index_store.write_vectors(..., two_stage=True)`` writes (the
  partition and the float32 rows in list order as shards; built once, cached under
  ``two_stage/``), loaded by ``load_index`` with the same profiles, searched with the same ``rank``.
  Each load copies the rows afresh to ``bench/out/vectors/scratch`` (the matcher's ``/tmp`` at a
  cold start). "load s" reads the objects from local files; "S3 s" is one more load, the first, from
  the emulator's S3 (``moto_server`` in its own process, holding the same objects; ``--no-s3`` skips
  it); both time ``load_index`` alone, not the bench's own lookups. It reads ~32 MB a query, not
  the whole matrix, so it is timed over all ``--queries``.
- NumPy: ``np.load`` of the same ``vectors.npy``; ``vectors @ q``, ``argpartition`` and a sort of the 20.
- FAISS: ``IndexFlatIP`` written with ``faiss.write_index`` and read with ``faiss.read_index``;
  ``index.search(q, 20)``, one query at a time as the matcher answers them.

Memory: "peak MB" is the process's VmHWM (MiB) over its loads and queries; "RSS MB" its VmRSS
after the last query, what it holds while serving. The two-stage peer's cold load from S3
comes first, and the peak right after it (a matcher's cold start) is printed on its own line.

Latency is per query, p50 and p95 over the timed queries after a warm-up. A 1M x 1024 scan reads
4 GB per query, so large configurations time fewer queries (``--queries`` times 2**27 / (rows x
dims), at least 30): a p95 of 30 queries is their second slowest. recall@20 is against exact
results: a float32 matrix-matrix product of all queries with all rows (another BLAS routine than
the peers' matrix-vector products, so a tie at rank 20 can cost a peer a hit).

Threads: NumPy (and so thera) runs its matrix-vector product on OpenBLAS's threads and FAISS its
search on OpenMP's, each one per core by default, and that is the default run: every peer as it
comes. ``--threads T`` pins both (threadpoolctl, ``faiss.omp_set_num_threads``); ``--threads 1``
compares the peers on one core each, which on a busy machine can also be the faster setting (a
parallel scan waits for its slowest thread). The threads column says what each peer ran with.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from common import REPO, default_data, own_cpu_seconds, peak_rss_mb, percentile, print_header

OUT = REPO / "bench" / "out" / "vectors"
GENERATOR_VERSION = 1  # bump when the generated vectors change, so caches are rebuilt
PROFILES_VERSION = 2  # the same for the profiles
CHUNK = 100_000
CLUSTERS = 1_000
NOISE = 1.0  # noise norm relative to the centre's
TOP_K = 20
MAX_QUERIES = 200
WARMUP = 5
LOADS = 2  # loads per peer; the fastest is shown
VERSION = "bench"  # the index version the thera peer loads
MODEL_ID = "bench-random"
CHALLENGE = "qzxv wqyj kpfm vvbench"  # words no profile uses: no keyword overlap, the ranking is the cosine's
# The serving peer's: words the profiles use, so the keyword evidence and reasons do their usual work.
SERVING_CHALLENGE = "Our hospital chain needs a platform to recruit and onboard nurses quickly"
PEERS = {
    "thera": "thera (load_index + rank)",
    "two_stage": "thera two-stage (IVF + exact)",
    "serving": "thera two-stage, serving",
    "numpy": "NumPy (matvec + argpartition)",
    "faiss": "FAISS IndexFlatIP",
}
TWO_STAGE_VERSION = 2  # bump when thera.matching.vectors.partition or the objects it writes change
SCRATCH = OUT / "scratch"  # where the two-stage peer copies its float32 rows (the matcher's /tmp)
MOTO_PORT = 5391


# ----------------------------------------------------------------------------- data
def _unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _centres(dims: int) -> npt.NDArray[np.float32]:
    return _unit(np.random.default_rng([7, dims]).standard_normal((CLUSTERS, dims), dtype=np.float32))


def _draw(rng: np.random.Generator, centres: npt.NDArray[np.float32], rows: int) -> npt.NDArray[np.float32]:
    dims = centres.shape[1]
    noise = rng.standard_normal((rows, dims), dtype=np.float32) * np.float32(NOISE / np.sqrt(dims))
    return _unit(centres[rng.integers(0, CLUSTERS, rows)] + noise)


def config_dir(rows: int, dims: int) -> Path:
    return OUT / f"{rows}x{dims}"


def config_root(folder: Path) -> Path:
    """The configuration's folder, for a peer's subfolder (two_stage/) too."""
    return folder.parent if folder.name == "two_stage" else folder


def two_stage_names(folder: Path) -> tuple[str, ...]:
    """The two-stage objects' names (relative to the index version), as the builder wrote them."""
    return tuple(str(p.relative_to(folder)) for p in sorted(folder.rglob("*.npy")))


def ensure_two_stage(rows: int, dims: int) -> dict[str, Any]:
    """The two-stage objects of ``thera.matching.index_store.write_vectors`` (partition and shards),
    as files; the pointer's part."""
    from thera.kernel import keys
    from thera.matching.index_store import write_vectors

    folder = config_dir(rows, dims) / "two_stage"
    vectors = config_dir(rows, dims) / "vectors.npy"
    stamp = {"two_stage": TWO_STAGE_VERSION, "vectors": vectors.stat().st_mtime}
    if _fresh(folder / "search.json", stamp):
        search: dict[str, Any] = json.loads((folder / "search.json").read_text())
        return search
    prefix = keys.index_object(VERSION, "")

    def put(key: str, data: bytes) -> None:
        path = folder / key.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    got = write_vectors(put, VERSION, np.load(vectors, mmap_mode="r"), two_stage=True)
    assert got is not None
    (folder / "search.json").write_text(json.dumps(got))
    _stamp(folder / "search.json", stamp)
    return got


def ensure_vectors(sizes: list[int], dims: int) -> float:
    """vectors.npy for each size (the smaller ones a prefix of the largest) and the queries; seconds spent."""
    t0 = time.perf_counter()
    stamp = {"generator": GENERATOR_VERSION, "clusters": CLUSTERS, "noise": NOISE, "chunk": CHUNK}
    largest = max(sizes)
    big = config_dir(largest, dims) / "vectors.npy"
    if not _fresh(big, stamp):
        big.parent.mkdir(parents=True, exist_ok=True)
        centres = _centres(dims)
        tmp = big.with_suffix(".tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(largest, dims))
        for chunk, start in enumerate(range(0, largest, CHUNK)):
            rows = min(CHUNK, largest - start)
            out[start : start + rows] = _draw(np.random.default_rng([11, dims, chunk]), centres, rows)
        out.flush()
        del out
        tmp.replace(big)
        _stamp(big, stamp)
    for rows in sizes:
        path = config_dir(rows, dims) / "vectors.npy"
        if rows != largest and not _fresh(path, {**stamp, "of": largest}):
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.load(big, mmap_mode="r")[:rows])
            _stamp(path, {**stamp, "of": largest})
    queries = OUT / f"queries-{dims}.npy"
    if not _fresh(queries, {**stamp, "queries": WARMUP + MAX_QUERIES}):
        np.save(queries, _draw(np.random.default_rng([13, dims]), _centres(dims), WARMUP + MAX_QUERIES))
        _stamp(queries, {**stamp, "queries": WARMUP + MAX_QUERIES})
    return time.perf_counter() - t0


def _fresh(path: Path, stamp: dict[str, Any]) -> bool:
    meta = path.with_name(path.name + ".json")
    return path.exists() and meta.exists() and json.loads(meta.read_text()) == stamp


def _stamp(path: Path, stamp: dict[str, Any]) -> None:
    path.with_name(path.name + ".json").write_text(json.dumps(stamp))


def ensure_faiss(rows: int, dims: int) -> None:
    import faiss

    path = config_dir(rows, dims) / "faiss.index"
    vectors = config_dir(rows, dims) / "vectors.npy"
    if path.exists() and path.stat().st_mtime >= vectors.stat().st_mtime:
        return
    index = faiss.IndexFlatIP(dims)
    matrix = np.load(vectors, mmap_mode="r")
    for start in range(0, rows, CHUNK):
        index.add(np.ascontiguousarray(matrix[start : start + CHUNK]))
    faiss.write_index(index, str(path.with_suffix(".tmp")))
    path.with_suffix(".tmp").replace(path)


def ensure_thera_index(rows: int, dims: int, data: Path) -> None:
    """The other objects of an index version (the vectors are the shared vectors.npy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from thera.kernel.tables import to_parquet
    from thera.matching.index_store import DESCRIPTION_CHARS, PROFILE_COLUMNS
    from thera_local.standins.apollo import load_companies

    folder = config_dir(rows, dims)
    stamp = {"profiles": PROFILES_VERSION, "data": str(data), "size": data.stat().st_size}
    if _fresh(folder / "profiles.parquet", stamp):
        return
    companies = [c for c in load_companies(data) if c.get("domain") and c.get("name")]
    base = pa.table(
        {
            "domain": [c["domain"] for c in companies],
            "name": [c["name"] for c in companies],
            "industries": pa.array([c.get("industries") or [] for c in companies], pa.list_(pa.string())),
            "keywords": pa.array([c.get("tags") or [] for c in companies], pa.list_(pa.string())),
            "country": pa.array([c.get("country") for c in companies], pa.string()),
            "city": pa.array([c.get("city") for c in companies], pa.string()),
            "health_score": [100] * len(companies),  # equal quality scores: the ranking is the cosine ranking
            "content_richness": [50] * len(companies),
            "completeness": [75] * len(companies),
            "description": [
                (c.get("long_description") or c.get("one_liner") or "")[:DESCRIPTION_CHARS] for c in companies
            ],
        }
    )
    row = np.arange(rows)
    profiles = base.take(row % len(companies))
    replica = row // len(companies)  # replica k > 0 of stripe.com is r{k}-stripe.com: one domain per row
    prefix = np.where(replica == 0, "", np.char.add(np.char.add("r", replica.astype(str)), "-"))
    domains = pc.binary_join_element_wise(pa.array(prefix, pa.string()), profiles["domain"], "")
    columns = profiles.set_column(0, "domain", domains).select(list(PROFILE_COLUMNS))
    (folder / "profiles.parquet").write_bytes(to_parquet(columns))
    np.save(folder / "tags.npy", np.zeros((0, dims), dtype=np.float32))
    (folder / "tags.json").write_text("[]")
    _stamp(folder / "profiles.parquet", stamp)


class FileStore:
    """The ObjectStore port over one index version's files: a get reads the whole file, as S3 returns a body."""

    def __init__(self, folder: Path, names: tuple[str, ...] = ("vectors.npy",), tags: str = "tags") -> None:
        from thera.kernel import keys

        self.paths = {keys.index_object(VERSION, name): folder / name for name in names}
        for name in ("tags.npy", "profiles.parquet", "tags.json"):
            self.paths[keys.index_object(VERSION, name)] = config_root(folder) / name.replace("tags", tags)

    def get(self, key: str) -> bytes:
        return self.paths[key].read_bytes()

    def metadata(self, key: str) -> dict[str, str] | None:
        return {} if key in self.paths else None

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        raise NotImplementedError("the bench store is read-only")

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.paths if k.startswith(prefix))

    def tag(self, key: str, tags: dict[str, str]) -> None:
        raise NotImplementedError("the bench store is read-only")


def exact(rows: int, dims: int, queries: int) -> npt.NDArray[np.int64]:
    """The true top 20 row ids per query (as a set): all dot products, float32 GEMM by chunks."""
    path = config_dir(rows, dims) / f"exact-{queries}.npy"
    vectors = config_dir(rows, dims) / "vectors.npy"
    if path.exists() and path.stat().st_mtime >= vectors.stat().st_mtime:
        cached: npt.NDArray[np.int64] = np.load(path)
        return cached
    q = np.load(OUT / f"queries-{dims}.npy")[:queries]
    matrix = np.load(vectors, mmap_mode="r")
    best_ids = np.zeros((queries, 0), dtype=np.int64)
    best_scores = np.zeros((queries, 0), dtype=np.float32)
    for start in range(0, rows, CHUNK):
        scores = q @ np.ascontiguousarray(matrix[start : start + CHUNK]).T
        ids = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        all_scores = np.concatenate([best_scores, scores], axis=1)
        all_ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-all_scores, TOP_K - 1, axis=1)[:, :TOP_K]
        best_scores = np.take_along_axis(all_scores, top, axis=1)
        best_ids = np.take_along_axis(all_ids, top, axis=1)
    np.save(path, best_ids)
    return best_ids


# ----------------------------------------------------------------------------- peers (child processes)


Search = Callable[[npt.NDArray[np.float32]], list[int]]


def load_peer(peer: str, folder: Path) -> tuple[Search, tuple[int, int], dict[str, float]]:
    """The peer's index loaded from its files, its top-20 search, the loaded shape and timed parts."""
    steps: dict[str, float] = {}
    if peer == "thera":
        from thera.matching import PRIOR_MODEL, MatchRequest, rank
        from thera.matching import index_store as thera_index

        store = FileStore(folder)
        read_npy = thera_index.read_npy

        def get(key: str) -> bytes:  # the vectors' part of the load: their object read, then parsed
            t = time.perf_counter()
            data = FileStore.get(store, key)
            if key.endswith("vectors.npy"):
                t1 = time.perf_counter()
                read_npy(data)
                steps["vectors"] = t1 - t + time.perf_counter() - t1
            return data

        store.get = get  # type: ignore[method-assign]
        index = thera_index.load_index(store, {"version": VERSION, "model_id": MODEL_ID})
        position = {d: i for i, d in enumerate(index.domains)}
        request = MatchRequest(CHALLENGE, top_k=TOP_K)

        def search(query: npt.NDArray[np.float32]) -> list[int]:
            return [position[m.domain] for m in rank(index, query, request, PRIOR_MODEL)]

        return search, index.vectors.shape, steps
    if peer in ("two_stage", "serving"):
        tags = "tags-serving" if peer == "serving" else "tags"
        store = FileStore(folder / "two_stage", two_stage_names(folder / "two_stage"), tags)
        return _two_stage_peer(store, folder, steps, serving=peer == "serving")
    if peer == "numpy":
        vectors = np.load(folder / "vectors.npy")

        def search(query: npt.NDArray[np.float32]) -> list[int]:
            scores = vectors @ query
            top = np.argpartition(-scores, TOP_K - 1)[:TOP_K]
            return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]

        return search, vectors.shape, steps
    import faiss

    flat = faiss.read_index(str(folder / "faiss.index"))

    def search(query: npt.NDArray[np.float32]) -> list[int]:
        _, ids = flat.search(query[None, :], TOP_K)
        return [int(i) for i in ids[0]]

    return search, (flat.ntotal, flat.d), steps


def _two_stage_peer(
    store: Any, folder: Path, steps: dict[str, float], serving: bool = False
) -> tuple[Search, tuple[int, int], dict[str, float]]:
    """thera's two-stage index loaded from a store (a fresh copy of its rows each time), searched with
    ``rank``; ``steps["load_index"]``: the matcher's part of the load (``load_index`` alone).
    ``serving``: the index has tag centroids and each query comes with leave-one-out variants."""
    import shutil

    from thera.matching import PRIOR_MODEL, MatchRequest, leave_one_out, rank
    from thera.matching.index_store import load_index

    search_doc = json.loads((folder / "two_stage" / "search.json").read_text())
    shutil.rmtree(SCRATCH, ignore_errors=True)  # a cold start: no copy of the rows yet
    t = time.perf_counter()
    index = load_index(store, {"version": VERSION, "model_id": MODEL_ID, "search": search_doc}, SCRATCH)
    steps["load_index"] = time.perf_counter() - t
    assert index.search is not None
    position = {d: i for i, d in enumerate(index.domains)}
    request = MatchRequest(SERVING_CHALLENGE if serving else CHALLENGE, top_k=TOP_K)
    count = len(leave_one_out(index, request.challenge_text)) if serving else 0
    rng = np.random.default_rng(17)

    def search(query: npt.NDArray[np.float32]) -> list[int]:
        # stand-ins for the variants' embeddings: the query moved a little, once per informative word
        variants = _unit(query + rng.standard_normal((count, len(query)), dtype=np.float32) * np.float32(0.01))
        found = rank(index, query, request, PRIOR_MODEL, variants if count else None)
        return [position[m.domain] for m in found]

    return search, (len(index), index.search.dims), steps


def ensure_serving_tags(rows: int, dims: int) -> None:
    """Tag centroids of the bench's profiles (the unit mean vector of each tag carried by at least
    three), as the index builder writes them: what the serving peer's topic step searches."""
    import pyarrow.compute as pc

    from thera.kernel.tables import from_parquet

    folder = config_dir(rows, dims)
    stamp = {"profiles": PROFILES_VERSION, "vectors": (folder / "vectors.npy").stat().st_mtime}
    if _fresh(folder / "tags-serving.npy", stamp):
        return
    profiles = from_parquet((folder / "profiles.parquet").read_bytes())
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    names: dict[str, int] = {}
    for column in ("industries", "keywords"):
        lists = profiles[column].combine_chunks()
        items = pc.utf8_lower(pc.utf8_trim_whitespace(pc.list_flatten(lists))).to_pylist()
        ids = np.array([names.setdefault(t, len(names)) for t in items], dtype=np.int64)
        pairs.append((pc.list_parent_indices(lists).to_numpy().astype(np.int64), ids))
    row = np.concatenate([r for r, _ in pairs])
    tag = np.concatenate([t for _, t in pairs])
    unique = np.unique(row * len(names) + tag)
    row, tag = unique // len(names), unique % len(names)
    sums = np.zeros((len(names), dims), dtype=np.float32)
    matrix = np.load(folder / "vectors.npy", mmap_mode="r")
    for start in range(0, rows, CHUNK):
        block = np.ascontiguousarray(matrix[start : start + CHUNK])
        inside = (row >= start) & (row < start + CHUNK)
        np.add.at(sums, tag[inside], block[row[inside] - start])
    counts = np.bincount(tag, minlength=len(names))
    kept = sorted((t for t in names if counts[names[t]] >= 3 and t), key=str)
    centroids = _unit(sums[[names[t] for t in kept]]) if kept else np.zeros((0, dims), dtype=np.float32)
    np.save(folder / "tags-serving.npy", centroids.astype(np.float32))
    (folder / "tags-serving.json").write_text(json.dumps(kept))
    _stamp(folder / "tags-serving.npy", stamp)


def s3_store(port: int) -> Any:
    """The ObjectStore port over the emulator's bucket: the matcher's adapter with a boto3 client."""
    import boto3
    from botocore.config import Config

    from thera.adapters.aws import S3ObjectStore
    from thera_local.emulator import CREDENTIALS

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(max_pool_connections=16),
        **CREDENTIALS,
    )
    return S3ObjectStore(client, "bench-index")


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), after its queries: what it holds while serving."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(peer: str, rows: int, dims: int, queries: int, threads: int | None, s3_port: int = 0) -> None:
    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits

    if threads:
        threadpool_limits(threads)
        faiss.omp_set_num_threads(threads)
    blas = max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=0)
    reported = f"{faiss.omp_get_max_threads()} (OpenMP)" if peer == "faiss" else f"{blas} (OpenBLAS)"
    folder = config_dir(rows, dims)
    q = np.load(OUT / f"queries-{dims}.npy")[: queries + WARMUP]

    c0 = own_cpu_seconds()
    cold: dict[str, float] = {}
    if peer == "two_stage" and s3_port:  # first, as a matcher's cold start: the peak so far is its own
        timed: dict[str, float] = {}
        _two_stage_peer(s3_store(s3_port), folder, timed)
        cold = {"s3": timed["load_index"], "s3_peak_mb": peak_rss_mb()}
    loads: list[tuple[float, dict[str, float]]] = []
    for _ in range(LOADS):  # the fastest load counts: a page-cache miss is the machine's, not the peer's
        search: Search | None = None
        gc.collect()  # the previous load's objects are gone before the next one is timed
        t0 = time.perf_counter()
        search, shape, steps = load_peer(peer, folder)
        loads.append((steps.get("load_index", time.perf_counter() - t0), steps))
        assert shape == (rows, dims), shape
    load, steps = min(loads, key=lambda x: x[0])
    steps.update(cold)

    for query in q[:WARMUP]:
        search(query)
    latencies, found = [], []
    for query in q[WARMUP:]:
        t = time.perf_counter()
        found.append(search(query))
        latencies.append(time.perf_counter() - t)
    cpu = own_cpu_seconds() - c0
    np.save(folder / f"found-{peer}.npy", np.array(found, dtype=np.int64))
    shutil.rmtree(SCRATCH, ignore_errors=True)
    result = {
        "load": load,
        "loads": [x[0] for x in loads],
        "steps": steps,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "mean": sum(latencies) / len(latencies),
        "queries": len(latencies),
        "cpu": cpu,
        "threads": reported,
        "peak_mb": peak_rss_mb(),
        "rss_mb": rss_mb(),
    }
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- parent
def spawn(
    peer: str, rows: int, dims: int, queries: int, threads: int | None, s3_port: int = 0
) -> dict[str, Any] | None:
    argv = [sys.executable, __file__, "--peer", peer, "--sizes", str(rows), "--dims", str(dims)]
    argv += ["--queries", str(queries)] + (["--threads", str(threads)] if threads else [])
    argv += ["--s3-port", str(s3_port)] if s3_port else []
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    print(f"  {PEERS[peer]} {rows:,} x {dims}: FAILED (exit {proc.returncode})\n{proc.stderr.strip()[-2000:]}")
    return None


def recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def queries_for(rows: int, dims: int, wanted: int) -> int:
    """Fewer timed queries where one query scans much: ``wanted`` up to 2**27 floats a query, at least 30."""
    return min(wanted, max(30, wanted * 2**27 // (rows * dims)))


def prime(*paths: Path) -> None:
    """Read files once, so each peer's load finds them in the page cache (as far as the OS keeps them)."""
    buffer = bytearray(64 * 2**20)
    for path in paths:
        with path.open("rb", buffering=0) as fh:
            while fh.readinto(buffer):
                pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,1000000", help="profile counts, comma-separated")
    parser.add_argument("--dims", default="256,1024", help="vector dimensions, comma-separated")
    parser.add_argument(
        "--queries", type=int, default=MAX_QUERIES, help=f"timed queries per peer (at most {MAX_QUERIES})"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="pin OpenBLAS and FAISS's OpenMP to this many threads"
    )
    parser.add_argument("--data", type=Path, default=default_data(), help="companies JSONL for the profiles")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--peers", default=",".join(PEERS), help="peers to run, comma-separated")
    parser.add_argument("--s3-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-s3", action="store_true", help="skip the two-stage cold load from the emulator's S3 (moto_server)"
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    dims_list = [int(d) for d in args.dims.split(",")]
    wanted = min(args.queries, MAX_QUERIES)
    if args.peer:
        child(args.peer, sizes[0], dims_list[0], wanted, args.threads, args.s3_port)
        return

    import faiss
    from threadpoolctl import threadpool_info

    started = time.perf_counter()
    blas = {
        Path(p["filepath"]).parent.name.removesuffix(".libs"): p for p in threadpool_info() if p["user_api"] == "blas"
    }
    numpy_blas, faiss_blas = (blas.get(k, {}) for k in ("numpy", "faiss_cpu"))
    print_header(
        f"numpy {np.__version__} ({numpy_blas.get('internal_api')} {numpy_blas.get('version')}), "
        f"faiss {faiss.__version__} ({faiss_blas.get('internal_api')} {faiss_blas.get('version')}, OpenMP)"
    )
    print(f"data:    {CLUSTERS:,} clusters, noise {NOISE}, seeded; profiles from {args.data}")
    print(f"threads: {args.threads or 'each library default'}; top {TOP_K}; {WARMUP} warm-up queries per peer")
    print()
    header = (
        f"{'profiles':>10} {'dims':>5}  {'peer':<30}{'load s':>8}{'(vectors)':>11}{'S3 s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'queries':>9}{'recall@20':>11}{'CPU s':>7}{'peak MB':>9}{'RSS MB':>8}  threads"
    )
    lines: list[str] = []
    moto = None if args.no_s3 else start_emulator()
    try:
        run_configs(args, sizes, dims_list, wanted, moto, lines)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait()
    print()
    print(header)
    for line in lines:
        print(line)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"total wall time {time.perf_counter() - started:.1f} s; load average at the end {load}")


def start_emulator() -> subprocess.Popen[bytes]:
    """moto's S3 server in its own process, as S3 is another machine to the matcher."""
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(MOTO_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{MOTO_PORT}/moto-api/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def upload_to_emulator(moto: subprocess.Popen[bytes] | None, folder: Path) -> int:
    """A fresh bucket holding this configuration's two-stage index objects; the emulator's port."""
    import urllib.request

    assert moto is not None
    t = time.perf_counter()
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{MOTO_PORT}/moto-api/reset", method="POST"))
    store = s3_store(MOTO_PORT)
    store._s3.create_bucket(Bucket=store.bucket)
    files = FileStore(folder / "two_stage", two_stage_names(folder / "two_stage"))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: store.put(k, files.paths[k].read_bytes()), files.paths))
    total = sum(p.stat().st_size for p in files.paths.values())
    print(f"  uploaded {total / 2**20:,.0f} MiB to the emulator's S3 in {time.perf_counter() - t:.1f} s", flush=True)
    return MOTO_PORT


def run_configs(
    args: argparse.Namespace,
    sizes: list[int],
    dims_list: list[int],
    wanted: int,
    moto: subprocess.Popen[bytes] | None,
    lines: list[str],
) -> None:
    for dims in dims_list:
        t = time.perf_counter()
        ensure_vectors(sizes, dims)
        print(f"vectors {dims}-d ready in {time.perf_counter() - t:.1f} s", flush=True)
        for rows in sizes:
            t = time.perf_counter()
            ensure_faiss(rows, dims)
            ensure_thera_index(rows, dims, args.data)
            ensure_two_stage(rows, dims)
            ensure_serving_tags(rows, dims)
            queries = queries_for(rows, dims, wanted)
            truth = exact(rows, dims, queries + WARMUP)[WARMUP:]
            truth_all = exact(rows, dims, wanted + WARMUP)[WARMUP:]  # the two-stage peer scans little: all queries
            print(
                f"  {rows:,} x {dims}: files and exact top {TOP_K} ready in {time.perf_counter() - t:.1f} s", flush=True
            )
            folder = config_dir(rows, dims)
            files = {
                "thera": [folder / "vectors.npy", folder / "profiles.parquet"],
                "numpy": [folder / "vectors.npy"],
                "faiss": [folder / "faiss.index"],
                "two_stage": [folder / "two_stage" / n for n in two_stage_names(folder / "two_stage")],
            }
            files["serving"] = files["two_stage"]
            port = 0 if args.no_s3 or "two_stage" not in args.peers else upload_to_emulator(moto, folder)
            for peer in args.peers.split(","):
                prime(*files[peer])
                t = time.perf_counter()
                two = peer in ("two_stage", "serving")
                cold = port if peer == "two_stage" else 0
                got = spawn(peer, rows, dims, wanted if two else queries, args.threads, cold)
                if got is None:
                    continue
                found = np.load(config_dir(rows, dims) / f"found-{peer}.npy")
                # the serving peer ranks by topics and words too: its top 20 is not the cosine's
                hits = "-" if peer == "serving" else f"{recall(found, truth_all if two else truth):.4f}"
                part = f"{got['steps']['vectors']:.2f}" if "vectors" in got["steps"] else "-"
                s3 = f"{got['steps']['s3']:.2f}" if "s3" in got["steps"] else "-"
                if "s3_peak_mb" in got["steps"]:
                    print(f"  peak RSS after the cold load from S3 alone: {got['steps']['s3_peak_mb']:,.0f} MB")
                line = (
                    f"{rows:>10,} {dims:>5}  {PEERS[peer]:<30}{got['load']:>8.2f}{part:>11}{s3:>9}"
                    f"{got['p50'] * 1e3:>9.2f}{got['p95'] * 1e3:>9.2f}{got['queries']:>9}"
                    f"{hits:>11}{got['cpu']:>7.1f}{got['peak_mb']:>9,.0f}{got['rss_mb']:>8,.0f}  {got['threads']}"
                )
                print(f"  {line.strip()}  ({time.perf_counter() - t:.1f} s)", flush=True)
                lines.append(line)


if __name__ == "__main__":
    main()
