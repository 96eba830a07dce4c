"""Saved Apollo searches ("segments") that share the day's quota: parsing and the split, no I/O.

A segment is a name, a share of the day's API calls (percent; the shares sum to 100) and the
organization-search filters it sends. Each segment walks its own sweep with its own cursor.

The split is a running deficit: the next page goes to the open segment whose calls spent today
are furthest below its share, so the ratio holds whenever the run stops (quota, time), not only
at the end of the day. A segment whose sweep is complete for the day is no longer open: the calls
it leaves go to the others, since the day's quota is the scarce thing and an idle share buys nothing.

The segment named ``all`` keeps the layout of the single search that came before segments: its
cursor is the old cursor and its sweep is named by the date alone, so a stack deployed mid-sweep
resumes where it stopped. Every other segment's sweep is ``<date>.<name>``.

A segment's cursor follows its name, not its filters: to change a search mid-sweep, give it a new
name (a new sweep from page 1); the same name would continue the old page numbers on the new search.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SEGMENT = "all"

# Organization-search filters Apollo documents (FACTS §1); anything else would be ignored by Apollo or
# refused, so a segment naming it is refused here, where the mistake is cheap.
SEARCH_FILTERS = frozenset(
    {
        "q_organization_name",
        "q_organization_domains_list",
        "organization_ids",
        "organization_num_employees_ranges",
        "organization_locations",
        "organization_not_locations",
        "q_organization_keyword_tags",
        "currently_using_any_of_technology_uids",
        "revenue_range",
        "latest_funding_amount_range",
        "total_funding_range",
        "latest_funding_date_range",
        "organization_num_jobs_range",
        "organization_job_posted_at_range",
        "q_organization_job_titles",
    }
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # fits a key's sweep= part and a metric dimension


class SegmentError(ValueError):
    """A segment list that cannot be used; the message is one line and names the problem."""


@dataclass(frozen=True)
class Segment:
    name: str
    share: float
    filters: Mapping[str, Any] = field(default_factory=dict)

    def sweep_id(self, date: str) -> str:
        return date if self.name == DEFAULT_SEGMENT else f"{date}.{self.name}"


ALL = (Segment(DEFAULT_SEGMENT, 100.0),)


def segment_of_sweep(sweep: str) -> str:
    """The segment a sweep id belongs to (a bare date is the ``all`` segment's)."""
    _, dot, name = sweep.partition(".")
    return name if dot else DEFAULT_SEGMENT


def sweep_date(sweep: str) -> str:
    return sweep.partition(".")[0]


def parse_segments(raw: str) -> tuple[Segment, ...]:
    """Segments from their JSON list; empty text is the one ``all`` segment with no filters."""
    if not raw.strip():
        return ALL
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SegmentError(f"not JSON: {exc}") from None
    if not isinstance(items, list) or not items:
        raise SegmentError('must be a non-empty JSON list of {"name", "share", "filters"} objects')
    segments = tuple(_segment(i, item) for i, item in enumerate(items, 1))
    names = [s.name for s in segments]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise SegmentError(f"segment names must be unique; repeated: {', '.join(dupes)}")
    total = sum(s.share for s in segments)
    if abs(total - 100) > 1e-6:
        raise SegmentError(
            f"shares must sum to 100, got {total:g} ({', '.join(f'{s.name} {s.share:g}' for s in segments)})"
        )
    return segments


def _segment(index: int, item: Any) -> Segment:
    if not isinstance(item, dict):
        raise SegmentError(f"segment {index} must be a JSON object")
    if unknown := sorted(set(item) - {"name", "share", "filters"}):
        raise SegmentError(f"segment {index}: unknown field(s) {', '.join(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SegmentError(f"segment {index}: name must be 1-40 of a-z, 0-9, '-' (starting with a letter or digit)")
    share = item.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 100:
        raise SegmentError(f"segment {name}: share must be a number above 0 and at most 100, got {share!r}")
    filters = item.get("filters", {})
    if not isinstance(filters, dict):
        raise SegmentError(f"segment {name}: filters must be a JSON object")
    if bad := sorted(set(filters) - SEARCH_FILTERS):
        raise SegmentError(f"segment {name}: unknown Apollo search filter(s) {', '.join(bad)}")
    if "page" in filters or "per_page" in filters:
        raise SegmentError(f"segment {name}: page and per_page are set by the pull, not by a segment")
    return Segment(name, float(share), dict(filters))


def next_segment(segments: Sequence[Segment], calls_today: Mapping[str, int], open_names: set[str]) -> Segment | None:
    """The open segment furthest below its share of today's calls (ties: the earlier in the list)."""
    candidates = [s for s in segments if s.name in open_names]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (calls_today.get(s.name, 0) + 1) / s.share)
