"""The Firecrawl client against a scripted server: success, retryable and final errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.scripted import Script, run_against
from thera.adapters.firecrawl import FirecrawlClient
from thera.kernel.ports import FirecrawlRejected, FirecrawlUnavailable

PAGE = {"success": True, "data": {"markdown": "# Acme\n\nRobots.", "metadata": {"title": "Acme", "statusCode": 200}}}


def scrape(script: Script, **kw: Any) -> tuple[Any, list[dict[str, Any]], list[float]]:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def run(session: aiohttp.ClientSession, base: str, seen: list[Any]) -> Any:
        return await FirecrawlClient(session, base, "fc-test", sleep=fake_sleep, **kw).scrape("https://acme.com/")

    result, seen = run_against("/v2/scrape", script, run)
    return result, seen, sleeps


def test_scrape_sends_bearer_key_and_markdown_options() -> None:
    result, seen, _ = scrape([(200, PAGE, {})])
    assert result.markdown.startswith("# Acme") and result.target_status == 200
    assert seen[0]["headers"]["Authorization"] == "Bearer fc-test"
    assert seen[0]["body"] == {
        "url": "https://acme.com/",
        "formats": ["markdown"],
        "onlyMainContent": True,
        "timeout": 30000,
    }


def test_429_waits_for_retry_after_then_succeeds() -> None:
    result, seen, sleeps = scrape(
        [(429, {"success": False, "error": "Rate limit exceeded"}, {"Retry-After": "7"}), (200, PAGE, {})]
    )
    assert result.markdown and len(seen) == 2 and sleeps[0] >= 7


def test_long_retry_after_is_handed_back_not_slept() -> None:
    with pytest.raises(FirecrawlUnavailable) as info:
        scrape([(429, {"success": False, "error": "Concurrency limit reached"}, {"Retry-After": "120"})])
    assert info.value.retry_after == 120


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_reported_unavailable(status: int) -> None:
    with pytest.raises(FirecrawlUnavailable, match=f"after 3 attempts: HTTP {status}"):
        scrape([(status, {"success": False, "error": "boom"}, {})])


@pytest.mark.parametrize(
    ("status", "error"),
    [(402, "Payment Required: Insufficient credits"), (400, "Bad url"), (404, "Not found")],
)
def test_final_errors_are_not_retried_and_keep_their_reason(status: int, error: str) -> None:
    with pytest.raises(FirecrawlRejected) as info:
        scrape([(status, {"success": False, "error": error}, {}), (200, PAGE, {})])
    assert (info.value.status, info.value.reason) == (status, error)


def test_a_transient_error_then_success_uses_one_retry() -> None:
    result, seen, sleeps = scrape([(503, {"success": False, "error": "busy"}, {}), (200, PAGE, {})])
    assert result.markdown and len(seen) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_unavailable_so_the_breaker_holds_the_messages(status: int) -> None:
    with pytest.raises(FirecrawlUnavailable, match="API key"):
        scrape([(status, {"success": False, "error": "Unauthorized"}, {})])
