"""Token counts before a provider call: a conservative estimate and truncation (pure).

Titan reports the tokens it counted only in its answer, and the cost budget must be
reserved before the call. The estimate counts every punctuation mark as a token and
every word as one token per started four characters: English text averages about
4.7 characters per Titan token, so the estimate sits above the real count and a
reservation made with it covers the call. The local model reports this same count.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
CHARS_PER_WORD_TOKEN = 4


def _piece_tokens(piece: str) -> int:
    return -(-len(piece) // CHARS_PER_WORD_TOKEN) if piece[0].isalnum() or piece[0] == "_" else 1


def estimate_tokens(text: str) -> int:
    return sum(_piece_tokens(m.group()) for m in _PIECE.finditer(text))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text``, cut between pieces, whose estimate fits ``max_tokens``."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    used = 0
    for match in _PIECE.finditer(text):
        used += _piece_tokens(match.group())
        if used > max_tokens:
            return text[: match.start()].rstrip()
    return text


# Words of two or more letters/digits (underscores split words): "e-commerce" -> "commerce".
_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
# Small on purpose: words that carry no topic in company descriptions. IDF weighs down the rest.
_STOP_WORDS_TEXT = """
    a about above after again all also am an and any are as at be been before being below between both but
    by can could did do does doing down during each few for from further had has have having he her here
    hers him his how if in into is it its itself just me more most my no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours re ve ll don doesn isn aren wasn weren won
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())


def words(text: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """Lowercase words of two or more letters or digits, without stop words: what search and LSA count."""
    return [w for w in _WORD.findall(text.lower()) if w not in stop_words]


_SUFFIXES = ("ings", "ing", "ics", "ers", "er", "ed", "s")


def stem(word: str) -> str:
    """A light stem, so that a challenge's "recruit" meets a profile's "recruiting" and "nurses" meets "nurse"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)]
