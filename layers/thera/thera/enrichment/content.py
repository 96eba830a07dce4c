"""Crawled page content: markdown cleaned to text, and a content-richness score (pure).

Richness (0–100) says how much a page can tell a matcher about a company:
words (up to 40 points: one per 10 words), headings (up to 15: 5 each), substantial
paragraphs of 80+ characters (up to 15: 3 each), vocabulary (up to 15: one per 20
distinct words) and metadata (title, description, language: 5 each).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_MARKS = re.compile(r"(^|\s)[#>*_`~|-]+|[*_`~]+(\s|$)")
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


@dataclass(frozen=True)
class PageContent:
    text: str
    word_count: int
    headings: int
    paragraphs: int
    richness: int


def clean_markdown(markdown: str) -> str:
    text = _IMAGE.sub(" ", markdown)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    lines = [_MARKS.sub(r"\1\2", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def analyze(markdown: str, metadata: dict[str, Any]) -> PageContent:
    text = clean_markdown(markdown)
    words = _WORD.findall(text.lower())
    headings = sum(1 for line in markdown.splitlines() if line.lstrip().startswith("#"))
    paragraphs = sum(1 for block in re.split(r"\n\s*\n", markdown) if len(block.strip()) >= 80)
    points = min(40, len(words) // 10) + min(15, 5 * headings) + min(15, 3 * paragraphs)
    points += min(15, len(set(words)) // 20)
    points += sum(5 for key in ("title", "description", "language") if metadata.get(key))
    return PageContent(text, len(words), headings, paragraphs, min(100, points))
