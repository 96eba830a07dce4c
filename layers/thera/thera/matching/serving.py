"""The matcher's service: the index and the serving models held per execution environment, shortlists, feedback.

The index and the serving pointer are loaded on first use and checked again at most every
``refresh_seconds``; a new index version or a moved pointer is picked up without a restart.
Champion/challenger: ``models/serving.json`` names one or two model versions with traffic
weights; each request draws one, and the answer says which version scored it. A score floor
(``min_score``, 0 for none) drops the weaker of the ranked matches; the answer counts them in
``below_floor`` and the shortlist logs only what was shown.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from thera.kernel import keys
from thera.kernel.ports import EmbeddingProvider, ObjectStore
from thera.matching import (
    DECISIONS,
    PRIOR_MODEL,
    BadRequest,
    Index,
    MatchRequest,
    Model,
    challenge_vectors,
    model_from_artifact,
    pick_version,
    rank,
    text_hash,
)
from thera.matching.index_store import load_index, read_pointer
from thera.matching.request import ANSWER_ID, DOMAIN
from thera.training import imported

EMBED_THREADS = 8  # the challenge and its leave-one-word-out variants (thera.matching.rank.MAX_VARIANTS)


def embed_all(provider: EmbeddingProvider, texts: list[str]) -> npt.NDArray[np.float32]:
    """The texts' vectors, ``EMBED_THREADS`` provider calls at a time (Titan takes one text per call)."""
    with ThreadPoolExecutor(EMBED_THREADS) as pool:
        return np.array([e.vector for e in pool.map(provider.embed, texts)], dtype=np.float32)


class NotReady(RuntimeError):
    """No index yet, or one built with another embedding model: the API answers 503."""


class MatcherService:
    def __init__(
        self,
        store: ObjectStore,
        provider: EmbeddingProvider,
        *,
        clock: Callable[[], float],
        now: Callable[[], datetime],
        date: Callable[[], str],
        draw: Callable[[], float],
        refresh_seconds: float = 60,
        min_score: float = 0.0,
    ) -> None:
        self._store, self._provider, self._clock, self._now, self._date = store, provider, clock, now, date
        self._draw, self._refresh, self._floor = draw, refresh_seconds, min_score
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._serving: list[tuple[Model, float]] = [(PRIOR_MODEL, 1.0)]
        self._serving_doc: dict[str, Any] = {}
        self._checked = -1e18
        self._domains: tuple[str, frozenset[str]] = ("", frozenset())
        self.loads = 0

    def _fresh(self) -> None:
        with self._lock:
            if self._clock() - self._checked < self._refresh:
                return
            self._checked = self._clock()
            pointer = read_pointer(self._store)
            if pointer and (self._index is None or self._index.version != pointer["version"]):
                self._index = load_index(self._store, pointer)
                self.loads += 1
            self._serving = self._read_serving()

    def _read_serving(self) -> list[tuple[Model, float]]:
        if self._store.metadata(keys.SERVING_POINTER) is None:
            self._serving_doc = {"versions": [{"version": PRIOR_MODEL.version, "weight": 1.0}], "source": "built-in"}
            return [(PRIOR_MODEL, 1.0)]
        doc = json.loads(self._store.get(keys.SERVING_POINTER))
        served: list[tuple[Model, float]] = []
        for entry in doc["versions"]:
            if entry["version"] == PRIOR_MODEL.version:
                served.append((PRIOR_MODEL, float(entry["weight"])))
            else:
                artifact = json.loads(self._store.get(keys.model_artifact(entry["version"])))
                served.append((model_from_artifact(artifact), float(entry["weight"])))
        self._serving_doc = doc
        return served

    def index(self) -> Index:
        self._fresh()
        if self._index is None:
            raise NotReady("no index has been built yet: run the daily flow, then the index builder")
        if self._index.model_id != self._provider.model_id:
            raise NotReady(
                f"the index holds {self._index.model_id} vectors; this matcher embeds with {self._provider.model_id}"
            )
        return self._index

    def known(self, domains: list[str]) -> set[str]:
        """Those of ``domains`` the current index holds: what a saved shortlist may name."""
        index = self.index()
        if self._domains[0] != index.version:
            self._domains = (index.version, frozenset(index.domains))
        return {d for d in domains if d in self._domains[1]}

    def _embed_all(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return embed_all(self._provider, texts)

    def match(self, body: Any, request_id: str) -> dict[str, Any]:
        request = MatchRequest.parse(body)
        index = self.index()
        query, variants = challenge_vectors(index, request.challenge_text, self._embed_all)
        models = {m.version: m for m, _ in self._serving}
        version = pick_version([(m.version, w) for m, w in self._serving], self._draw())
        ranked = rank(index, query, request, models[version], variants)
        matches = [m for m in ranked if m.score >= self._floor]
        below_floor = len(ranked) - len(matches)
        challenge_id = request.challenge_id or text_hash(request.challenge_text)
        shortlist = {
            "request_id": request_id,
            "challenge_id": challenge_id,
            "text_hash": text_hash(request.challenge_text),
            "model_version": version,
            "index_version": index.version,
            "filters": {"industry": request.industry, "country": request.country},
            "at": self._now().isoformat(),
            "matches": [
                {"rank": r + 1, "domain": m.domain, "score": m.score, "features": m.features}
                for r, m in enumerate(matches)
            ],
        }
        self._store.put(keys.shortlist(self._date(), request_id), json.dumps(shortlist).encode())
        return {
            "challenge_id": challenge_id,
            "model_version": version,
            "index_version": index.version,
            "matches": [{"rank": r + 1, **asdict(m), "model_version": version} for r, m in enumerate(matches)],
            "min_score": self._floor,
            "below_floor": below_floor,
        }

    def feedback(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        challenge_id, domain, decision = body.get("challenge_id"), body.get("domain"), body.get("decision")
        if not isinstance(challenge_id, str) or not ANSWER_ID.match(challenge_id):
            raise BadRequest("'challenge_id' must be the id a /match answer gave (letters, digits, _.:-)")
        if not isinstance(domain, str) or not DOMAIN.match(domain):
            raise BadRequest("'domain' must be a domain name from a /match answer")
        if decision not in DECISIONS:
            raise BadRequest(f"'decision' must be one of {', '.join(DECISIONS)}")
        version = body.get("model_version")
        record = {
            "challenge_id": challenge_id,
            "domain": domain,
            "decision": decision,
            "model_version": version if isinstance(version, str) else None,
            "at": self._now().isoformat(),
        }
        key = keys.feedback(self._date(), challenge_id, domain)
        self._store.put(key, json.dumps(record).encode())
        return {"stored": key, **record}

    def feedback_batch(self, body: Any) -> dict[str, Any]:
        """Decisions made before Thera (``thera.training.imported``): the good rows stored, the bad ones refused."""
        return imported.import_batch(self._store, body, self._now(), self._date())

    def health(self) -> dict[str, Any]:
        try:
            index = self.index()
        except NotReady as exc:
            return {"status": "not_ready", "reason": str(exc)}
        return {"status": "ok", "index_version": index.version, "profiles": len(index), "model_id": index.model_id}

    def facets(self) -> dict[str, Any]:
        """The filter values the current index holds, as written, sorted: what the explorer offers."""
        index = self.index()
        return {
            "index_version": index.version,
            "industries": sorted(index.industries.values(), key=str.casefold),
            "countries": sorted(index.countries.values(), key=str.casefold),
        }

    def models(self) -> dict[str, Any]:
        self._fresh()
        return {
            "serving": [{"version": m.version, "weight": w, "kind": m.kind} for m, w in self._serving],
            "pointer": self._serving_doc,
        }
