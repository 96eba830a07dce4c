"""Domain health: what the checker observed → a 0–100 score and flags (pure, no I/O).

Weights (points when the check passes):

| check     | points | passes when                                                          |
|-----------|-------:|----------------------------------------------------------------------|
| dns       |     15 | the name resolves                                                    |
| http      |     10 | ``http://domain/`` answers below 500 (a redirect to https is fine)   |
| https     |     20 | ``https://domain/`` answers below 500 over a verified TLS connection |
| tls       |     15 | the certificate is trusted, unexpired and names the domain           |
| redirects |     10 | the chain ends within 5 hops, without a loop                         |
| content   |     30 | the final page is 200 (10) with at least 200 characters of text (20) |

Caps: a name that does not resolve scores 0; a parked or placeholder page scores at
most 50, whatever else passed. ``MIN_HEALTH_SCORE`` (70) is the pass mark: a parked
page, a site with a broken certificate or a redirect loop cannot reach it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

WEIGHTS = {"dns": 15, "http": 10, "https": 20, "tls": 15, "redirects": 10, "content": 30}
MIN_TEXT_CHARS = 200
PARKED_CAP = 50
MAX_REDIRECTS = 5
EXPIRY_WARNING_DAYS = 14

_PARKED = re.compile(
    r"domain (?:name )?(?:is |may be )?for sale|buy this domain|this domain is parked|parked (?:free|domain)"
    r"|domain parking|coming soon|under construction|website is for sale|make an offer on this domain"
    r"|this site can.t be reached|default web page|it works!",
    re.IGNORECASE,
)


@dataclass
class Observations:
    """What the checker saw for one domain. None means "not tried"."""

    domain: str
    dns_ok: bool = False
    http_status: int | None = None
    https_status: int | None = None
    tls_error: str | None = None  # expired | self_signed | hostname_mismatch | untrusted | handshake
    tls_days_left: int | None = None
    redirect_hops: int = 0
    redirect_loop: bool = False
    final_url: str | None = None
    final_status: int | None = None
    text_chars: int = 0
    parked: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # check -> "timeout" | "refused" | message


@dataclass(frozen=True)
class HealthResult:
    domain: str
    score: int
    passed: bool
    flags: tuple[str, ...]
    checks: dict[str, bool]


def score(obs: Observations, min_score: int = 70) -> HealthResult:
    flags: list[str] = []
    checks = {name: False for name in WEIGHTS}
    checks["dns"] = obs.dns_ok
    if not obs.dns_ok:
        flags.append("dns_timeout" if obs.errors.get("dns") == "timeout" else "dns_unresolved")
        return HealthResult(obs.domain, 0, False, tuple(flags), checks)

    for scheme, status in (("http", obs.http_status), ("https", obs.https_status)):
        error = obs.errors.get(scheme)
        if status is not None and status < 500:
            checks[scheme] = True
        elif status is not None:
            flags.append(f"{scheme}_status_{status}")
        elif error == "timeout":
            flags.append(f"{scheme}_timeout")
        elif error == "refused":
            flags.append(f"{scheme}_refused")
        elif scheme == "https" and obs.tls_error:
            pass  # named below as a TLS problem
        else:
            flags.append(f"{scheme}_unreachable")

    if obs.tls_error:
        flags.append(f"tls_{obs.tls_error}")
    elif obs.https_status is not None:
        checks["tls"] = True
        if obs.tls_days_left is not None and obs.tls_days_left < EXPIRY_WARNING_DAYS:
            flags.append("tls_expiring_soon")

    if obs.redirect_loop:
        flags.append("redirect_loop")
    elif obs.redirect_hops > MAX_REDIRECTS:
        flags.append("too_many_redirects")
    elif obs.final_status is not None:
        checks["redirects"] = True

    content_points = 0
    if obs.final_status == 200:
        content_points += 10
        if obs.text_chars >= MIN_TEXT_CHARS:
            content_points += 20
        else:
            flags.append("thin_content")
    elif obs.final_status is not None:
        flags.append(f"final_status_{obs.final_status}")
    elif not obs.redirect_loop:
        flags.append("no_page")
    checks["content"] = content_points == WEIGHTS["content"]
    if obs.parked:
        flags.append("parked_page")

    total = sum(WEIGHTS[name] for name in ("dns", "http", "https", "tls", "redirects") if checks[name])
    total += content_points
    if obs.parked:
        total = min(total, PARKED_CAP)
    return HealthResult(obs.domain, total, total >= min_score, tuple(flags), checks)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def looks_parked(text: str) -> bool:
    return _PARKED.search(text) is not None
