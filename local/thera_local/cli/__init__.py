"""The ``thera`` command line, by concern: ``main`` (the parser), ``flows`` (up, run), ``status``, ``logs``,
``commands`` (match, invoke, env-vars, down, reset) and ``operations`` (redrive, replay, fault)."""

from __future__ import annotations

from thera_local.cli.common import _config
from thera_local.cli.flows import wait_for_drain
from thera_local.cli.main import build_parser, main

__all__ = ["_config", "build_parser", "main", "wait_for_drain"]
