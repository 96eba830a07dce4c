"""Parquet in and out, and reading a table as a schema. Only for stages that ship pyarrow."""

from __future__ import annotations

import io
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class SchemaMismatch(ValueError):
    """A file whose columns cannot be read as the expected schema."""


def from_parquet(data: bytes) -> pa.Table:
    try:
        # BufferReader reads the bytes in place (BytesIO would copy them). No Arrow thread pool: its
        # threads, once started, can abort Python 3.13 at exit ("terminate called without an active
        # exception"); read_table (the dataset scanner) did so in one run in three, and a CLI that read
        # with ParquetFile's default threads once in CI. Single-threaded, 1M rows decode in 0.09 s.
        return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaMismatch(f"not a readable Parquet file: {exc}") from None


# A column's dictionary may grow to 8 MiB before the writer falls back to plain encoding (pyarrow's
# default is 1 MiB): repeated values across a large table stay dictionary-encoded. On the 1M-row
# silver of bench/transform.py it took the write from 2.2 s to 0.9 s and the file from 185 to 24 MiB.
DICTIONARY_PAGE_BYTES = 8 << 20


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES)
    return sink.getvalue()


def from_rows(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types, or ``SchemaMismatch`` saying why not."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise SchemaMismatch(f"missing column(s): {', '.join(missing)}")
    columns = []
    for f in schema:
        col = table[f.name]
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaMismatch(f"column {f.name}: cannot read {col.type} as {f.type}: {exc}") from None
        if not f.nullable and col.null_count:
            raise SchemaMismatch(f"column {f.name}: {col.null_count} null value(s) in a required column")
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """``table.to_pylist()``, column by column: strings, integers and lists of strings through numpy.

    ``to_pylist`` builds a scalar object per value; at a million profiles that took most of a load.
    """
    if not table.column_names:
        return [{} for _ in range(table.num_rows)]
    columns = {name: column_values(table[name]) for name in table.column_names}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def column_values(values: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``values.to_pylist()``; strings, integers and lists of strings through numpy."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return list(values.to_numpy(zero_copy_only=False).tolist())
    if pa.types.is_integer(kind):
        numbers = values.fill_null(0).to_numpy().tolist()
        if not values.null_count:
            return list(numbers)
        valid = values.is_valid().to_numpy(zero_copy_only=False).tolist()
        return [n if ok else None for n, ok in zip(numbers, valid, strict=True)]
    if pa.types.is_list(kind) and (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
        items = column_values(values.values)  # every list's items, unsliced; the offsets index into them
        offsets = values.offsets.to_numpy().tolist()
        lists = [items[start:end] for start, end in pairwise(offsets)]
        if not values.null_count:
            return lists
        valid = values.is_valid().to_numpy(zero_copy_only=False).tolist()
        return [items if ok else None for items, ok in zip(lists, valid, strict=True)]
    return list(values.to_pylist())
