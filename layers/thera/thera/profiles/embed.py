"""The Embeddings stage: embed a gold part's changed profiles within a daily cost budget.

Budget. Spend is kept per business day in one item of the quota table, changed only
by compare-and-set, in integer nano-dollars. Before each call the text's conservative
token estimate (``thera.kernel.tokens``) is reserved; a reservation that would pass the day's
budget is refused, so the day's spend stops at the budget. After the call the
reservation is settled to the tokens the provider counted (a failed call gives it back).

When the budget refuses, the part is parked on a holding queue (no error, no retry, no
DLQ) and a metric says so; a schedule just after midnight moves parked parts back, and
the profiles embedded before the stop are skipped then as unchanged.

Unchanged. A profile whose embedding text hashes the same as the one last embedded
by the same model is not embedded again, nor is a profile older than the one last
embedded (an old part delivered again). Every part, embedded or not, goes on to the
publisher: its scores may have changed even when its text did not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from thera.kernel import keys, schemas
from thera.kernel.messages import GoldPartRequest
from thera.kernel.outcomes import PartOutcome
from thera.kernel.ports import (
    EmbeddingIndex,
    EmbeddingProvider,
    EmbeddingRecord,
    MessageQueue,
    ObjectStore,
    ProviderRejected,
    ReceivingQueue,
    Versioned,
    VersionedStore,
    cas_update,
)
from thera.kernel.tables import from_parquet, to_parquet
from thera.kernel.tokens import estimate_tokens, truncate_to_tokens

NANO = 1_000_000_000
SPEND_KEY_PREFIX = "embedding-spend#"
SPEND_KEEP_SECONDS = 7 * 86400


def usd_to_nano(usd: float) -> int:
    return round(usd * NANO)


@dataclass(frozen=True)
class Spend:
    """One business day of embedding: what was spent, and what was skipped or parked."""

    tokens: int = 0
    nano_usd: int = 0
    calls: int = 0
    unchanged: int = 0
    parked: int = 0

    @property
    def usd(self) -> float:
        return self.nano_usd / NANO

    def plus(self, other: Spend) -> Spend:
        return Spend(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


class SpendLedger:
    """The day's embedding spend against its budget, shared by every concurrent embedder."""

    def __init__(
        self, store: VersionedStore, budget_usd: float, price_per_1k_tokens_usd: float, clock: Callable[[], float]
    ) -> None:
        self._store, self._clock = store, clock
        self.budget_nano = usd_to_nano(budget_usd)
        self._price_nano_per_1k = usd_to_nano(price_per_1k_tokens_usd)

    def cost_nano(self, tokens: int) -> int:
        return -(-tokens * self._price_nano_per_1k // 1000)

    def spent(self, day: str) -> Spend:
        stored = self._store.load(SPEND_KEY_PREFIX + day)
        return Spend(**stored.doc) if stored else Spend()

    def _change(
        self, day: str, tokens: int, calls: int, check_budget: bool, unchanged: int = 0, parked: int = 0
    ) -> bool:
        def plan(current: Versioned | None) -> tuple[dict[str, Any] | None, bool]:
            spend = Spend(**current.doc) if current else Spend()
            nano = spend.nano_usd + self.cost_nano(spend.tokens + tokens) - self.cost_nano(spend.tokens)
            if check_budget and nano > self.budget_nano:
                return None, False
            new = Spend(
                spend.tokens + tokens, nano, spend.calls + calls, spend.unchanged + unchanged, spend.parked + parked
            )
            return asdict(new), True

        expires = int(self._clock()) + SPEND_KEEP_SECONDS
        ok, _ = cas_update(self._store, SPEND_KEY_PREFIX + day, plan, expires_at=expires)
        return ok

    def reserve(self, day: str, tokens: int) -> bool:
        """Take ``tokens`` from the day's budget, or refuse when they do not fit."""
        return self._change(day, tokens, 1, check_budget=True)

    def settle(self, day: str, reserved: int, counted: int) -> None:
        """Replace a reservation by what the provider counted (0 when the call failed)."""
        if counted != reserved:
            self._change(day, counted - reserved, 0 if counted else -1, check_budget=False)

    def note(self, day: str, unchanged: int, parked: int) -> None:
        """Count profiles skipped as unchanged and parts parked, for the day's report."""
        if unchanged or parked:
            self._change(day, 0, 0, check_budget=False, unchanged=unchanged, parked=parked)


@dataclass
class EmbedOutcome(PartOutcome):
    embedded: int = 0
    unchanged: int = 0
    rejected: int = 0
    parked: bool = False
    tokens: int = 0
    cost_usd: float = 0.0
    embeddings_key: str = ""
    rejected_domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Done:
    domain: str
    text_hash: str
    version: int
    vector: Any
    tokens: int


class EmbedService:
    def __init__(
        self,
        *,
        store: ObjectStore,
        index: EmbeddingIndex,
        provider: EmbeddingProvider,
        ledger: SpendLedger,
        wait_queue: MessageQueue,
        publish_queue: MessageQueue,
        max_tokens: int,
        day: str,
        now: Callable[[], datetime],
    ) -> None:
        self._store, self._index, self._provider, self._ledger = store, index, provider, ledger
        self._wait, self._publish = wait_queue, publish_queue
        self._max_tokens, self._day, self._now = max_tokens, day, now

    def embed_part(self, gold_key: str) -> EmbedOutcome:
        outcome = EmbedOutcome(gold_key)
        profiles = from_parquet(self._store.get(gold_key)).select(["domain", "embedding_text", "text_hash", "version"])
        rows = profiles.to_pylist()
        outcome.profiles = len(rows)
        outcome.domains = [r["domain"] for r in rows]
        model = self._provider.model_id
        known = self._index.known([r["domain"] for r in rows])
        todo = []
        for row in rows:
            last = known.get(row["domain"])
            if last is None or last.model_id != model:
                todo.append(row)
            elif last.text_hash == row["text_hash"]:
                outcome.unchanged += 1
            elif last.version > row["version"]:  # a newer profile of the domain is embedded already
                outcome.stale += 1
            else:
                todo.append(row)
        done: list[_Done] = []
        try:
            for row in todo:
                text = truncate_to_tokens(row["embedding_text"], self._max_tokens)
                reserved = estimate_tokens(text)
                if not self._ledger.reserve(self._day, reserved):
                    outcome.parked = True
                    break
                try:
                    embedding = self._provider.embed(text)
                except ProviderRejected as exc:
                    self._ledger.settle(self._day, reserved, 0)
                    self._quarantine(row["domain"], gold_key, str(exc))
                    outcome.rejected_domains.append(row["domain"])
                    continue
                except BaseException:
                    self._ledger.settle(self._day, reserved, 0)
                    raise
                self._ledger.settle(self._day, reserved, embedding.tokens)
                done.append(_Done(row["domain"], row["text_hash"], row["version"], embedding.vector, embedding.tokens))
        finally:
            if done:
                outcome.embeddings_key = self._write(done, gold_key)
        outcome.embedded = len(done)
        outcome.rejected = len(outcome.rejected_domains)
        outcome.tokens = sum(d.tokens for d in done)
        outcome.cost_usd = self._ledger.cost_nano(outcome.tokens) / NANO
        self._ledger.note(self._day, outcome.unchanged, int(outcome.parked))
        request = GoldPartRequest(gold_key).body()
        if outcome.parked:
            self._wait.send_many([request])
        self._publish.send_many([request])
        return outcome

    def _write(self, done: list[_Done], gold_key: str) -> str:
        model, dims = self._provider.model_id, self._provider.dimensions
        part = keys.content_part([f"model {model}", *(f"{d.domain} {d.text_hash}" for d in done)])
        key = keys.embeddings_part(self._day, part)
        at = self._now()
        table = pa.Table.from_pylist(
            [
                {
                    "domain": d.domain,
                    "model_id": model,
                    "dimensions": dims,
                    "vector": list(d.vector),
                    "text_hash": d.text_hash,
                    "tokens": d.tokens,
                    "version": d.version,
                    "embedded_at": at,
                    "gold_key": gold_key,
                }
                for d in done
            ],
            schema=schemas.embeddings_schema(dims),
        )
        self._store.put(key, to_parquet(table), {"model-id": model, "dimensions": str(dims)})
        self._index.remember([EmbeddingRecord(d.domain, model, d.text_hash, key, d.tokens, d.version) for d in done])
        return key

    def _quarantine(self, domain: str, gold_key: str, reason: str) -> None:
        doc = {"domain": domain, "gold_key": gold_key, "reason": reason, "at": self._now().isoformat()}
        self._store.put(keys.quarantine_embeddings(self._day, domain), json.dumps(doc, sort_keys=True).encode())


def move_messages(source: ReceivingQueue, target: ReceivingQueue, time_left: Callable[[], float]) -> int:
    """Move everything waiting on ``source`` to ``target`` as it is (send first, then delete: a crash re-sends)."""
    moved = 0
    while time_left() > 10:
        batch = source.receive(10)
        if not batch:
            break
        target.send_raw([m.body for m in batch])
        source.delete([m.receipt for m in batch])
        moved += len(batch)
    return moved
