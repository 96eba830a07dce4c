"""``thera labels import FILE.csv``: decisions made before Thera, posted to the local API's ``POST /feedback/batch``
in batches of at most ``MAX_BATCH_ROWS`` rows (the API refuses a larger one)."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from thera.training.imported import COLUMNS, MAX_BATCH_ROWS
from thera_local.cli.common import UsageError, _config, _err
from thera_local.stack import ensure_stack, http_call

Post = Callable[[dict[str, Any]], tuple[int, Any]]


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row with its number as a spreadsheet shows it (the header is row 1; an empty row is counted and
    skipped, and other columns are left out)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # a spreadsheet's BOM is not part of the header
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            wanted = ", ".join(COLUMNS)
            raise UsageError(f"{path} lacks the column(s) {', '.join(missing)}; its header must name {wanted}")
        at = {c: header.index(c) for c in COLUMNS}
        for number, record in enumerate(reader, start=2):
            if any(cell.strip() for cell in record):
                yield number, {c: record[k] if k < len(record) else "" for c, k in at.items()}


def import_file(path: Path, post: Post, batch_rows: int = MAX_BATCH_ROWS) -> dict[str, Any]:
    """Post the file batch by batch; the API's answers added up (``errors`` carry the file's row numbers)."""
    total: dict[str, Any] = {"rows": 0, "stored": 0, "duplicates": 0, "refused": 0, "errors": [], "keys": []}
    batch: list[tuple[int, dict[str, str]]] = []

    def send() -> None:
        status, answer = post({"rows": [r for _, r in batch], "first_row": batch[0][0]})
        if status != 200:
            detail = answer.get("error") if isinstance(answer, dict) else answer
            rows = f"rows {batch[0][0]}-{batch[-1][0]}"
            raise RuntimeError(f"POST /feedback/batch answered {status} for {rows}: {detail}")
        for name in ("rows", "stored", "duplicates", "refused"):
            total[name] += answer[name]
        total["errors"].extend(answer["errors"])
        total["keys"].extend([answer["key"]] if answer["key"] else [])
        batch.clear()

    for numbered in read_rows(path):
        batch.append(numbered)
        if len(batch) == batch_rows:
            send()
    if batch:
        send()
    if not total["rows"]:
        raise UsageError(f"{path} holds no decisions under its header")
    return total


def cmd_labels(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if not 1 <= args.batch_rows <= MAX_BATCH_ROWS:
        raise UsageError(f"--batch-rows must be from 1 to {MAX_BATCH_ROWS}, got {args.batch_rows}")
    info = ensure_stack(_config(args), echo=_err)
    if not info.api:
        _err("thera: the template declares no HTTP API")
        return 2
    try:
        total = import_file(path, lambda body: http_call("POST", info.api + "/feedback/batch", body), args.batch_rows)
    except RuntimeError as exc:
        _err(f"thera: {exc}")
        return 1
    if args.json:
        print(json.dumps(total, indent=2))
    else:
        print(
            f"{path.name}: {total['rows']} rows · {total['stored']} stored · {total['duplicates']} duplicates "
            f"(imported before) · {total['refused']} refused"
        )
        for error in total["errors"]:
            print(f"  row {error['row']}: {error['reason']}")
        for key in total["keys"]:
            print(f"stored: {key}")
    return 1 if total["refused"] else 0
