"""A matcher over the sample's companies, all in memory: gold profiles, their embeddings by the local
model and an index, built by the real stages on ``MemoryObjectStore``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes import MemoryObjectStore
from tests.integration.test_matcher_handlers import embed_gold, silver_rows
from thera.adapters.lsa import LsaModel, fit_lsa
from thera.kernel import keys
from thera.kernel.tables import to_parquet
from thera.matching.index_store import build_index
from thera.matching.serving import MatcherService
from thera.profiles.profiles import build_profiles
from thera_local.models import corpus_texts
from thera_local.standins.apollo import load_companies

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
DAY = "2026-11-22"


@dataclass
class Served:
    store: MemoryObjectStore
    model: LsaModel
    companies: list[dict[str, Any]]
    requests: list[str] = field(default_factory=list)

    def service(self, **options: Any) -> MatcherService:
        return MatcherService(
            self.store,
            self.model,
            clock=lambda: 0.0,
            now=lambda: NOW,
            date=lambda: DAY,
            draw=lambda: 0.0,
            **options,
        )


def served_sample(limit: int | None = None, dimensions: int = 64) -> Served:
    """The sample's companies (the first ``limit``) as gold, embeddings and an index in a ``MemoryObjectStore``."""
    import pyarrow as pa

    sample = [c for c in load_companies(ROOT / "local" / "data" / "companies_sample.jsonl") if c.get("domain")]
    companies = list({c["domain"]: c for c in sample}.values())[:limit]
    model = fit_lsa(corpus_texts(companies), dimensions)
    store = MemoryObjectStore()
    gold_key = keys.gold_profiles_part(DAY, "sample")
    store.put(gold_key, to_parquet(build_profiles(pa.Table.from_pylist(silver_rows(companies)), None, None, NOW)))
    embed_gold(store, model, gold_key)
    assert build_index(store, NOW).status == "built"
    return Served(store, model, companies)
