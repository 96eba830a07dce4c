"""Saved shortlists: a challenge and its matches kept under a name, the team's decisions on them, a CSV.

Saving runs the match again (the same request the page just made) and keeps its answer as it
was: reopening a shortlist shows the matches and reasons of that moment, whatever the index
or the serving model became since. Each decision is kept on the saved shortlist (who, when)
and also logged to the lake's ``feedback/`` prefix, as ``POST /feedback`` logs it, so the
weekly training and AMS read it unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from thera.kernel import keys
from thera.kernel.ports import ObjectStore, SavedShortlist, ShortlistStore
from thera.matching.request import DECISIONS, BadRequest, MatchRequest

MAX_NAME_CHARS = 120
CSV_COLUMNS = (
    "rank",
    "domain",
    "name",
    "score",
    "decision",
    "decided_by",
    "decided_at",
    "website",
    "country",
    "industries",
    "reasons",
)
_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Match = Callable[[Any, str], dict[str, Any]]


class NotFound(LookupError):
    """No saved shortlist has this id: the API answers 404."""


def caller_identity(request_context: Mapping[str, Any] | None) -> str:
    """Who made the request: the IAM caller's ARN, else a JWT's email or subject, else ``unknown``."""
    authorizer = (request_context or {}).get("authorizer") or {}
    arn = (authorizer.get("iam") or {}).get("userArn")
    if isinstance(arn, str) and arn:
        return arn
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    for claim in ("email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def spreadsheet_safe(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class ShortlistService:
    def __init__(
        self,
        store: ShortlistStore,
        log: ObjectStore,
        match: Match,
        *,
        now: Callable[[], datetime],
        date: Callable[[], str],
        new_id: Callable[[], str],
    ) -> None:
        self._store, self._log, self._match = store, log, match
        self._now, self._date, self._new_id = now, date, new_id

    def save(self, body: Any, caller: str, request_id: str) -> dict[str, Any]:
        """Match the challenge in ``body`` and keep the answer under ``body['name']``."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with a 'name' and a 'challenge_text'")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("'name' must be a non-empty text")
        name = " ".join(name.split())
        if len(name) > MAX_NAME_CHARS or _CONTROL.search(name):
            raise BadRequest(f"'name' must be at most {MAX_NAME_CHARS} printable characters")
        request_body = {k: v for k, v in body.items() if k != "name"}
        request = MatchRequest.parse(request_body)
        answer = self._match(request_body, request_id)
        at = self._now().isoformat()
        summary = {
            "name": name,
            "created_at": at,
            "created_by": caller,
            "challenge_id": str(answer["challenge_id"]),
            "challenge": request.challenge_text[:200],
            "size": str(len(answer["matches"])),
        }
        doc = {
            "challenge_text": request.challenge_text,
            "filters": {"industry": request.industry, "country": request.country},
            "challenge_id": answer["challenge_id"],
            "model_version": answer["model_version"],
            "index_version": answer["index_version"],
            "matches": answer["matches"],
        }
        shortlist_id = self._new_id()
        if not self._store.create(shortlist_id, summary, doc):
            raise RuntimeError(f"shortlist id {shortlist_id} was taken: the id source repeats itself")
        return self._view(SavedShortlist(shortlist_id, summary, json.loads(json.dumps(doc)), {}))

    def list_saved(self) -> dict[str, Any]:
        """Every saved shortlist, the newest first."""
        found = sorted(self._store.summaries(), key=lambda s: (s.get("created_at", ""), s["id"]), reverse=True)
        return {"shortlists": found}

    def open(self, shortlist_id: str) -> dict[str, Any]:
        return self._view(self._get(shortlist_id))

    def decide(self, shortlist_id: str, body: Any, caller: str) -> dict[str, Any]:
        saved = self._get(shortlist_id)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with a 'domain' and a 'decision'")
        domain, decision = body.get("domain"), body.get("decision")
        if decision not in DECISIONS:
            raise BadRequest(f"'decision' must be one of {', '.join(DECISIONS)}")
        if not isinstance(domain, str) or domain not in {m["domain"] for m in saved.doc["matches"]}:
            raise BadRequest(f"'domain' must be a startup on this shortlist, got {domain!r}")
        record = {"decision": decision, "decided_by": caller, "decided_at": self._now().isoformat()}
        if not self._store.decide(shortlist_id, domain, record):
            raise NotFound(f"no saved shortlist {shortlist_id}")
        challenge_id = saved.doc["challenge_id"]
        feedback = {
            "challenge_id": challenge_id,
            "domain": domain,
            "decision": decision,
            "model_version": saved.doc.get("model_version"),
            "at": record["decided_at"],
            "shortlist_id": shortlist_id,
            "decided_by": caller,
        }
        key = keys.feedback(self._date(), challenge_id, domain)
        self._log.put(key, json.dumps(feedback).encode())
        return {"id": shortlist_id, "domain": domain, **record, "stored": key}

    def csv(self, shortlist_id: str) -> tuple[str, str]:
        """The shortlist as CSV text and a file name for it."""
        saved = self._get(shortlist_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for match in saved.doc["matches"]:
            decided = saved.decisions.get(match["domain"], {})
            texts = [
                match["domain"],
                str(match.get("name") or ""),
                decided.get("decision", ""),
                decided.get("decided_by", ""),
                decided.get("decided_at", ""),
                str(match.get("website") or ""),
                str(match.get("country") or ""),
                "; ".join(match.get("industries") or []),
                "; ".join(match.get("reasons") or []),
            ]
            safe = [spreadsheet_safe(t) for t in texts]
            writer.writerow([match["rank"], safe[0], safe[1], f"{float(match['score']):.4f}", *safe[2:]])
        slug = re.sub(r"[^a-z0-9]+", "-", saved.summary.get("name", "").lower()).strip("-")[:60] or "shortlist"
        return f"{slug}-{shortlist_id[:8]}.csv", out.getvalue()

    def _get(self, shortlist_id: str) -> SavedShortlist:
        saved = self._store.get(shortlist_id) if _ID.match(shortlist_id) else None
        if saved is None:
            raise NotFound(f"no saved shortlist {shortlist_id}")
        return saved

    @staticmethod
    def _view(saved: SavedShortlist) -> dict[str, Any]:
        return {"id": saved.id, **saved.summary, **saved.doc, "decisions": saved.decisions}
