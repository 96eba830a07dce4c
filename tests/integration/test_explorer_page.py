"""The match explorer in headless Chromium against the real matcher handler, its index built in the emulator.

The page, ``GET /facets``, ``POST /match`` and ``POST /feedback`` are served on 127.0.0.1 by a small HTTP
server that turns each request into an HTTP API event for ``functions/matcher/app.py``, as the local runtime
does; requests other than the page wait on a gate, so the loading states can be seen. One profile carries
markup in its name, description, tags and website; the page must show it as text and create no element.

Artifact: a screenshot of the results is written to ``.artifacts/explorer.png`` at the repository root
(git-ignored), and to the test's tmp dir.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser import Browser, chromium_or_skip
from tests.conftest import FakeContext, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_matcher_handlers import silver_rows
from thera import keys, schemas
from thera.adapters.aws import S3ObjectStore
from thera.adapters.lsa import fit_lsa
from thera.adapters.memory import MemoryEmbeddingIndex, MemoryQueue, MemoryVersionedStore
from thera.embed import EmbedService, SpendLedger
from thera.profiles import build_profiles
from thera.tables import to_parquet
from thera_local.api import http_event
from thera_local.models import corpus_texts
from thera_local.stack import load_companies

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / ".artifacts" / "explorer.png"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CHALLENGE = "We are looking for startups that build software to help small businesses handle payments and invoices"
MARKUP = '<img src=x onerror="window.__pwned=1">'
HOSTILE = {
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
    EmbedService(
        store=store,
        index=MemoryEmbeddingIndex(),
        provider=model,
        ledger=SpendLedger(MemoryVersionedStore(), 10.0, 0.00002, NOW.timestamp),
        wait_queue=MemoryQueue(),
        publish_queue=MemoryQueue(),
        max_tokens=512,
        day="2026-11-22",
        now=lambda: NOW,
    ).embed_part(gold_key)
    handler_env("IndexBuilderFunction")
    built = load_handler_module("index_builder").handler({}, FakeContext("index-builder"))
    assert built["status"] == "built" and built["profiles"] == len(companies)
    from thera import match_wiring

    match_wiring.matcher_service.cache_clear()
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


def _search(page: Browser, industry: str = "", country: str = "", text: str = CHALLENGE) -> str:
    """Fill the form, search, and return the state the page settles in (done, empty or error)."""
    page.type_into("#challenge", text)
    page.evaluate(f"$('industry').value = {industry!r}; $('country').value = {country!r}; $('top').value = '100'; true")
    page.click("#go")
    state = page.wait_for(
        "['done', 'empty', 'error'].includes($('status').dataset.state) && $('status').dataset.state", timeout=20
    )
    return str(state)


def test_explorer_describes_each_startup_as_text_filters_from_the_index_and_shows_its_states(
    matcher: Matcher, lake: list[dict[str, Any]], tmp_path: Path
) -> None:
    by_domain = {c["domain"]: c for c in lake}
    with Browser(chromium_or_skip()) as page:
        # loading: the filters are not offered until the index's values arrive
        matcher.gate.clear()
        page.goto(matcher.url)
        page.wait_for("$('status').dataset.state === 'loading'")
        assert page.evaluate("$('industry').disabled && $('country').disabled") is True
        matcher.gate.set()
        page.wait_for("$('status').dataset.state === 'ready'")
        offered = page.evaluate(
            "[...['industry', 'country']].map(id => [...$(id).options].map(o => o.value).filter(Boolean))"
        )
        assert offered[0] == sorted({i for c in lake for i in c.get("industries") or []}, key=str.casefold)
        assert offered[1] == sorted({c["country"] for c in lake if c.get("country")}, key=str.casefold)

        # a search: loading while the matcher works, then one card per match with the startup's facts
        matcher.gate.clear()
        page.type_into("#challenge", CHALLENGE)
        page.evaluate("$('top').value = '100'; true")
        page.click("#go")
        page.wait_for("$('status').dataset.state === 'loading'")
        assert page.evaluate("$('go').disabled && $('results').getAttribute('aria-busy') === 'true'") is True
        matcher.gate.set()
        page.wait_for("$('status').dataset.state === 'done'", timeout=20)
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
        assert page.evaluate("document.querySelectorAll('#results img, #results script, #results b').length") == 0
        assert page.evaluate("window.__pwned === undefined") is True
        page.evaluate("window.scrollTo(0, 0); true")  # the form, its filters and the first cards
        shot = page.screenshot(tmp_path / "explorer.png")
        ARTIFACT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, ARTIFACT)
        assert shot.read_bytes()[:4] == b"\x89PNG"

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
        assert page.evaluate("document.querySelectorAll('li.match').length") == 0
        assert "No startup matches" in page.text("#status")

        # error: the API's message, as text, even when it quotes markup back
        assert _search(page, text="short") == "error"
        assert "at least" in page.text("#status") and page.evaluate("$('results').children.length") == 0
        page.evaluate(
            f"const o = document.createElement('option'); o.value = o.textContent = {MARKUP!r};"
            " $('industry').append(o); true"
        )
        assert _search(page, industry=MARKUP) == "error"
        assert MARKUP in page.text("#status") and "unknown industry" in page.text("#status")
        assert page.evaluate("$('status').children.length === 0 && window.__pwned === undefined") is True

        unexpected = [e for e in page.errors if "status of 400" not in e]
        assert unexpected == []
    assert matcher.calls.count("GET /facets") == 1
