"""The Apollo client against a scripted local server: 429, 5xx and 401 paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.scripted import Script, run_against
from thera.adapters.apollo import ApolloClient
from thera.kernel.ports import ApolloAuthError, ApolloError, ApolloRateLimited, ApolloUnavailable
from thera.kernel.retry import Backoff

OK_BODY = {
    "organizations": [{"id": "1", "name": "Acme"}],
    "pagination": {"page": 1, "per_page": 1, "total_entries": 1, "total_pages": 1},
}
LIMIT_HEADERS = {
    "x-rate-limit-minute": "50",
    "x-minute-usage": "50",
    "x-minute-requests-left": "0",
    "x-rate-limit-hourly": "200",
    "x-hourly-usage": "60",
    "x-hourly-requests-left": "140",
    "x-rate-limit-24-hour": "600",
    "x-24-hour-usage": "60",
    "x-24-hour-requests-left": "540",
}


def serve(
    script: Script, test: Callable[[ApolloClient, list[Any]], Awaitable[Any]], **client_args: Any
) -> tuple[Any, list[dict[str, Any]], list[float]]:
    """Run ``test`` against a server answering the scripted (status, body, headers) in turn."""
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def run(session: aiohttp.ClientSession, base: str, seen: list[Any]) -> Any:
        client = ApolloClient(
            session, f"{base}/api/v1", "secret-key", sleep=fake_sleep, clock=lambda: 1_000_020.0, **client_args
        )
        return await test(client, seen)

    result, seen = run_against("/api/v1/mixed_companies/search", script, run)
    return result, [{"key": s["headers"].get("x-api-key"), "body": s["body"]} for s in seen], sleeps


async def first_page(client: ApolloClient, seen: list[Any]) -> Any:
    return await client.search_organizations(1, 100, {"organization_locations": ["Brazil"]})


def test_search_sends_key_header_and_paging_and_parses_the_page() -> None:
    page, seen, sleeps = serve([(200, OK_BODY, {})], first_page)
    assert page.organizations == OK_BODY["organizations"]
    assert (page.total_pages, page.total_entries) == (1, 1)
    assert seen == [{"key": "secret-key", "body": {"organization_locations": ["Brazil"], "page": 1, "per_page": 100}}]
    assert sleeps == []


def test_429_with_minute_window_empty_waits_for_the_next_minute_then_succeeds() -> None:
    page, seen, sleeps = serve([(429, {"error": "limit"}, LIMIT_HEADERS), (200, OK_BODY, {})], first_page)
    assert page.organizations
    assert len(seen) == 2
    assert sleeps and sleeps[0] >= 40  # clock is 20 s into the minute: wait ~40 s, not a blind retry


def test_429_with_daily_allowance_gone_stops_instead_of_sleeping() -> None:
    headers = {**LIMIT_HEADERS, "x-24-hour-requests-left": "0"}
    with pytest.raises(ApolloRateLimited) as info:
        serve([(429, {"error": "limit"}, headers)], first_page)
    assert info.value.window == "day"


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    page, seen, sleeps = serve([(502, {}, {}), (503, {}, {}), (200, OK_BODY, {})], first_page)
    assert page.organizations and len(seen) == 3
    assert len(sleeps) == 2 and all(0 <= s <= 60 for s in sleeps)


def test_5xx_that_persists_gives_up_with_a_clear_error() -> None:
    with pytest.raises(ApolloUnavailable, match="failed after 3 attempts: HTTP 500"):
        serve([(500, {"error": "boom"}, {})], first_page, backoff=Backoff(3, base=1.0, cap=60.0))


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_fail_at_once(status: int) -> None:
    with pytest.raises(ApolloAuthError, match=f"HTTP {status}.*API key"):
        serve([(status, {"error": "Invalid access credentials."}, {}), (200, OK_BODY, {})], first_page)


def test_auth_error_message_never_contains_the_key() -> None:
    with pytest.raises(ApolloAuthError) as info:
        serve([(401, {"error": "nope"}, {})], first_page)
    assert "secret-key" not in str(info.value)


def test_before_attempt_runs_once_per_http_attempt() -> None:
    calls: list[int] = []

    async def before() -> None:
        calls.append(1)

    serve([(500, {}, {}), (200, OK_BODY, {})], first_page, before_attempt=before)
    assert len(calls) == 2


def test_malformed_answer_is_an_apollo_error() -> None:
    with pytest.raises(ApolloError, match="lacks 'organizations'"):
        serve([(200, {"unexpected": True}, {})], first_page)


def test_per_page_above_100_is_refused_before_any_call() -> None:
    async def too_big(client: ApolloClient, seen: list[Any]) -> Any:
        return await client.search_organizations(1, 101)

    with pytest.raises(ValueError, match="per_page"):
        serve([(200, OK_BODY, {})], too_big)
