"""template.yaml's Glue tables, named queries and analyst role are the generator's output, and so the catalog's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from thera.lake import catalog, queries
from thera_local import catalog_template
from thera_local.template import load_yaml

TEXT = (ROOT / "template.yaml").read_text()
RESOURCES = load_yaml(ROOT / "template.yaml")["Resources"]


def test_the_template_holds_the_generators_current_block() -> None:
    assert catalog_template.current_block(TEXT) == catalog_template.render(), "run make catalog"
    assert catalog_template.rewritten(TEXT) == TEXT


def test_the_rendered_text_parses_back_to_the_generated_resources() -> None:
    for logical, resource in catalog_template.resources().items():
        assert RESOURCES[logical] == resource, logical


@pytest.mark.parametrize("table", catalog.TABLES, ids=lambda t: t.name)
def test_every_catalog_table_is_a_glue_table_with_its_columns_and_format(table: catalog.Table) -> None:
    res = RESOURCES[catalog_template.table_logical_id(table)]
    assert res["Type"] == "AWS::Glue::Table"
    assert res["Properties"]["DatabaseName"] == {"Ref": catalog_template.DATABASE}
    table_input = res["Properties"]["TableInput"]
    assert table_input["Name"] == table.name
    assert table_input["Description"] == table.description
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    storage = table_input["StorageDescriptor"]
    columns = [(c["Name"], c["Type"]) for c in storage["Columns"]]
    columns += [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]]
    assert columns == [(name, catalog.glue_type(t)) for name, t in table.columns]
    serde = storage["SerdeInfo"]["SerializationLibrary"]
    if table.format == "parquet":
        assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        assert storage["InputFormat"].endswith("MapredParquetInputFormat")
    else:
        assert serde == "org.openx.data.jsonserde.JsonSerDe"
        assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
        assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


@pytest.mark.parametrize("query", queries.QUERIES, ids=lambda q: q.name)
def test_every_named_query_is_an_athena_named_query_in_the_workgroup(query: queries.NamedQuery) -> None:
    res = RESOURCES[catalog_template.query_logical_id(query)]
    assert res["Type"] == "AWS::Athena::NamedQuery"
    p = res["Properties"]
    assert (p["Name"], p["QueryString"]) == (query.name, query.sql)
    assert p["Database"] == {"Ref": "LakeDatabase"} and p["WorkGroup"] == {"Ref": "LakeWorkGroup"}
    assert p["Description"].startswith(query.description)
    assert len(p["Description"]) <= 1024  # Athena's limit
    if query.is_check:
        assert f"fails when it returns rows: {query.failing_means}" in p["Description"]
    else:
        assert "fails when" not in p["Description"]


def test_nothing_generated_is_left_over_from_a_table_or_query_that_is_gone() -> None:
    generated = {k for k in RESOURCES if k.startswith(("LakeTable", "LakeQuery"))}
    assert generated == {catalog_template.table_logical_id(t) for t in catalog.TABLES} | {
        catalog_template.query_logical_id(q) for q in queries.QUERIES
    }


def test_check_fails_on_a_stale_block_and_write_restores_only_the_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "template.yaml"
    block = catalog_template.current_block(TEXT)
    stale.write_text(TEXT.replace(block, block.replace("Name: feedback\n", "Name: feedbacks\n")))
    assert catalog_template.main(["--check", "--template", str(stale)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "make catalog" in line
    assert catalog_template.main(["--write", "--template", str(stale)]) == 0
    assert stale.read_text() == TEXT
    assert catalog_template.main(["--check", "--template", str(stale)]) == 0


def test_a_template_without_the_markers_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "template.yaml"
    bare.write_text(TEXT.replace(catalog_template.END, "  # the end"))
    with pytest.raises(SystemExit, match="marker lines"):
        catalog_template.main(["--check", "--template", str(bare)])
