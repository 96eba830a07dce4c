"""The browser tests end with `page_errors(page) == []`: that only means something if page errors do land there."""

from __future__ import annotations

from playwright.sync_api import Page, Route

from tests.chromium import page_errors

ORIGIN = "http://explorer.test"


def _serve(route: Route) -> None:
    """The page from memory and any other path a 404: Chromium reaches no server, not even on loopback."""
    if route.request.url == ORIGIN + "/":
        route.fulfill(body="<!doctype html><title>stand-in</title><p id=status></p>", content_type="text/html")
    else:
        route.fulfill(status=404, body="not found")


def test_page_errors_holds_uncaught_errors_console_errors_and_failed_requests(page: Page) -> None:
    page.route(ORIGIN + "/**", _serve)
    page.goto(ORIGIN + "/")
    assert page_errors(page) == []
    with page.expect_event("pageerror"), page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('async boom'); }); Promise.reject(new Error('no catch')); 1")
    with page.expect_console_message(lambda m: "404" in m.text):
        page.evaluate("console.error('bad thing'); fetch('/no-such-api')")
    errors = page_errors(page)
    assert "uncaught: Error: async boom" in errors
    assert "uncaught: Error: no catch" in errors
    assert "console.error: bad thing" in errors
    assert any("status of 404" in e and e.endswith(ORIGIN + "/no-such-api") for e in errors)
