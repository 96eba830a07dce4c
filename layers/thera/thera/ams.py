"""Average Match Score: how good the day's shortlists were, from their scores and the feedback on them (pure).

Per challenge, every match it was shown that day counts once (its latest shortlist wins):
an accepted match counts 1, a rejected one 0, one without feedback its model score. The
challenge's AMS is the mean over its matches; the day's overall AMS is the mean over
challenges, so a challenge asked a hundred times weighs as much as one asked once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
