"""`thera labels import`: the CSV file's rows as the API gets them, and the batches the file is cut into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thera_local.cli.common import UsageError
from thera_local.cli.labels import import_file, read_rows

ROW = "We need robots for our warehouses,acme.com,accept,2025-03-14,ana"


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    text = f"notes,who,challenge_text,domain,decision,decided_at\nx,ana,{ROW.split(',ana')[0]}\n\n"
    text += '"two\nlines",bo,"We need, with a comma, robots",beta.io,reject,2025-03-15\n'
    path.write_text(text, encoding="utf-8-sig")  # with a BOM, as spreadsheets save
    rows = list(read_rows(path))
    assert [n for n, _ in rows] == [2, 4]  # the empty row 3 is counted and skipped
    assert rows[1][1] == {
        "challenge_text": "We need, with a comma, robots",
        "domain": "beta.io",
        "decision": "reject",
        "decided_at": "2025-03-15",
        "who": "bo",
    }


def test_a_file_without_a_column_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("challenge_text,domain,decision,decided_at\n" + ROW + "\n")
    with pytest.raises(UsageError, match=r"lacks the column\(s\) who; its header must name challenge_text, domain"):
        list(read_rows(path))


def test_a_big_file_goes_in_batches_that_carry_their_first_row(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("challenge_text,domain,decision,decided_at,who\n" + "\n".join([ROW] * 1001) + "\n")
    sent: list[tuple[int, int]] = []

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        sent.append((body["first_row"], len(body["rows"])))
        errors = [{"row": body["first_row"], "reason": "r"}]
        answer = {"rows": len(body["rows"]), "stored": len(body["rows"]) - 1, "duplicates": 0, "refused": 1}
        return 200, {**answer, "errors": errors, "key": f"k{body['first_row']}"}

    total = import_file(path, post)
    assert sent == [(2, 500), (502, 500), (1002, 1)]
    assert (total["rows"], total["stored"], total["refused"]) == (1001, 998, 3)
    assert [e["row"] for e in total["errors"]] == [2, 502, 1002] and total["keys"] == ["k2", "k502", "k1002"]
