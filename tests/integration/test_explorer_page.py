"""The match explorer in headless Chromium against the real matcher handler, its index built in the emulator.

The page, ``GET /facets``, ``POST /match`` and ``POST /feedback`` are served on 127.0.0.1 by a small HTTP
server that turns each request into an HTTP API event for ``functions/matcher/app.py``, as the local runtime
does; requests other than the page wait on a gate, so the loading states can be seen. One profile carries
markup in its name, description, tags and website; the page must show it as text and create no element.

Artifact: a screenshot of the results is written to ``.artifacts/explorer.png`` at the repository root
(git-ignored), and to the test's tmp dir. The browser is Playwright driving Debian's chromium (tests/chromium.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.chromium import page_errors
from tests.conftest import FakeContext, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_matcher_handlers import embed_gold, silver_rows
from thera.adapters.aws import S3ObjectStore
from thera.adapters.lsa import fit_lsa
from thera.kernel import keys, schemas
from thera.kernel.tables import to_parquet
from thera.profiles.profiles import build_profiles
from thera_local.api import http_event
from thera_local.models import corpus_texts
from thera_local.standins.apollo import load_companies

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / ".artifacts" / "explorer.png"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CHALLENGE = "We are looking for startups that build software to help small businesses handle payments and invoices"
MARKUP = '<img src=x onerror="window.__pwned=1">'
HOSTILE: dict[str, Any] = {
    "name": f"Evil {MARKUP}Pay",
    "domain": "evil-pay.example",
    "website": "javascript:window.__pwned=2",
    "long_description": f"{MARKUP} Payments and invoices <b>for</b> small businesses. Second sentence.",
    "industries": ["Fintech"],
    "tags": ["<script>window.__pwned=3</script>", "Payments"],
    "city": "Lost City",
    "country": "Neverland",
    "team_size": 7,
    "founded_year": 2020,
}
FLAGGED = {"tls_expiring_soon", "thin_content"}


def _health(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every site checked; every fifth one (and the hostile one) with two flags."""
    rows = []
    for i, c in enumerate(companies):
        flagged = i % 5 == 0 or c is HOSTILE
        rows.append(
            {
                "domain": c["domain"],
                "score": 72 if flagged else 95,
                "passed": True,
                "flags": sorted(FLAGGED) if flagged else [],
                "checked_at": NOW,
            }
        )
    return rows


@pytest.fixture
def lake(aws: Aws, handler_env: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """60 companies of the sample and the hostile one: gold, embeddings and an index, in the emulator."""
    import pyarrow as pa

    sample = [c for c in load_companies(ROOT / "local" / "data" / "companies_sample.jsonl") if c.get("domain")]
    companies = [*list({c["domain"]: c for c in sample}.values())[:60], HOSTILE]
    model = fit_lsa(corpus_texts(companies), 32)
    model.save(tmp_path / "lsa.npz")
    store = S3ObjectStore(aws.client("s3"), aws.bucket)
    gold_key = keys.gold_profiles_part("2026-11-22", "explorer")
    health = pa.Table.from_pylist(_health(companies), schema=schemas.DOMAIN_HEALTH)
    store.put(gold_key, to_parquet(build_profiles(pa.Table.from_pylist(silver_rows(companies)), health, None, NOW)))
    embed_gold(store, model, gold_key)
    handler_env("IndexBuilderFunction")
    built = load_handler_module("index_builder").handler({}, FakeContext("index-builder"))
    assert built["status"] == "built" and built["profiles"] == len(companies)
    from thera.stages import matcher

    matcher.matcher_service.cache_clear()
    matcher.shortlist_service.cache_clear()
    handler_env("MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=str(tmp_path / "lsa.npz"))
    return companies


@dataclass
class Matcher:
    """The handler on loopback: ``url`` is the stage's root; API calls wait while ``gate`` is clear."""

    url: str = ""
    gate: threading.Event = field(default_factory=threading.Event)
    calls: list[str] = field(default_factory=list)


@pytest.fixture
def matcher(lake: list[dict[str, Any]]) -> Iterator[Matcher]:
    handler = load_handler_module("matcher").handler
    served = Matcher()
    served.gate.set()

    class Serve(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self, method: str) -> None:
            path, _, query = self.path.partition("?")
            if not path.startswith("/dev/"):
                self.send_error(404)
                return
            route = path.removeprefix("/dev")
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if route != "/":
                served.calls.append(f"{method} {route}")
                served.gate.wait(30)
            event = http_event(method, route, query, dict(self.headers.items()), body, "dev")
            answer = handler(event, FakeContext("matcher"))
            data = (answer.get("body") or "").encode()
            self.send_response(answer["statusCode"])
            for name, value in (answer.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/dev/"
    try:
        yield served
    finally:
        served.gate.set()
        server.shutdown()
        server.server_close()


def _search(page: Page, industry: str = "", country: str = "", text: str = CHALLENGE) -> str:
    """Fill the form, search, and return the state the page settles in (done, empty or error)."""
    page.fill("#challenge", text)
    page.select_option("#industry", industry)
    page.select_option("#country", country)
    page.fill("#top", "100")
    page.click("#go")
    settled = page.wait_for_function(
        "['done', 'empty', 'error'].includes($('status').dataset.state) && $('status').dataset.state", timeout=20_000
    )
    return str(settled.json_value())


def test_explorer_describes_each_startup_as_text_filters_from_the_index_and_shows_its_states(
    matcher: Matcher, lake: list[dict[str, Any]], tmp_path: Path, page: Page
) -> None:
    by_domain = {c["domain"]: c for c in lake}
    status = page.locator("#status")

    # loading: the filters are not offered until the index's values arrive
    matcher.gate.clear()
    page.goto(matcher.url)
    expect(status).to_have_attribute("data-state", "loading")
    expect(page.locator("#industry")).to_be_disabled()
    expect(page.locator("#country")).to_be_disabled()
    matcher.gate.set()
    expect(status).to_have_attribute("data-state", "ready")
    offered = page.evaluate(
        "[...['industry', 'country']].map(id => [...$(id).options].map(o => o.value).filter(Boolean))"
    )
    assert offered[0] == sorted({i for c in lake for i in c.get("industries") or []}, key=str.casefold)
    assert offered[1] == sorted({c["country"] for c in lake if c.get("country")}, key=str.casefold)

    # a search: loading while the matcher works, then one card per match with the startup's facts
    matcher.gate.clear()
    page.fill("#challenge", CHALLENGE)
    page.fill("#top", "100")
    page.click("#go")
    expect(status).to_have_attribute("data-state", "loading")
    expect(page.locator("#go")).to_be_disabled()
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    matcher.gate.set()
    expect(status).to_have_attribute("data-state", "done", timeout=20_000)
    answer = page.evaluate("current")
    matches = answer["matches"]
    assert len(matches) == len(lake)  # top 100 of 61: every profile
    cards = page.evaluate(
        """[...document.querySelectorAll('li.match')].map(li => {
             const q = (s) => li.querySelector(s), all = (s) => [...li.querySelectorAll(s)].map(e => e.textContent);
             const link = q('a.website');
             return {domain: li.dataset.domain, name: q('.name').textContent,
                     oneLiner: q('.one-liner') && q('.one-liner').textContent,
                     href: link && link.getAttribute('href'), linkText: link && link.textContent,
                     place: q('.country') && q('.country').textContent,
                     founded: q('.founded') && q('.founded').textContent,
                     team: q('.team') && q('.team').textContent,
                     health: q('.health') && q('.health').textContent,
                     tags: all('ul.tags li'), flags: all('ul.flags li'), reasons: all('ul.reasons li')};
           })"""
    )
    assert [c["domain"] for c in cards] == [m["domain"] for m in matches]
    for shown, m in zip(cards, matches, strict=True):
        source = by_domain[m["domain"]]
        assert shown["name"] == source["name"] and shown["reasons"] == m["reasons"]
        assert shown["href"] == m["website"] and shown["href"].startswith(("https://", "http://"))
        assert shown["linkText"] == m["domain"]
        assert shown["tags"] == (source.get("tags") or []) == m["tags"]
        assert shown["place"] == (", ".join(p for p in (source.get("city"), source.get("country")) if p) or None)
        year, size = source.get("founded_year"), source.get("team_size")
        assert shown["founded"] == (f"founded {year}" if year else None)
        assert shown["team"] == (f"team of {size}" if size else None)
        assert shown["health"] == f"site health {m['health_score']}/100"
        assert set(shown["flags"]) == set(m["health_flags"])
        description = (source.get("long_description") or "").strip()
        assert shown["oneLiner"] == (m["one_liner"] or None)
        assert bool(m["one_liner"]) == bool(description)
        assert description.startswith(m["one_liner"].rstrip("…")[:40])  # its first sentence
    assert sum(1 for c in cards if c["flags"]) >= 10  # every fifth profile, and the hostile one, is flagged

    # the hostile profile: every field shown as the text it is; no element made, no script run
    evil = next(c for c in cards if c["domain"] == HOSTILE["domain"])
    assert evil["name"] == HOSTILE["name"]
    assert evil["oneLiner"] == f"{MARKUP} Payments and invoices <b>for</b> small businesses."
    assert evil["tags"] == HOSTILE["tags"]
    assert evil["href"] == "https://evil-pay.example/"  # the javascript: URL never became a link
    assert page.locator("#results img, #results script, #results b").count() == 0
    assert page.evaluate("window.__pwned === undefined") is True
    page.evaluate("window.scrollTo(0, 0)")  # the form, its filters and the first cards
    shot = page.screenshot(path=tmp_path / "explorer.png")
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_bytes(shot)
    assert shot[:4] == b"\x89PNG"

    # the filters narrow the list to what they name
    assert _search(page, industry="Fintech") == "done"
    industries = page.evaluate("current.matches.map(m => m.industries)")
    assert industries and all("Fintech" in i for i in industries)
    assert len(industries) == sum("Fintech" in (c.get("industries") or []) for c in lake)
    assert _search(page, country="Neverland") == "done"
    assert page.evaluate("[...document.querySelectorAll('li.match')].map(li => li.dataset.domain)") == [
        HOSTILE["domain"]
    ]

    # empty: an industry the only company of Neverland is not in
    other = next(i for i in offered[0] if i not in HOSTILE["industries"])
    assert _search(page, industry=other, country="Neverland") == "empty"
    assert page.locator("li.match").count() == 0
    expect(status).to_contain_text("No startup matches")

    # error: the API's message, as text, even when it quotes markup back
    assert _search(page, text="short") == "error"
    expect(status).to_contain_text("at least")
    assert page.evaluate("$('results').children.length") == 0
    page.evaluate(
        "markup => { const o = document.createElement('option'); o.value = o.textContent = markup;"
        " $('industry').append(o); }",
        MARKUP,
    )
    assert _search(page, industry=MARKUP) == "error"
    assert MARKUP in status.inner_text() and "unknown industry" in status.inner_text()
    assert page.evaluate("$('status').children.length === 0 && window.__pwned === undefined") is True

    unexpected = [e for e in page_errors(page) if "status of 400" not in e]
    assert unexpected == []
    assert matcher.calls.count("GET /facets") == 1


def test_explorer_says_how_many_weaker_matches_the_floor_left_out(
    matcher: Matcher, handler_env: Any, page: Page
) -> None:
    import os

    from thera.stages import matcher as stage

    model = os.environ["LOCAL_EMBEDDING_MODEL"]
    stage.matcher_service.cache_clear()
    handler_env("MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=model, MIN_MATCH_SCORE="0.1")
    page.goto(matcher.url)
    expect(page.locator("#status")).to_have_attribute("data-state", "ready")
    assert _search(page) == "done"
    answer = page.evaluate("current")
    left = answer["below_floor"]
    assert answer["matches"] and left > 0 and len(answer["matches"]) + left == 61  # top 100 of 61
    assert all(m["score"] >= 0.1 for m in answer["matches"])
    note = page.locator("#floor")
    expect(note).to_be_visible()
    expect(note).to_have_text(f"{left} weaker matches left out (score under 0.1)")
    assert page.locator("#floor *").count() == 0  # text, not markup

    # no floor: nothing left out, nothing said
    stage.matcher_service.cache_clear()
    handler_env("MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=model, MIN_MATCH_SCORE="0")
    assert _search(page) == "done"
    assert page.evaluate("current.below_floor") == 0
    expect(note).to_be_hidden()
    assert page_errors(page) == []
