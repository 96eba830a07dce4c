"""Benchmark silver → gold profiles and embedding throughput at scale (profiles per second, peak memory).

Run as ``python bench/gold.py [--rows N] [--data PATH]``. It prints and never asserts.

Input: the YC company file as silver companies, replicated to N rows (default 100,000) with
distinct domains; every company has a health row, three in four a crawled page built from its
own description (a few with contact lines, so the personal-data scrub has work to do).
Each measurement runs in a fresh subprocess, so the peak RSS printed is its own:

- ``gold (one table)``: ``thera.profiles.profiles.build_profiles`` over all N rows at once (a replay).
- ``gold (batches of 10)``: the same rows in SilverToGold's batch size, one call per batch.
- ``embed local (batch)``: the local LSA model (fitted on the unique company texts) over all
  N profile texts with ``embed_many``; ``embed local (per text)``: one ``embed`` call per text,
  as the Embeddings stage calls its provider, over the first 20,000.
- Bedrock Titan is not measured here (no AWS account): in AWS the stage's rate is bound by
  Bedrock's requests-per-minute quota and the EmbedQueue's MaximumConcurrency of 2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from common import default_data, peak_rss_mb, print_header

from thera.kernel import schemas
from thera.kernel.tables import from_parquet, to_parquet
from thera.profiles.profiles import build_profiles

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
PER_TEXT_LIMIT = 20_000
BUILT = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _companies(data: Path) -> list[dict[str, Any]]:
    with data.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def generate(data: Path, rows: int) -> dict[str, Path]:
    """Silver companies, health rows and pages for ``rows`` distinct domains, cached under bench/out/."""
    paths = {name: OUT / f"gold-{name}-{rows}.parquet" for name in ("companies", "health", "pages")}
    if all(p.exists() for p in paths.values()):
        return paths
    OUT.mkdir(parents=True, exist_ok=True)
    base = [c for c in _companies(data) if c.get("domain") and c.get("name")]  # what silver would keep
    pulled = datetime(2026, 11, 22, 4, tzinfo=UTC)
    companies, health, pages = [], [], []
    for i in range(rows):
        c = base[i % len(base)]
        domain = f"r{i // len(base)}-{c['domain']}" if i >= len(base) else c["domain"]
        description = c.get("long_description") or c.get("one_liner") or ""
        companies.append(
            {
                "domain": domain,
                "name": c["name"],
                "team_size": c.get("team_size"),
                "website_url": c.get("website"),
                "description": description,
                "industries": c.get("industries") or [],
                "keywords": c.get("tags") or [],
                "city": c.get("city"),
                "state": c.get("state"),
                "country": c.get("country"),
                "founded_year": c.get("founded_year"),
                "apollo_id": str(i),
                "linkedin_url": None,
                "phone": "+1 415 555 0100" if i % 50 == 0 else None,
                "run_id": "bench",
                "sweep": "2026-11-22",
                "source": "apollo",
                "raw_key": f"raw/apollo/date=2026-11-22/sweep=2026-11-22/page={i // 100 + 1:05d}.jsonl.gz",
                "source_page": i // 100 + 1,
                "source_position": i % 100,
                "pulled_at": pulled,
                "bronze_key": f"bronze/companies/date=2026-11-22/sweep=2026-11-22/page={i // 100 + 1:05d}.parquet",
            }
        )
        score = 100 - (i * 37 % 60)
        health.append(
            {
                "domain": domain,
                "score": score,
                "passed": score >= 70,
                "flags": [] if score >= 70 else ["thin_content"],
                "checked_at": pulled + timedelta(minutes=5),
                "record_hash": "h",
                "silver_key": "silver/x",
                "correlation_id": "bench",
            }
        )
        if i % 4:
            contact = "\n\nContact: hello@" + domain + " or +1 (415) 555-0199." if i % 20 == 1 else ""
            text = f"{c['name']}\n{c.get('one_liner') or ''}\n{description}\n{description}"
            pages.append(
                {
                    "domain": domain,
                    "url": f"https://{domain}/",
                    "title": c["name"],
                    "description": c.get("one_liner"),
                    "language": "en",
                    "markdown": f"# {c['name']}\n\n{c.get('one_liner') or ''}\n\n{description}{contact}",
                    "text": text,
                    "word_count": len(text.split()),
                    "headings": 1,
                    "richness": 40 + i % 60,
                    "status_code": 200,
                    "crawled_at": pulled + timedelta(minutes=9),
                    "raw_key": f"raw/firecrawl/date=2026-11-22/{domain}.json",
                    "correlation_id": "bench",
                    "silver_key": "silver/x",
                    "health_key": "silver/y",
                }
            )
    for name, rows_, schema in (
        ("companies", companies, schemas.SILVER_COMPANIES),
        ("health", health, schemas.DOMAIN_HEALTH),
        ("pages", pages, schemas.SILVER_FIRECRAWL),
    ):
        paths[name].write_bytes(to_parquet(pa.Table.from_pylist(rows_, schema=schema)))
    return paths


def measure(name: str, rows: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    paths = {n: OUT / f"gold-{n}-{rows}.parquet" for n in ("companies", "health", "pages")}
    companies = from_parquet(paths["companies"].read_bytes())
    health = from_parquet(paths["health"].read_bytes())
    pages = from_parquet(paths["pages"].read_bytes())
    if name == "gold_table":
        start = time.perf_counter()
        gold = build_profiles(companies, health, pages, BUILT)
        seconds = time.perf_counter() - start
        (OUT / f"gold-profiles-{rows}.parquet").write_bytes(to_parquet(gold))
        return {"items": gold.num_rows, "seconds": seconds, "peak_mb": peak_rss_mb()}
    if name == "gold_batches":  # each batch gets only its own rows, as the stage reads them
        where = {d: i for i, d in enumerate(pages["domain"].to_pylist())}
        batches = []
        for offset in range(0, companies.num_rows, 10):
            chunk = companies.slice(offset, 10)
            own = [where[d] for d in chunk["domain"].to_pylist() if d in where]
            batches.append((chunk, health.slice(offset, 10), pages.take(own)))
        start = time.perf_counter()
        built = sum(build_profiles(c, h, p, BUILT).num_rows for c, h, p in batches)
        return {"items": built, "seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}
    texts = from_parquet((OUT / f"gold-profiles-{rows}.parquet").read_bytes())["embedding_text"].to_pylist()
    from thera.adapters.lsa import LsaModel

    model = LsaModel.load(OUT / "gold-lsa.npz")
    if name == "embed_batch":
        start = time.perf_counter()
        vectors = model.embed_many(texts)
        return {"items": len(vectors), "seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}
    subset = texts[:PER_TEXT_LIMIT]
    start = time.perf_counter()
    tokens = sum(model.embed(t).tokens for t in subset)
    return {"items": len(subset), "seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb(), "tokens": tokens}


def fit_model(data: Path) -> dict[str, Any]:
    from thera.adapters.lsa import fit_lsa
    from thera_local.models import DIMENSIONS, corpus_texts

    texts = corpus_texts(_companies(data))
    start = time.perf_counter()
    model = fit_lsa(texts, DIMENSIONS)
    seconds = time.perf_counter() - start
    model.save(OUT / "gold-lsa.npz")
    return {"items": len(texts), "seconds": seconds, "peak_mb": peak_rss_mb(), "model": model.model_id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        result = fit_model(args.data) if args.only == "fit" else measure(args.only, args.rows)
        print(json.dumps(result))
        return
    print_header()
    start = time.perf_counter()
    generate(args.data, args.rows)
    print(f"input:   {args.rows:,} companies from {args.data.name}, generated in {time.perf_counter() - start:.1f} s")
    steps = [
        ("fit", "local LSA fit (unique texts)"),
        ("gold_table", "gold (one table)"),
        ("gold_batches", "gold (batches of 10)"),
        ("embed_batch", "embed local (batch)"),
        ("embed_text", "embed local (per text)"),
    ]
    print(f"\n{'step':<30} {'items':>9} {'seconds':>9} {'per second':>11} {'peak MB':>9}")
    for step, label in steps:
        cmd = [sys.executable, __file__, "--only", step, "--rows", str(args.rows), "--data", str(args.data)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rate = r["items"] / r["seconds"] if r["seconds"] else 0.0
        print(f"{label:<30} {r['items']:>9,} {r['seconds']:>9.2f} {rate:>11,.0f} {r['peak_mb']:>9,.0f}")
        if "model" in r:
            print(f"{'':<30} model {r['model']}")
        if "tokens" in r:
            print(f"{'':<30} {r['tokens']:,} tokens counted for {r['items']:,} texts")


if __name__ == "__main__":
    main()
