"""Decisions made before Thera, imported so that the weekly training has labels from its first week.

A batch is rows of ``challenge_text``, ``domain``, ``decision`` (accept or reject), ``decided_at``
(ISO 8601, not in the future) and ``who`` decided. Each row is checked on its own: a bad one is
refused with its row number and the reason, the others are kept. A row already imported (the same
challenge text, by its hash, domain, decision and time) is a duplicate: dropped and counted. The
new rows of a batch are one JSON-lines object under ``labels/imported/``.

Imported decisions have no shortlist, so no logged features: at training time the features are
computed as the matcher would compute them for that challenge and startup now (the current index,
the same embedding provider), whether or not its first stage would have picked that startup for
the text: a rejected startup is often one it would pass over, and that is a label worth having.
A domain the index does not hold is skipped and counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from thera.kernel import keys
from thera.kernel.ports import ObjectStore
from thera.matching import FEATURES, PRIOR_MODEL, BadRequest, Floats, Index, MatchRequest, challenge_vectors, rank
from thera.matching.request import DECISIONS, MAX_TEXT_CHARS, MIN_TEXT_CHARS, text_hash

COLUMNS = ("challenge_text", "domain", "decision", "decided_at", "who")
MAX_BATCH_ROWS = 500  # 500 texts of 5,000 characters: 2.5 MB, under Lambda's 6 MB request
MAX_WHO_CHARS = 200
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class Refused:
    row: int
    reason: str


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_row(row: Any, now: datetime) -> dict[str, str] | str:
    """The row as it is stored (domain in lower case, ``decided_at`` in UTC), or why it is refused."""
    if not isinstance(row, dict):
        return f"a row must be an object with {', '.join(COLUMNS)}"
    text = row.get("challenge_text")
    if not isinstance(text, str) or len(text.strip()) < MIN_TEXT_CHARS:
        return f"'challenge_text' must be a text of at least {MIN_TEXT_CHARS} characters"
    if len(text.strip()) > MAX_TEXT_CHARS:
        return f"'challenge_text' is {len(text.strip())} characters; at most {MAX_TEXT_CHARS} are accepted"
    domain = row.get("domain")
    domain = domain.strip().lower() if isinstance(domain, str) else domain
    if not isinstance(domain, str) or not _DOMAIN.match(domain):
        return f"'domain' must be a domain name such as acme.com, got {_shown(row.get('domain'))}"
    decision = row.get("decision")
    decision = decision.strip().lower() if isinstance(decision, str) else decision
    if decision not in DECISIONS:
        return f"'decision' must be accept or reject, got {_shown(row.get('decision'))}"
    raw = row.get("decided_at")
    try:
        at = datetime.fromisoformat(raw.strip()) if isinstance(raw, str) else None
    except ValueError:
        at = None
    if at is None:
        return f"'decided_at' must be an ISO 8601 time such as 2025-03-14T10:30:00Z, got {_shown(raw)}"
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)  # no offset: UTC
    if at > now:
        return f"'decided_at' {at.isoformat()} is in the future"
    who = row.get("who")
    if not isinstance(who, str) or not who.strip() or len(who.strip()) > MAX_WHO_CHARS:
        return f"'who' must name who decided (1 to {MAX_WHO_CHARS} characters)"
    text = text.strip()
    return {
        "text_hash": text_hash(text),
        "challenge_text": text,
        "domain": domain,
        "decision": str(decision),
        "decided_at": at.isoformat(),
        "who": who.strip(),
    }


def check_batch(body: Any, now: datetime) -> tuple[list[dict[str, str]], list[Refused]]:
    """The good rows and the refused ones of a ``{"rows": [...], "first_row": N}`` body (rows are numbered
    from ``first_row``, 1 by default: the CLI passes the file's row numbers). A malformed body is a BadRequest."""
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows:
        raise BadRequest("the body must be a JSON object with 'rows': a list of decisions")
    if len(rows) > MAX_BATCH_ROWS:
        raise BadRequest(f"a batch holds at most {MAX_BATCH_ROWS} rows, got {len(rows)}: split it")
    first = body.get("first_row", 1)
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise BadRequest(f"'first_row' must be a positive integer, got {_shown(first)}")
    good, refused = [], []
    for number, row in enumerate(rows, start=first):
        checked = check_row(row, now)
        if isinstance(checked, str):
            refused.append(Refused(number, checked))
        else:
            good.append(checked)
    return good, refused


def identity(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """What makes two imported decisions the same one."""
    return record["text_hash"], record["domain"], record["decision"], record["decided_at"]


def stored(store: ObjectStore) -> Iterator[dict[str, Any]]:
    """Every imported decision in the lake, batch by batch."""
    for key in store.list(keys.LABELS_IMPORTED):
        for line in store.get(key).decode().splitlines():
            if line.strip():
                yield json.loads(line)


def import_batch(store: ObjectStore, body: Any, now: datetime, date: str) -> dict[str, Any]:
    """Check a batch, drop what was imported before, store the rest as one object; the counts and the refusals."""
    good, refused = check_batch(body, now)
    seen = {identity(r) for r in stored(store)}
    new = []
    for record in good:
        if identity(record) not in seen:
            seen.add(identity(record))
            new.append({**record, "imported_at": now.isoformat()})
    key = None
    if new:
        lines = [json.dumps(r, sort_keys=True) for r in new]
        key = keys.imported_labels(date, keys.content_part(lines))
        store.put(key, "".join(line + "\n" for line in lines).encode())
    return {
        "rows": len(good) + len(refused),
        "stored": len(new),
        "duplicates": len(good) - len(new),
        "refused": len(refused),
        "errors": [{"row": r.row, "reason": r.reason} for r in refused],
        "key": key,
    }


@dataclass(frozen=True)
class Featurizer:
    """What the matcher computes features with: the current index and the provider that embeds challenges."""

    index: Index
    embed: Callable[[list[str]], Floats]
    model_id: str


@dataclass
class Resolved:
    """Imported decisions with the features the matcher computes for them now, and what was left out."""

    decisions: list[tuple[dict[str, Any], list[float]]] = field(default_factory=list)
    replaced: int = 0  # an older decision on the same challenge and startup
    unknown_domain: int = 0  # the index holds no such startup
    no_index: int = 0  # no index built yet

    def counts(self) -> dict[str, int]:
        accepted = sum(1 for r, _ in self.decisions if r["decision"] == "accept")
        return {
            "labels": len(self.decisions),
            "accepted": accepted,
            "rejected": len(self.decisions) - accepted,
            "replaced": self.replaced,
            "skipped_unknown_domain": self.unknown_domain,
            "skipped_no_index": self.no_index,
        }


def resolve(records: list[dict[str, Any]], featurizer: Callable[[], Featurizer | None]) -> Resolved:
    """The latest decision per (challenge text, startup), with the features ``rank`` gives that startup for
    that text over the current index (``featurizer`` is called only when there is something to resolve)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        pair = (record["text_hash"], record["domain"])
        if pair not in latest or record["decided_at"] > latest[pair]["decided_at"]:
            latest[pair] = record
    out = Resolved(replaced=len(records) - len(latest))
    if not latest:
        return out
    matcher = featurizer()
    if matcher is None:
        out.no_index = len(latest)
        return out
    if matcher.index.model_id != matcher.model_id:
        raise ValueError(
            f"the index holds {matcher.index.model_id} vectors; the training embeds with {matcher.model_id}"
        )
    position = {domain: i for i, domain in enumerate(matcher.index.domains)}
    by_text: dict[str, list[dict[str, Any]]] = {}
    for pair in sorted(latest):
        record = latest[pair]
        if record["domain"] in position:
            by_text.setdefault(record["text_hash"], []).append(record)
        else:
            out.unknown_domain += 1
    for decisions in by_text.values():
        text = decisions[0]["challenge_text"]
        query, variants = challenge_vectors(matcher.index, text, matcher.embed)
        every = MatchRequest(text, top_k=len(matcher.index))  # every candidate, with its features
        named = [position[r["domain"]] for r in decisions]  # scored even where the first stage passes them over
        ranked = rank(matcher.index, query, every, PRIOR_MODEL, variants, include=named)
        features = {m.domain: m.features for m in ranked}
        for record in decisions:
            out.decisions.append((record, [float(features[record["domain"]][f]) for f in FEATURES]))
    return out
