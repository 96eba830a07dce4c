"""What every command shares: the project and state folders, the stack a command talks to, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from thera_local.stack import (
    Requested,
    StackConfig,
    StackInfo,
    kept_data,
    settle_config,
)
from thera_local.template import FunctionSpec, Template


def project_root() -> Path:
    env = os.environ.get("THERA_PROJECT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").exists() and (folder / "local" / "thera_local").exists():
            return folder
    source = Path(__file__).resolve().parents[3]
    if (source / "template.yaml").exists():
        return source
    raise SystemExit("thera: run me inside the project (no template.yaml found); or set THERA_PROJECT")


def default_home(root: Path) -> Path:
    return Path(os.environ.get("THERA_HOME", root / ".thera")).resolve()


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit status 2."""


def _config(args: argparse.Namespace) -> StackConfig:
    """The stack this command talks to: the options it gives, else the running stack's (its data above all)."""
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    parameters = getattr(args, "parameter", None)
    if parameters and any("=" not in p for p in parameters):
        raise UsageError(f"--parameter takes NAME=VALUE, got {next(p for p in parameters if '=' not in p)!r}")
    requested = Requested(
        data=Path(args.data).resolve() if args.data else None,
        overrides=dict(p.split("=", 1) for p in parameters) if parameters else None,
        apollo_latency=getattr(args, "apollo_latency", None),
        retry_delay=getattr(args, "retry_delay", None),
    )
    info = StackInfo.read(home)
    running = info.identity if info and info.alive() else None
    kept = kept_data(home)
    if requested.data is None and running is None and kept is not None and not kept.exists():
        raise UsageError(f"the state under {home} was built from {kept}, which is gone: pass --data, or `thera reset`")
    return settle_config(
        home,
        Path(args.template).resolve() if getattr(args, "template", None) else root / "template.yaml",
        root / "local" / "data" / "companies_sample.jsonl",
        requested,
        running,
        kept,
        schedules=not getattr(args, "no_schedules", False),
    )


def _function(template: Template, name: str) -> FunctionSpec:
    functions = template.functions()
    for spec in functions.values():
        if name in (spec.logical_id, spec.name):
            return spec
    raise SystemExit(f"thera: no function {name!r}; known: {', '.join(sorted(functions))}")


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _running(args: argparse.Namespace) -> StackInfo | None:
    home = Path(args.home).resolve() if args.home else default_home(project_root())
    info = StackInfo.read(home)
    if not info or not info.alive():
        _err("thera: no local stack running (`thera up` or `thera run daily` starts one)")
        return None
    return info
