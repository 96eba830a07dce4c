"""Saved shortlists: a challenge and its matches kept under a name, the team's decisions on them, a CSV.

A save keeps the matches the person was shown: the client sends the ``/match`` answer it showed
(``shown``: challenge id, model and index versions, the matches with their scores and reasons),
checked here (types, sizes, ranks, the challenge it answers, every startup still in the index)
and kept as sent, never ranked again. A client that sends only the challenge (the API before
``shown``) gets the match run once at save time, and the answer says so (``matches_from``).
Reopening shows what was saved, whatever the index or the serving model became since. Each
decision is kept on the saved shortlist (who, when) and also logged to the lake's ``feedback/``
prefix, as ``POST /feedback`` logs it, so the weekly training and AMS read it unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from thera.kernel import keys
from thera.kernel.ports import ObjectStore, SavedShortlist, ShortlistStore
from thera.matching.request import ANSWER_ID, DECISIONS, DOMAIN, MAX_TOP_K, BadRequest, MatchRequest, text_hash

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
Known = Callable[[list[str]], set[str]]  # those of the domains the matcher's index holds

SHOWN, MATCHED_ON_SAVE = "shown", "matched_on_save"  # where a saved shortlist's matches came from
# what a shown match may hold (a /match answer's match) and the bounds of its values
_TEXTS = {"domain": 253, "name": 300, "one_liner": 1000, "website": 2000, "model_version": 100}
_OPTIONAL_TEXTS = {"country": 100, "city": 100}
_TEXT_LISTS = {"reasons": 500, "industries": 200, "tags": 200, "health_flags": 200}
_OPTIONAL_INTS = ("founded_year", "team_size", "health_score")
_MAX_LIST = 50
SHOWN_FIELDS = {  # a /match answer's match: thera.matching.rank.Match, its rank and model version
    "rank",
    "score",
    "features",
    *_TEXTS,
    *_OPTIONAL_TEXTS,
    *_TEXT_LISTS,
    *_OPTIONAL_INTS,
}


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


def parse_shown(shown: Any, request: MatchRequest) -> dict[str, Any]:
    """The ``/match`` answer a client showed for ``request``, checked field by field: a 400 names
    the first thing wrong. What passes is kept as sent."""
    if not isinstance(shown, dict):
        raise BadRequest("'shown' must be the /match answer shown: an object with its 'matches'")
    for key in ("challenge_id", "model_version", "index_version"):
        value = shown.get(key)
        if not isinstance(value, str) or not ANSWER_ID.match(value):
            raise BadRequest(f"'shown.{key}' must be the one the /match answer gave (letters, digits, _.:-)")
    expected = request.challenge_id or text_hash(request.challenge_text)
    if shown["challenge_id"] != expected:
        raise BadRequest(f"'shown' answers challenge {shown['challenge_id']}, not this one ({expected})")
    matches = shown.get("matches")
    if not isinstance(matches, list) or len(matches) > MAX_TOP_K:
        raise BadRequest(f"'shown.matches' must be a list of at most {MAX_TOP_K} matches")
    seen: set[str] = set()
    for n, match in enumerate(matches):
        where = f"'shown.matches[{n}]'"
        if not isinstance(match, dict):
            raise BadRequest(f"{where} must be an object")
        if unknown := sorted(set(match) - SHOWN_FIELDS):
            raise BadRequest(f"{where} has fields a /match answer has not: {', '.join(unknown)}")
        _check_shown_match(match, where, n + 1)
        if match["domain"] in seen:
            raise BadRequest(f"{where} repeats {match['domain']}")
        seen.add(match["domain"])
    return {k: shown[k] for k in ("challenge_id", "model_version", "index_version")} | {"matches": matches}


def _check_shown_match(match: dict[str, Any], where: str, rank: int) -> None:
    if match.get("rank") != rank or isinstance(match.get("rank"), bool):
        raise BadRequest(f"{where}: 'rank' must be {rank}, the matches in the order shown")
    score = match.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not (math.isfinite(score) and 0 <= score <= 1):
        raise BadRequest(f"{where}: 'score' must be a number from 0 to 1")
    if not isinstance(match.get("domain"), str) or not DOMAIN.match(match["domain"]):
        raise BadRequest(f"{where}: 'domain' must be a domain name from the /match answer")
    for key, most in _TEXTS.items():
        if key in match and (not isinstance(match[key], str) or len(match[key]) > most):
            raise BadRequest(f"{where}: '{key}' must be a text of at most {most} characters")
    for key, most in _OPTIONAL_TEXTS.items():
        if match.get(key) is not None and (not isinstance(match[key], str) or len(match[key]) > most):
            raise BadRequest(f"{where}: '{key}' must be a text of at most {most} characters, or null")
    for key, most in _TEXT_LISTS.items():
        value = match.get(key, [])
        if not isinstance(value, list) or len(value) > _MAX_LIST:
            raise BadRequest(f"{where}: '{key}' must be a list of at most {_MAX_LIST} texts")
        if not all(isinstance(v, str) and len(v) <= most for v in value):
            raise BadRequest(f"{where}: each of '{key}' must be a text of at most {most} characters")
    for key in _OPTIONAL_INTS:
        value = match.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10**6):
            raise BadRequest(f"{where}: '{key}' must be a whole number, or null")
    features = match.get("features", {})
    if (
        not isinstance(features, dict)
        or len(features) > _MAX_LIST
        or not all(
            isinstance(k, str)
            and len(k) <= 100
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            for k, v in features.items()
        )
    ):
        raise BadRequest(f"{where}: 'features' must map feature names to numbers")


class ShortlistService:
    def __init__(
        self,
        store: ShortlistStore,
        log: ObjectStore,
        match: Match,
        known: Known,
        *,
        now: Callable[[], datetime],
        date: Callable[[], str],
        new_id: Callable[[], str],
    ) -> None:
        self._store, self._log, self._match, self._known = store, log, match, known
        self._now, self._date, self._new_id = now, date, new_id

    def save(self, body: Any, caller: str, request_id: str) -> dict[str, Any]:
        """Keep the matches shown for the challenge in ``body`` under ``body['name']``; without
        ``body['shown']``, match the challenge once and keep that answer."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with a 'name' and a 'challenge_text'")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("'name' must be a non-empty text")
        name = " ".join(name.split())
        if len(name) > MAX_NAME_CHARS or _CONTROL.search(name):
            raise BadRequest(f"'name' must be at most {MAX_NAME_CHARS} printable characters")
        request_body = {k: v for k, v in body.items() if k not in ("name", "shown")}
        request = MatchRequest.parse(request_body)
        if "shown" in body:
            answer, source = parse_shown(body["shown"], request), SHOWN
            domains = [m["domain"] for m in answer["matches"]]
            gone = sorted(set(domains) - self._known(domains))
            if gone:
                raise BadRequest(f"not in the matcher's index (any more), so not saved: {', '.join(gone)}")
        else:
            answer, source = self._match(request_body, request_id), MATCHED_ON_SAVE
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
            "matches_from": source,
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
