"""What a match says about its startup beyond the score: the explorer's card (pure).

The card is read from the index's profile row at request time, so the index keeps no
second copy of the description. Every value is plain data; the page sets each one as
text, and a link only from an http(s) URL on the startup's own domain.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from thera.kernel import pii

ONE_LINER_CHARS = 140
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def one_liner(description: str) -> str:
    """The description's first sentence, cut at a word before ``ONE_LINER_CHARS``."""
    text = _SENTENCE_END.split(description.strip(), maxsplit=1)[0].strip()
    if len(text) <= ONE_LINER_CHARS:
        return text
    cut = text[: ONE_LINER_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


def website_link(url: str | None, domain: str) -> str | None:
    """An http(s) URL whose host is the domain or under it, without credentials, query or fragment; else None.

    The source's ``website_url`` is what a person clicks: a ``javascript:`` URL, another site or
    a tracking query never reaches the page.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    domain = domain.lower()
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password:
        return None
    if not (host == domain or host.endswith("." + domain)) or pii.contains_pii(parts.path):
        return None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def card(profile: dict[str, Any], domain: str) -> dict[str, Any]:
    """The ``Match`` fields that describe the startup, from its index row (columns an older index lacks: empty)."""
    return {
        "one_liner": one_liner(profile.get("description") or ""),
        "website": website_link(profile.get("website_url"), domain) or f"https://{domain}/",
        "tags": list(profile.get("keywords") or []),
        "city": profile.get("city"),
        "founded_year": _int(profile.get("founded_year")),
        "team_size": _int(profile.get("team_size")),
        "health_score": _int(profile.get("health_score")),
        "health_flags": list(profile.get("health_flags") or []),
    }
