"""Ranking startups for a challenge, in four parts: ``request`` (what a match request is),
``index`` (the in-memory index), ``models`` (what scores candidates) and ``rank`` (candidates,
features, scores and reasons). The names below are the package's API.

Beside them, imported by name where needed: ``index_store`` (the index versions the builder
writes and the matcher loads; pyarrow), ``vectors`` (the two-stage search) and ``serving`` (the
matcher's service).
"""

from thera.matching.index import Index, profile_tags, sorted_unique, tag_centroids
from thera.matching.models import (
    FEATURES,
    PRIOR_MODEL,
    Floats,
    ForestModel,
    Model,
    ScoringModel,
    model_from_artifact,
    pick_version,
)
from thera.matching.rank import CANDIDATES, Match, challenge_vectors, leave_one_out, rank
from thera.matching.request import DECISIONS, BadRequest, MatchRequest, text_hash

__all__ = [
    "CANDIDATES",
    "DECISIONS",
    "FEATURES",
    "PRIOR_MODEL",
    "BadRequest",
    "Floats",
    "ForestModel",
    "Index",
    "Match",
    "MatchRequest",
    "Model",
    "ScoringModel",
    "challenge_vectors",
    "leave_one_out",
    "model_from_artifact",
    "pick_version",
    "profile_tags",
    "rank",
    "sorted_unique",
    "tag_centroids",
    "text_hash",
]
