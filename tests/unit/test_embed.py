"""Embeddings: unchanged texts are skipped, the daily budget stops exactly at its limit and resumes next day."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.fakes import MemoryEmbeddingIndex, MemoryObjectStore, MemoryQueue, MemoryVersionedStore
from tests.unit.test_silver import row, table
from thera.kernel import keys
from thera.kernel.ports import Embedding, ProviderRejected, ProviderUnavailable
from thera.kernel.tables import from_parquet, to_parquet
from thera.kernel.tokens import estimate_tokens
from thera.lake.silver import transform
from thera.profiles.embed import EmbedOutcome, EmbedService, SpendLedger, move_messages
from thera.profiles.profiles import build_profiles

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PRICE = 0.00002  # USD per 1k tokens: 20 nano-dollars a token


class FakeProvider:
    """Deterministic vectors; counts tokens the way the local model does; can fail on chosen texts."""

    model_id = "fake-v1"
    dimensions = 4

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or {}

    def embed(self, text: str) -> Embedding:
        self.calls.append(text)
        for needle, exc in self.fail.items():
            if needle in text:
                raise exc
        digest = hashlib.sha256(text.encode()).digest()
        return Embedding([b / 255 for b in digest[:4]], estimate_tokens(text))


def gold_part(store: MemoryObjectStore, n: int, description: str = "robots", name: str = "a") -> str:
    bronze = table(*(row(i, description=f"{description} {i}") for i in range(n)))
    companies = transform(bronze, "bronze/companies/date=2026-11-22/sweep=s/page=00001.parquet").silver
    profiles = build_profiles(companies, None, None, NOW)
    key = keys.gold_profiles_part("2026-11-22", name)
    store.put(key, to_parquet(profiles))
    return key


class Env:
    def __init__(self, budget_usd: float = 1.0, provider: FakeProvider | None = None) -> None:
        self.store, self.index, self.spend = MemoryObjectStore(), MemoryEmbeddingIndex(), MemoryVersionedStore()
        self.wait, self.publish, self.embed_queue = MemoryQueue(), MemoryQueue(), MemoryQueue()
        self.provider = provider or FakeProvider()
        self.ledger = SpendLedger(self.spend, budget_usd, PRICE, NOW.timestamp)

    def run(self, key: str, day: str = "2026-11-22") -> EmbedOutcome:
        service = EmbedService(
            store=self.store,
            index=self.index,
            provider=self.provider,
            ledger=self.ledger,
            wait_queue=self.wait,
            publish_queue=self.publish,
            max_tokens=512,
            day=day,
            now=lambda: NOW,
        )
        return service.embed_part(key)


def texts(store: MemoryObjectStore, key: str) -> list[str]:
    return [t for t in from_parquet(store.get(key))["embedding_text"].to_pylist()]


def test_vectors_land_as_fixed_size_float32_with_model_and_a_profile_whose_text_did_not_change_is_skipped() -> None:
    env = Env()
    key = gold_part(env.store, 3)
    first = env.run(key)
    assert (first.embedded, first.unchanged) == (3, 0)
    vectors = from_parquet(env.store.get(first.embeddings_key))
    assert vectors.schema.field("vector").type == pa.list_(pa.float32(), 4)
    assert set(vectors["model_id"].to_pylist()) == {"fake-v1"} and set(vectors["dimensions"].to_pylist()) == {4}
    assert env.store.metadata(first.embeddings_key) == {"model-id": "fake-v1", "dimensions": "4"}
    # the same companies again (say their health score changed): same texts, no call, still published
    again_key = gold_part(env.store, 3, name="b")
    again = env.run(again_key)
    assert (again.embedded, again.unchanged, len(env.provider.calls)) == (0, 3, 3)
    assert env.publish.bodies == [{"gold_key": key}, {"gold_key": again_key}]
    # one description changed: only that profile is embedded again
    changed = gold_part(env.store, 3, description="drones", name="c")
    assert env.run(changed).embedded == 3
    mixed = build_profiles(
        transform(
            table(row(0, description="drones 0"), row(1, description="boats 1")),
            "bronze/companies/date=2026-11-22/sweep=s/page=00002.parquet",
        ).silver,
        None,
        None,
        NOW,
    )
    env.store.put("gold/profiles/date=2026-11-22/part-d.parquet", to_parquet(mixed))
    out = env.run("gold/profiles/date=2026-11-22/part-d.parquet")
    assert (out.embedded, out.unchanged) == (1, 1)
    assert "boats 1" in env.provider.calls[-1]


def test_budget_stops_exactly_at_the_limit_parks_the_rest_and_resumes_the_next_day() -> None:
    store = MemoryObjectStore()
    key = gold_part(store, 5)
    tokens = [estimate_tokens(t) for t in texts(store, key)]
    allowed = sum(tokens[:3])
    env = Env(budget_usd=allowed * 20 / 1e9)  # exactly three profiles' cost
    env.store = store
    first = env.run(key)
    assert (first.embedded, first.parked) == (3, True)
    spent = env.ledger.spent("2026-11-22")
    assert spent.nano_usd == env.ledger.budget_nano == allowed * 20 and spent.tokens == allowed
    assert env.wait.bodies == [{"gold_key": key}] and env.publish.bodies == [{"gold_key": key}]
    # later the same day: still no room, nothing new is spent
    later_key = gold_part(env.store, 1, description="boats", name="later")
    assert env.run(later_key).parked
    after = env.ledger.spent("2026-11-22")
    assert (after.nano_usd, after.tokens, after.parked) == (spent.nano_usd, spent.tokens, 2)
    # the next day's schedule moves the parked parts back; they finish, the three done are skipped
    assert move_messages(env.wait, env.embed_queue, lambda: 60.0) == 2
    assert env.wait.bodies == []
    for body in env.embed_queue.bodies:
        env.run(body["gold_key"], day="2026-11-23")
    later_tokens = sum(estimate_tokens(t) for t in texts(env.store, later_key))
    assert sum(tokens[3:]) + later_tokens <= allowed  # both fit in the new day's budget
    assert len(env.provider.calls) == 3 + 2 + 1
    assert env.ledger.spent("2026-11-23").tokens == sum(tokens[3:]) + later_tokens
    assert sorted(env.index.records) == sorted({f"company{i}.com" for i in range(5)})


def test_a_rejected_text_is_quarantined_and_gives_its_reservation_back() -> None:
    env = Env(provider=FakeProvider({"robots 1": ProviderRejected("too many input tokens")}))
    key = gold_part(env.store, 3)
    out = env.run(key)
    assert (out.embedded, out.rejected) == (2, 1)
    record = json.loads(env.store.get(keys.quarantine_embeddings("2026-11-22", "company1.com")))
    assert record["reason"] == "too many input tokens" and record["gold_key"] == key
    assert env.ledger.spent("2026-11-22").calls == 2


def test_an_outage_keeps_what_was_embedded_releases_the_reservation_and_the_retry_skips_it() -> None:
    provider = FakeProvider({"robots 2": ProviderUnavailable("ThrottlingException after 5 attempts")})
    env = Env(provider=provider)
    key = gold_part(env.store, 3)
    with pytest.raises(ProviderUnavailable):
        env.run(key)
    assert sorted(env.index.records) == ["company0.com", "company1.com"]
    assert env.ledger.spent("2026-11-22").calls == 2 and env.publish.bodies == []
    provider.fail.clear()
    retry = env.run(key)
    assert (retry.embedded, retry.unchanged) == (1, 2)


def test_concurrent_embedders_never_overspend() -> None:
    from concurrent.futures import ThreadPoolExecutor

    ledger = SpendLedger(MemoryVersionedStore(), 1000 * 20 / 1e9, PRICE, NOW.timestamp)  # room for 1,000 tokens
    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(lambda _: ledger.reserve("2026-11-22", 7), range(400)))
    assert granted == 1000 // 7 and ledger.spent("2026-11-22").tokens == 7 * (1000 // 7)


def test_an_older_profile_delivered_again_is_not_embedded_over_the_newer_one() -> None:
    env = Env()
    old_key = gold_part(env.store, 2, description="robots", name="old")
    new_key = gold_part(env.store, 2, description="drones", name="new")
    new = from_parquet(env.store.get(new_key))
    later = new.set_column(
        new.schema.get_field_index("version"), "version", [[v + 1000 for v in new["version"].to_pylist()]]
    )
    env.store.put(new_key, to_parquet(later))  # the drones profiles are the newer ones
    assert env.run(new_key).embedded == 2
    replay = env.run(old_key)  # the older robots part again, as a replayed notification delivers it
    assert (replay.embedded, replay.stale, len(env.provider.calls)) == (0, 2, 2)
    assert {r.text_hash for r in env.index.records.values()} == set(later["text_hash"].to_pylist())
