"""What a unit of work did: a dataclass whose ``as_dict`` is what its log line and the handler's answer carry."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class AsDict:
    """For a dataclass: its fields as a plain dict (``dataclasses.asdict``), ready for a log line or JSON."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(cast("DataclassInstance", self))


@dataclass
class PartOutcome(AsDict):
    """What a stage did with one gold part: its profiles, those skipped because a newer version of the domain is
    there already (stale), and every domain of the part, so that ``thera logs --filter <domain>`` finds the line."""

    gold_key: str
    profiles: int = 0
    stale: int = 0
    domains: list[str] = field(default_factory=list)
