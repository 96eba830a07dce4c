"""The Apollo stand-in's organization search filters the company file the way a segment asks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from thera_local.standins.apollo import ApolloStandIn, organization_from_company

KEY = "standin-key"


def company(
    name: str, country: str, team: int | None, tags: list[str], industries: list[str], year: int
) -> dict[str, Any]:
    return {
        "name": name,
        "domain": f"{name.lower()}.com",
        "country": country,
        "city": "Somewhere",
        "team_size": team,
        "tags": tags,
        "industries": industries,
        "founded_year": year,
    }


COMPANIES = [
    company("Pixpay", "Brazil", 12, ["Fintech", "Payments"], ["Fintech"], 2019),
    company("Cobre", "Brazil", 80, ["B2B"], ["Fintech", "Banking"], 2015),
    company("Neuro", "United States", 8, ["Artificial Intelligence"], ["B2B"], 2023),
    company("Tractor", "United States", 250, ["Hardware"], ["Industrials"], 2012),
    company("Ghost", "Brazil", None, ["Fintech"], ["Fintech"], 2021),
]


@pytest.fixture(scope="module")
def apollo() -> Iterator[ApolloStandIn]:
    server = ApolloStandIn([organization_from_company(c) for c in COMPANIES], KEY)
    server.start()
    yield server
    server.stop()


def search(server: ApolloStandIn, **filters: Any) -> tuple[int, list[str], int]:
    async def go() -> tuple[int, list[str], int]:
        body = {**filters, "page": 1, "per_page": 100}
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.api_base + "/mixed_companies/search", json=body, headers={"x-api-key": KEY}) as resp,
        ):
            payload = await resp.json()
            if resp.status != 200:
                return resp.status, [], 0
            return 200, [o["name"] for o in payload["organizations"]], payload["pagination"]["total_entries"]

    return asyncio.run(go())


def test_no_filter_serves_every_company(apollo: ApolloStandIn) -> None:
    assert search(apollo)[1:] == (["Pixpay", "Cobre", "Neuro", "Tractor", "Ghost"], 5)


def test_locations_and_not_locations_match_the_country_whatever_the_case(apollo: ApolloStandIn) -> None:
    assert search(apollo, organization_locations=["brazil"])[1] == ["Pixpay", "Cobre", "Ghost"]
    assert search(apollo, organization_not_locations=["Brazil"])[1] == ["Neuro", "Tractor"]


def test_keyword_tags_match_tags_or_industries(apollo: ApolloStandIn) -> None:
    assert search(apollo, q_organization_keyword_tags=["fintech"])[1] == ["Pixpay", "Cobre", "Ghost"]
    assert search(apollo, q_organization_keyword_tags=["artificial intelligence", "hardware"])[1] == [
        "Neuro",
        "Tractor",
    ]


def test_employee_ranges_take_min_max_with_open_bounds_and_skip_unknown_team_sizes(apollo: ApolloStandIn) -> None:
    assert search(apollo, organization_num_employees_ranges=["1,10", "51,100"])[1] == ["Cobre", "Neuro"]
    assert search(apollo, organization_num_employees_ranges=["101,"])[1] == ["Tractor"]


def test_filters_combine_as_a_segment_sends_them(apollo: ApolloStandIn) -> None:
    fintech_br = {
        "organization_locations": ["Brazil"],
        "q_organization_keyword_tags": ["Fintech"],
        "organization_num_employees_ranges": ["1,50"],
    }
    assert search(apollo, **fintech_br)[1:] == (["Pixpay"], 1)


def test_founded_year_is_a_stand_in_extra(apollo: ApolloStandIn) -> None:
    assert search(apollo, organization_founded_year_range={"min": 2019, "max": 2021})[1] == ["Pixpay", "Ghost"]


def test_a_malformed_range_is_refused_with_422(apollo: ApolloStandIn) -> None:
    assert search(apollo, organization_num_employees_ranges=["ten,twenty"])[0] == 422
