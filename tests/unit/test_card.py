"""What a match says about its startup: the one-liner, the link, the facts (thera.profiles.card)."""

from __future__ import annotations

import pytest

from thera.profiles.card import ONE_LINER_CHARS, card, one_liner, website_link


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Payments for shops. We also do invoices.", "Payments for shops."),
        ("Robots for warehouses\n\nMore text.", "Robots for warehouses"),
        ("  Version 2.0 of the best tool! Really.", "Version 2.0 of the best tool!"),
        ("", ""),
    ],
)
def test_the_one_liner_is_the_first_sentence(description: str, expected: str) -> None:
    assert one_liner(description) == expected


def test_a_long_first_sentence_is_cut_at_a_word() -> None:
    text = "word " * 100
    cut = one_liner(text)
    assert len(cut) <= ONE_LINER_CHARS and cut.endswith("word…") and text.startswith(cut[:-1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.com", "https://acme.com/"),
        ("http://www.acme.com/about?utm_source=x#top", "http://www.acme.com/about"),
        ("HTTPS://Shop.ACME.com:8443/", "https://shop.acme.com:8443/"),
        ("javascript:alert(1)", None),
        ("JavaScript://acme.com/%0Aalert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("https://acme.com.evil.io/", None),
        ("https://notacme.com/", None),
        ("https://user:pw@acme.com/", None),
        ("https://acme.com/contact/jane.doe@gmail.com", None),
        ("https://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_a_website_link_is_http_on_the_startups_own_domain(url: str | None, expected: str | None) -> None:
    assert website_link(url, "acme.com") == expected


def test_the_card_of_a_row_from_an_older_index_falls_back_to_the_domain() -> None:
    got = card({"name": "Acme", "industries": ["B2B"], "country": "Chile"}, "acme.com")
    assert got == {
        "one_liner": "",
        "website": "https://acme.com/",
        "tags": [],
        "city": None,
        "founded_year": None,
        "team_size": None,
        "health_score": None,
        "health_flags": [],
    }


def test_the_card_carries_the_profiles_facts() -> None:
    row = {
        "description": "Robots for warehouses. Since 2019.",
        "website_url": "https://www.acme.com/",
        "keywords": ["Robotics"],
        "city": "Santiago",
        "founded_year": 2019,
        "team_size": 40,
        "health_score": 88,
        "health_flags": ["thin_content"],
    }
    got = card(row, "acme.com")
    assert got["one_liner"] == "Robots for warehouses." and got["website"] == "https://www.acme.com/"
    assert (got["tags"], got["founded_year"], got["team_size"]) == (["Robotics"], 2019, 40)
    assert (got["health_score"], got["health_flags"]) == (88, ["thin_content"])
