"""The local embedding model: fitted once per company file, kept under the local home.

The local runtime embeds with LSA (``thera.adapters.lsa``) instead of Bedrock. The
model is fitted on the texts the gold stage will embed (name, description,
industries, keywords, place), so it knows the corpus's vocabulary; a new company
file gets a new model and hence a new model id, and profiles are embedded again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from thera.adapters.lsa import fit_lsa
from thera.profiles.profiles import embedding_text

DIMENSIONS = 256


def corpus_texts(companies: list[dict[str, Any]]) -> list[str]:
    """Company records of the dataset, written as the gold stage writes a profile's text (without a page)."""
    texts = []
    for c in companies:
        profile = {
            "name": c.get("name") or "",
            "industries": c.get("industries") or [],
            "keywords": c.get("tags") or [],
            "city": c.get("city"),
            "country": c.get("country"),
        }
        texts.append(embedding_text(profile, c.get("long_description") or c.get("one_liner") or "", None, ""))
    return texts


def local_embedding_model(home: Path, companies: list[dict[str, Any]], fingerprint: str) -> Path:
    path = home / "models" / f"lsa-{DIMENSIONS}-{fingerprint[:16]}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.npz")
        fit_lsa(corpus_texts(companies), DIMENSIONS).save(partial)
        partial.replace(path)
    return path
