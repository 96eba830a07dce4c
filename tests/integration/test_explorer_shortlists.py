"""The explorer's saved shortlists in headless Chromium, against the matcher handler on the emulator.

Uses the page server and the index of tests/integration/test_explorer_page.py (61 profiles, one of them
hostile): save a search under a name, see it listed, reopen it, accept and reject startups, export the CSV.
A screenshot of the reopened shortlist goes to ``.artifacts/explorer-shortlist.png`` (git-ignored).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.chromium import page_errors
from tests.integration.test_explorer_page import CHALLENGE, HOSTILE, MARKUP, ROOT, Matcher, lake, matcher
from thera_local.api import LOCAL_CALLER_ARN

__all__ = ["lake", "matcher"]  # the fixtures, shared with the explorer's other browser test
ARTIFACT = ROOT / ".artifacts" / "explorer-shortlist.png"  # git-ignored, as explorer.png


def _search(page: Page) -> None:
    page.fill("#challenge", CHALLENGE)
    page.select_option("#country", "")
    page.fill("#top", "100")
    page.click("#go")
    expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=20_000)


def test_save_reopen_decide_and_export_a_shortlist(
    matcher: Matcher, lake: list[dict[str, Any]], handler_env: Any, tmp_path: Path, page: Page
) -> None:
    saved_status, list_status = page.locator("#save-status"), page.locator("#saved-status")

    # loading, then empty: nothing saved yet; no save offered before a search
    matcher.gate.clear()
    page.goto(matcher.url)
    expect(list_status).to_have_attribute("data-state", "loading")
    matcher.gate.set()
    expect(list_status).to_have_attribute("data-state", "empty")
    expect(list_status).to_have_text("Nothing saved yet.")
    expect(page.locator("#save-bar")).to_be_hidden()
    expect(page.locator("#shortlist")).to_be_hidden()

    # a search, then "Save as…" under a name that is markup: shown as text everywhere
    _search(page)
    searched = page.evaluate("current.matches.map(m => m.domain)")
    expect(page.locator("#save-bar")).to_be_visible()
    # the matcher now answers otherwise (a floor no match reaches): the save keeps what the page showed
    model = os.environ["LOCAL_EMBEDDING_MODEL"]
    handler_env("MatcherFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=model, MIN_MATCH_SCORE="1")
    page.click("#save")  # no name: the API's message
    expect(saved_status).to_have_attribute("data-state", "error")
    expect(saved_status).to_contain_text("'name'")
    name = f"Payments {MARKUP}"
    page.fill("#save-name", name)
    page.click("#save")
    expect(saved_status).to_have_attribute("data-state", "done", timeout=20_000)
    expect(list_status).to_have_attribute("data-state", "done")
    expect(page.locator("#saved li button.open")).to_have_text([name])
    expect(page.locator("#shortlist-name")).to_have_text(name)
    expect(page.locator("#shortlist-challenge")).to_have_text(CHALLENGE)
    shortlist_id = page.get_attribute("#shortlist", "data-id")
    assert shortlist_id and page.get_attribute("#saved li", "data-id") == shortlist_id
    shown = page.evaluate("[...document.querySelectorAll('#shortlist-matches li.match')].map(li => li.dataset.domain)")
    assert shown == searched  # the saved list is the one searched, not the matcher's answer of now

    # decisions: accept the first, reject the hostile one; each says who decided
    chosen = next(d for d in searched if d != HOSTILE["domain"])
    first = page.locator(f'#shortlist-matches li.match[data-domain="{chosen}"]')
    evil = page.locator(f'#shortlist-matches li.match[data-domain="{HOSTILE["domain"]}"]')
    first.locator("button.accept").click()
    expect(first).to_have_attribute("data-decision", "accept")
    evil.locator("button.reject").click()
    expect(evil).to_have_attribute("data-decision", "reject")
    expect(first.locator(".verdict")).to_contain_text(f"accepted by {LOCAL_CALLER_ARN}")  # as thera_local.api sends

    # reopen from a fresh page: the list as saved, with the decisions so far
    page.goto(matcher.url)
    expect(list_status).to_have_attribute("data-state", "done")
    page.locator("#saved li button.open").first.click()
    expect(page.locator("#shortlist-status")).to_have_attribute("data-state", "done", timeout=20_000)
    decided = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#shortlist-matches li.match[data-decision]')]"
        ".map(li => [li.dataset.domain, li.dataset.decision]))"
    )
    assert decided == {chosen: "accept", HOSTILE["domain"]: "reject"}
    expect(evil.locator(".verdict")).to_contain_text("rejected by")
    page.locator("#shortlist").scroll_into_view_if_needed()
    shot = page.screenshot(path=tmp_path / "explorer-shortlist.png")
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_bytes(shot)

    # export: a CSV download with every startup in order and its decision
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename.endswith(f"-{shortlist_id[:8]}.csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["domain"] for r in rows] == searched
    by_domain = {r["domain"]: r for r in rows}
    assert by_domain[chosen]["decision"] == "accept" and by_domain[HOSTILE["domain"]]["decision"] == "reject"
    assert by_domain[HOSTILE["domain"]]["name"] == HOSTILE["name"]
    assert by_domain[chosen]["decided_by"] == LOCAL_CALLER_ARN

    # an error: a shortlist that is gone is said so, as text
    page.evaluate("reopen('0123456789abcdef0123456789abcdef')")
    expect(page.locator("#shortlist-status")).to_have_attribute("data-state", "error")
    expect(page.locator("#shortlist-status")).to_contain_text("no saved shortlist")

    assert page.locator("#saved img, #shortlist img, #shortlist script").count() == 0
    assert page.evaluate("window.__pwned === undefined") is True
    assert [e for e in page_errors(page) if "status of 400" not in e and "status of 404" not in e] == []
