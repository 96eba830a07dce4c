"""Average Match Score: how good the day's shortlists were, from their scores and the feedback on them (pure).

Per challenge, every match it was shown that day counts once (its latest shortlist wins):
an accepted match counts 1, a rejected one 0, one without feedback its model score. The
challenge's AMS is the mean over its matches; the day's overall AMS is the mean over
challenges, so a challenge asked a hundred times weighs as much as one asked once.
``daily_ams`` reads a day's shortlists and all feedback from the lake and writes the day's table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from thera.kernel import keys, schemas
from thera.kernel.ports import ObjectStore
from thera.kernel.tables import to_parquet


@dataclass(frozen=True)
class AmsRow:
    challenge_id: str
    matches: int
    accepted: int
    rejected: int
    ams: float


def average_match_score(
    shortlists: list[dict[str, Any]], feedback: dict[tuple[str, str], str]
) -> tuple[list[AmsRow], AmsRow | None]:
    shown: dict[str, dict[str, float]] = {}
    for shortlist in sorted(shortlists, key=lambda s: str(s.get("at", ""))):
        shown[shortlist["challenge_id"]] = {m["domain"]: float(m["score"]) for m in shortlist["matches"]}
    rows = []
    for challenge_id, scores in sorted(shown.items()):
        if not scores:
            continue
        values, accepted, rejected = [], 0, 0
        for domain, score in scores.items():
            decision = feedback.get((challenge_id, domain))
            accepted += decision == "accept"
            rejected += decision == "reject"
            values.append(1.0 if decision == "accept" else 0.0 if decision == "reject" else score)
        rows.append(AmsRow(challenge_id, len(values), accepted, rejected, sum(values) / len(values)))
    if not rows:
        return rows, None
    overall = AmsRow(
        "__overall__",
        sum(r.matches for r in rows),
        sum(r.accepted for r in rows),
        sum(r.rejected for r in rows),
        sum(r.ams for r in rows) / len(rows),
    )
    return rows, overall


def ams_day(event: Any, default: str) -> str:
    """The day to score: ``date`` in the event (a re-run), else the schedule's business day."""
    raw = event.get("date") if isinstance(event, dict) else None
    day = str(raw) if raw else default
    if not date.fromisoformat(day).isoformat() == day:
        raise ValueError(f"'date' must be YYYY-MM-DD, got {day!r}")
    return day


def latest_decisions(records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Per (challenge, domain), the decision of the latest feedback record."""
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for record in records:
        pair = (record["challenge_id"], record["domain"])
        if pair not in latest or record["at"] > latest[pair][1]:
            latest[pair] = (record["decision"], record["at"])
    return {pair: decision for pair, (decision, _) in latest.items()}


def daily_ams(store: ObjectStore, day: str) -> tuple[list[AmsRow], AmsRow | None]:
    """The day's AMS from its shortlists and all feedback, written to metrics/ams/ as one Parquet part."""
    shortlists = [json.loads(store.get(k)) for k in store.list(f"{keys.SHORTLISTS}date={day}/")]
    feedback = latest_decisions([json.loads(store.get(k)) for k in store.list(keys.FEEDBACK)])
    rows, overall = average_match_score(shortlists, feedback)
    table = pa.Table.from_pylist(
        [{"date": day, **asdict(r)} for r in [*rows, *([overall] if overall else [])]], schema=schemas.AMS
    )
    store.put(keys.ams_metrics(day), to_parquet(table))
    return rows, overall
