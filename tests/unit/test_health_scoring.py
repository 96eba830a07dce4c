"""Scores and flags for every kind of site the checker meets."""

from __future__ import annotations

import pytest

from thera.enrichment.health import Observations, looks_parked, page_text, score


def healthy(**changes: object) -> Observations:
    obs = Observations(
        "acme.com",
        dns_ok=True,
        http_status=301,
        https_status=200,
        tls_days_left=80,
        final_status=200,
        final_url="https://acme.com/",
        text_chars=900,
    )
    for k, v in changes.items():
        setattr(obs, k, v)
    return obs


def test_a_healthy_site_scores_100_and_passes() -> None:
    result = score(healthy())
    assert (result.score, result.passed, result.flags) == (100, True, ())


@pytest.mark.parametrize(
    ("obs", "expected_score", "flags"),
    [
        (Observations("x.com"), 0, ("dns_unresolved",)),
        (
            Observations("x.com", dns_ok=True, errors={"http": "refused", "https": "refused"}),
            15,
            ("http_refused", "https_refused", "no_page"),
        ),
        (
            Observations("x.com", dns_ok=True, errors={"http": "timeout", "https": "timeout"}),
            15,
            ("http_timeout", "https_timeout", "no_page"),
        ),
        (
            healthy(http_status=500, https_status=500, final_status=500),
            40,
            ("http_status_500", "https_status_500", "final_status_500"),
        ),
        (
            healthy(https_status=None, tls_error="self_signed", final_url="http://acme.com/", http_status=200),
            65,
            ("tls_self_signed",),
        ),
        (healthy(https_status=None, tls_error="expired", http_status=200), 65, ("tls_expired",)),
        (healthy(https_status=None, tls_error="hostname_mismatch", http_status=200), 65, ("tls_hostname_mismatch",)),
        (healthy(parked=True), 50, ("parked_page",)),
        (healthy(redirect_loop=True, redirect_hops=2, final_status=None, final_url=None), 60, ("redirect_loop",)),
        (healthy(text_chars=40), 80, ("thin_content",)),
        (healthy(tls_days_left=3), 100, ("tls_expiring_soon",)),
    ],
)
def test_failures_lower_the_score_and_are_named(obs: Observations, expected_score: int, flags: tuple[str, ...]) -> None:
    result = score(obs)
    assert result.score == expected_score
    assert result.flags == flags
    assert result.passed is (expected_score >= 70)


def test_pass_mark_is_configurable() -> None:
    assert score(healthy(text_chars=40), min_score=85).passed is False


def test_page_text_skips_scripts_and_parked_pages_are_recognised() -> None:
    html = "<html><script>var x=1</script><h1>Acme</h1><p>We build &amp; ship</p></html>"
    assert page_text(html) == "Acme We build & ship"
    assert looks_parked("This domain is for sale! Make an offer")
    assert not looks_parked("Acme builds robots for warehouses")
