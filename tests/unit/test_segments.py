"""Saved searches sharing the quota: their parsing and the split of the calls."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from thera.kernel.config import ApolloPullSettings, ConfigError
from thera.lake.segments import ALL, Segment, SegmentError, next_segment, parse_segments, segment_of_sweep

TWO = [
    {"name": "fintech-br", "share": 70, "filters": {"organization_locations": ["Brazil"]}},
    {"name": "ai-us", "share": 30, "filters": {"q_organization_keyword_tags": ["ai"]}},
]
PULL_ENV = {
    "DATA_LAKE_BUCKET": "lake",
    "QUOTA_TABLE": "quota",
    "STATE_TABLE": "state",
    "APOLLO_BASE_URL": "http://127.0.0.1:1/api/v1",
    "APOLLO_SECRET_ID": "apollo",
}


def test_unset_or_empty_is_the_one_unfiltered_segment_with_the_whole_quota() -> None:
    assert parse_segments("") == ALL
    assert ApolloPullSettings.from_env(PULL_ENV).segments == ALL
    assert ALL[0].sweep_id("2026-11-22") == "2026-11-22"  # the sweep id, and so the keys, of before segments


def test_a_list_of_segments_reads_back_with_its_filters() -> None:
    segments = ApolloPullSettings.from_env({**PULL_ENV, "APOLLO_SEARCH_SEGMENTS": json.dumps(TWO)}).segments
    assert [(s.name, s.share) for s in segments] == [("fintech-br", 70.0), ("ai-us", 30.0)]
    assert segments[0].filters == {"organization_locations": ["Brazil"]}
    assert segments[1].sweep_id("2026-11-22") == "2026-11-22.ai-us"
    assert segment_of_sweep("2026-11-22.ai-us") == "ai-us" and segment_of_sweep("2026-11-22") == "all"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{**TWO[0], "share": 60}, TWO[1]], "shares must sum to 100, got 90"),
        ([TWO[0], {**TWO[1], "name": "fintech-br"}], "names must be unique; repeated: fintech-br"),
        ([TWO[0], {**TWO[1], "filters": {"industry": ["AI"]}}], "unknown Apollo search filter(s) industry"),
        ([{**TWO[0], "share": 0}, TWO[1]], "share must be a number above 0"),
        ([{**TWO[0], "name": "Fintech BR"}, TWO[1]], "name must be 1-40 of a-z"),
        ([{**TWO[0], "filters": {"page": 3}}, TWO[1]], "unknown Apollo search filter(s) page"),
        ([{**TWO[0], "weight": 1}, TWO[1]], "unknown field(s) weight"),
        ({"name": "x"}, "non-empty JSON list"),
    ],
)
def test_a_bad_segment_list_is_refused_in_one_line_naming_the_variable(items: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ApolloPullSettings.from_env({**PULL_ENV, "APOLLO_SEARCH_SEGMENTS": json.dumps(items)})
    text = str(caught.value)
    assert text.startswith("APOLLO_SEARCH_SEGMENTS: ") and message in text and "\n" not in text


def test_the_old_filters_variable_is_refused_with_its_replacement() -> None:
    with pytest.raises(ConfigError, match="replaced by APOLLO_SEARCH_SEGMENTS"):
        ApolloPullSettings.from_env({**PULL_ENV, "APOLLO_SEARCH_FILTERS": '{"organization_locations": ["Brazil"]}'})


def test_not_json_is_refused() -> None:
    with pytest.raises(SegmentError, match="not JSON"):
        parse_segments("[{name: x}]")


def split(segments: tuple[Segment, ...], calls: int, open_names: set[str] | None = None) -> Counter[str]:
    spent: Counter[str] = Counter()
    names = open_names if open_names is not None else {s.name for s in segments}
    for _ in range(calls):
        chosen = next_segment(segments, spent, names)
        assert chosen is not None
        spent[chosen.name] += 1
    return spent


def test_calls_go_in_the_ratio_of_the_shares_at_every_stop() -> None:
    segments = (Segment("a", 70), Segment("b", 30))
    assert split(segments, 10) == {"a": 7, "b": 3}
    assert split(segments, 600) == {"a": 420, "b": 180}
    for n in range(1, 60):  # wherever the run stops, no segment is more than one call from its share
        got = split(segments, n)
        assert abs(got["a"] - 0.7 * n) < 1 and abs(got["b"] - 0.3 * n) < 1


def test_a_closed_segment_gets_no_calls_and_none_open_means_stop() -> None:
    segments = (Segment("a", 70), Segment("b", 30))
    assert split(segments, 5, {"b"}) == {"b": 5}
    assert next_segment(segments, {}, set()) is None


def test_the_funnel_prints_a_line_per_segment_with_its_calls() -> None:
    from thera_local.summary import Funnel, render

    funnel = Funnel(
        sweeps={
            "fintech-br": {"sweep": "2026-11-22.fintech-br", "next_page": 15, "companies": 140, "total_entries": 900},
            "ai-us": {"sweep": "2026-11-22.ai-us", "complete": True, "companies": 60, "total_entries": 60},
        },
        bronze_by_segment=Counter({"fintech-br": 140, "ai-us": 60}),
        silver_by_segment=Counter({"fintech-br": 131, "ai-us": 58}),
    )
    pull = {
        "api_calls": 20,
        "segments": [{"segment": "fintech-br", "api_calls": 14}, {"segment": "ai-us", "api_calls": 6}],
    }
    lines = render(funnel, pull, None).splitlines()
    fintech = next(line for line in lines if "fintech-br" in line and "sweep" in line)
    assert "next page 15" in fintech and "140 of 900" in fintech and "131 in silver" in fintech
    assert any("ai-us" in line and "(complete;" in line and "58 in silver" in line for line in lines)
    assert any("20 this run (fintech-br 14, ai-us 6)" in line for line in lines)
