from __future__ import annotations

import json

import pytest

from thera.enrichment.content import analyze, clean_markdown
from thera.kernel.messages import BadMessage, CrawlRequest, HealthRequest

RICH = (
    "# Acme\n\n"
    + "\n\n".join(
        f"Paragraph {i} about warehouse robotics, fleet software and logistics automation for retailers."
        for i in range(8)
    )
    + "\n\n## Customers\n\n![logo](x.png) See [our customers](https://acme.com/c)."
)


def test_markdown_is_cleaned_to_text() -> None:
    text = clean_markdown(RICH)
    assert "![" not in text and "](" not in text and "our customers" in text and "#" not in text


def test_richness_rewards_substance_and_metadata() -> None:
    rich = analyze(RICH, {"title": "Acme", "description": "Robots", "language": "en"})
    thin = analyze("Coming soon", {})
    assert (rich.word_count, rich.headings, rich.paragraphs) == (93, 2, 8)
    # 9 for words + 10 for headings + 15 for paragraphs + 0 for a repetitive vocabulary + 15 for metadata
    assert rich.richness == 49
    assert thin.richness == 0


def test_health_request_round_trip_and_validation() -> None:
    req = HealthRequest("acme.com", "Acme", "abc", "silver/x.parquet", "run-1")
    assert HealthRequest.parse(json.dumps(req.body())) == req
    with pytest.raises(BadMessage, match="not a domain"):
        HealthRequest.parse(json.dumps({**req.body(), "domain": "not a domain"}))
    with pytest.raises(BadMessage, match="not JSON"):
        HealthRequest.parse("{oops")
    with pytest.raises(BadMessage, match="record_hash"):
        HealthRequest.parse(json.dumps({"domain": "acme.com"}))


def test_crawl_request_url_must_be_the_domain_home_page() -> None:
    req = CrawlRequest("acme.com", "https://acme.com/", 90, "run-1")
    assert CrawlRequest.parse(json.dumps(req.body())) == req
    with pytest.raises(BadMessage, match="home page"):
        CrawlRequest.parse(json.dumps({**req.body(), "url": "https://evil.example/"}))
