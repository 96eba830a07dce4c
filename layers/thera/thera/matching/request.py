"""What a match request is: its body parsed and checked, and the hash shortlists and AMS key on."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

MAX_TEXT_CHARS = 5000
MIN_TEXT_CHARS = 10
DEFAULT_TOP_K, MAX_TOP_K = 20, 100


DECISIONS = ("accept", "reject")  # what a person may decide on a shortlisted startup
DOMAIN = re.compile(r"^[a-z0-9.-]{3,253}$")  # a startup's key, as the index and the read models hold it
ANSWER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")  # a challenge id, model or index version of an answer


class BadRequest(ValueError):
    """The request cannot be answered as asked: the API answers 400 with this message."""


@dataclass(frozen=True)
class MatchRequest:
    challenge_text: str
    top_k: int = DEFAULT_TOP_K
    industry: str | None = None
    country: str | None = None
    challenge_id: str = ""

    @classmethod
    def parse(cls, body: Any) -> MatchRequest:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with a 'challenge_text'")
        text = body.get("challenge_text")
        if not isinstance(text, str) or len(text.strip()) < MIN_TEXT_CHARS:
            raise BadRequest(f"'challenge_text' must be a text of at least {MIN_TEXT_CHARS} characters")
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(f"'challenge_text' is {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")
        top_k = body.get("top_k", DEFAULT_TOP_K)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise BadRequest(f"'top_k' must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
        filters = {}
        for name in ("industry", "country", "challenge_id"):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
                raise BadRequest(f"'{name}' must be a non-empty text when given")
            filters[name] = value.strip() if isinstance(value, str) else None
        return cls(text.strip(), top_k, filters["industry"], filters["country"], filters["challenge_id"] or "")


def text_hash(text: str) -> str:
    """Challenges that differ only in case and spacing share a hash (shortlists, AMS)."""
    return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:16]
