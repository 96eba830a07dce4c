"""How long a queued message that failed stays hidden: within the base at first, longer each time, capped."""

from __future__ import annotations

import pytest

from thera.kernel.config import ConfigError, RedeliverySettings
from thera.kernel.retry import MAX_VISIBILITY_SECONDS, redelivery_delay

LOWEST, HIGHEST = (lambda: 0.0), (lambda: 0.999_999)


def test_the_first_failure_comes_back_within_the_base_and_not_at_once() -> None:
    assert redelivery_delay(1, base=20, cap=1080, draw=LOWEST) == 15
    assert redelivery_delay(1, base=20, cap=1080, draw=HIGHEST) == 20


def test_each_later_failure_waits_longer_whatever_the_draws_until_the_cap() -> None:
    """The worst case for growth: the highest draw at one receive, the lowest at the next."""
    cap = 1080
    for n in range(1, 12):
        earlier, later = redelivery_delay(n, 20, cap, HIGHEST), redelivery_delay(n + 1, 20, cap, LOWEST)
        assert later > earlier or earlier == later == cap, (n, earlier, later)
    assert [redelivery_delay(n, 20, cap, LOWEST) for n in range(1, 9)] == [15, 30, 60, 120, 240, 480, 960, 1080]
    assert [redelivery_delay(n, 20, cap, HIGHEST) for n in range(1, 9)] == [20, 40, 80, 160, 320, 640, 1080, 1080]


def test_the_cap_is_the_visibility_timeout_and_at_most_what_sqs_accepts() -> None:
    assert redelivery_delay(7, base=20, cap=360, draw=LOWEST) == 360
    assert redelivery_delay(200, base=20, cap=10**9, draw=HIGHEST) == MAX_VISIBILITY_SECONDS


@pytest.mark.parametrize(
    ("count", "base", "cap", "says"), [(0, 20, 60, "starts at 1"), (1, 0, 60, "positive"), (1, 20, 0, "positive")]
)
def test_nonsense_is_refused(count: int, base: float, cap: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        redelivery_delay(count, base, cap)


def test_the_base_comes_from_the_template_variable() -> None:
    assert RedeliverySettings.from_env({}).base_seconds == 20
    assert RedeliverySettings.from_env({"RETRY_BASE_SECONDS": "1"}).base_seconds == 1
    with pytest.raises(ConfigError, match="RETRY_BASE_SECONDS"):
        RedeliverySettings.from_env({"RETRY_BASE_SECONDS": "0"})
