"""Poison messages: every record-level validator refuses bad input with its own clear error, never a crash.

A message that raises anything but ``BadMessage`` (a KeyError, a TypeError) would still reach the DLQ,
but without a reason; these properties hold for any JSON value, any text and any size.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from thera.kernel.events import s3_objects_from_sqs_body
from thera.kernel.messages import BadMessage, CrawlRequest, GoldPartRequest, HealthRequest, ProfileRequest
from thera.matching import BadRequest, MatchRequest

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
FIELDS = ["domain", "name", "record_hash", "silver_key", "health_key", "content_key", "url", "health_score",
          "deferrals", "correlation_id", "gold_key", "Records", "Event"]  # fmt: skip
SHAPED = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8)
BODIES = st.one_of(
    JSON.map(json.dumps),
    SHAPED.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.integers(1000, 300_000).map(lambda n: json.dumps({"domain": "a" * n})),  # huge bodies
)
PARSERS = [HealthRequest.parse, CrawlRequest.parse, ProfileRequest.parse, GoldPartRequest.parse]


def refusal(parse: Any, body: Any, error: type[Exception]) -> str | None:
    """None when ``parse`` accepts ``body``; the message when it refuses it with ``error`` (anything else raises)."""
    try:
        parse(body)
    except error as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None)
@given(BODIES)
def test_message_parsers_accept_or_refuse_with_a_reason(body: str) -> None:
    for parse in [*PARSERS, s3_objects_from_sqs_body]:
        message = refusal(parse, body, BadMessage)
        assert message is None or message.strip()


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(["challenge_text", "top_k", "industry", "country"]), JSON)))
def test_match_requests_accept_or_refuse_with_a_reason(body: Any) -> None:
    message = refusal(MatchRequest.parse, body, BadRequest)
    if message is None:
        request = MatchRequest.parse(body)
        assert 10 <= len(request.challenge_text) <= 5000 and 1 <= request.top_k <= 100
    else:
        assert message.strip()


@given(st.sampled_from(["../../etc/passwd", "silver/companies/../../x", "raw/apollo/x.json", "s3://b/k"]))
def test_keys_outside_their_prefix_are_refused(key: str) -> None:
    message = refusal(ProfileRequest.parse, json.dumps({"domain": "acme.com", "silver_key": key}), BadMessage)
    assert message is not None and "silver_key" in message
