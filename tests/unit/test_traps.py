"""The trap set of bench/match_quality.py holds together: enough traps, each naming its word and labels."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

import pytest

from tests.conftest import ROOT, SAMPLE


@pytest.fixture(scope="module")
def traps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_traps", ROOT / "bench" / "traps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_at_least_forty_distinct_traps(traps: ModuleType) -> None:
    texts = [t.text for t in traps.TRAPS]
    assert len(texts) >= 40
    assert len(set(texts)) == len(texts)


def test_every_text_contains_its_misleading_word(traps: ModuleType) -> None:
    missing = [t.word for t in traps.TRAPS if not t.has_word()]
    assert missing == []


def test_has_word_needs_the_word_at_a_word_start(traps: ModuleType) -> None:
    assert traps.Trap("A coffee roaster named Java", "java").has_word()
    assert traps.Trap("A roaster of coffee beans", "bean").has_word()  # a prefix counts: "bean" in "beans"
    assert not traps.Trap("An unchained melody", "chain").has_word()


def test_every_trap_names_labels(traps: ModuleType) -> None:
    assert [t.word for t in traps.TRAPS if not t.labels()] == []


def test_relevance_is_any_tag_or_industry(traps: ModuleType) -> None:
    companies = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    trap = traps.Trap("A bank wants to train its staff on compliance", "compliance", ("Education",), ("Healthcare",))
    found = traps.relevant(trap, companies)
    expected = {
        i for i, c in enumerate(companies) if "Education" in (c.get("tags") or []) or "Healthcare" in c["industries"]
    }
    assert found == expected
    assert found  # the sample holds both labels, so the check above can fail
